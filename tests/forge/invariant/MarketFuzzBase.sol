// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { StdInvariant } from "forge-std/StdInvariant.sol";

import { MarketTestBase } from "../Base.t.sol";
import { MarketHandler } from "./MarketHandler.sol";

/// @notice The market, its handler and the weighted list of actions forge draws from, shared by the
/// invariant suite and the path-coverage run.
abstract contract MarketFuzzBase is MarketTestBase {
    MarketHandler internal handler;

    function setUp() public virtual override {
        super.setUp();
        uint256[] memory keys = new uint256[](3);
        (keys[0], keys[1], keys[2]) = (clientKey, providerKey, strangerKey);
        handler = new MarketHandler(market, eas, token, keys, validator, makeAddr("keeper"));

        bytes4[] memory selectors = new bytes4[](43);
        selectors[0] = MarketHandler.deposit.selector;
        selectors[1] = MarketHandler.withdraw.selector;
        selectors[2] = MarketHandler.request.selector;
        selectors[3] = MarketHandler.requestAndAccept.selector;
        selectors[4] = MarketHandler.acceptPending.selector;
        selectors[5] = MarketHandler.cancelRequest.selector;
        selectors[6] = MarketHandler.fund.selector;
        selectors[7] = MarketHandler.collateralMissing.selector;
        selectors[8] = MarketHandler.commence.selector;
        selectors[9] = MarketHandler.complete.selector;
        selectors[10] = MarketHandler.approve.selector;
        selectors[11] = MarketHandler.verdict.selector;
        selectors[12] = MarketHandler.dispute.selector;
        selectors[13] = MarketHandler.appeal.selector;
        selectors[14] = MarketHandler.escalate.selector;
        selectors[15] = MarketHandler.rule.selector;
        selectors[16] = MarketHandler.settle.selector;
        selectors[17] = MarketHandler.claimTimeout.selector;
        selectors[18] = MarketHandler.abort.selector;
        selectors[19] = MarketHandler.warp.selector;
        selectors[20] = MarketHandler.warpToDeadline.selector;
        selectors[21] = MarketHandler.atDeadline.selector;
        selectors[22] = MarketHandler.wrongParty.selector;
        selectors[23] = MarketHandler.pokeTerminal.selector;
        selectors[24] = MarketHandler.replayAttestation.selector;
        selectors[25] = MarketHandler.advance.selector;
        selectors[26] = MarketHandler.drive.selector;
        // Listed more than once to weigh them up: deals that reach the late states, and the moves on them.
        selectors[27] = MarketHandler.drive.selector;
        selectors[28] = MarketHandler.drive.selector;
        selectors[29] = MarketHandler.advance.selector;
        selectors[30] = MarketHandler.advance.selector;
        selectors[31] = MarketHandler.advance.selector;
        selectors[32] = MarketHandler.advance.selector;
        selectors[33] = MarketHandler.atDeadline.selector;
        selectors[34] = MarketHandler.atDeadline.selector;
        selectors[35] = MarketHandler.wrongParty.selector;
        selectors[36] = MarketHandler.wrongParty.selector;
        selectors[37] = MarketHandler.verdict.selector;
        selectors[38] = MarketHandler.dispute.selector;
        selectors[39] = MarketHandler.appeal.selector;
        selectors[40] = MarketHandler.rule.selector;
        selectors[41] = MarketHandler.drive.selector;
        selectors[42] = MarketHandler.wrongParty.selector;
        targetContract(address(handler));
        targetSelector(StdInvariant.FuzzSelector({ addr: address(handler), selectors: selectors }));
    }

    /// @dev The rules of time, caller and state: none of the moves the handler tried at the wrong time, from the
    /// wrong account or in the wrong state went through, every move that went through led where the rules say,
    /// and every move the right party made in time went through.
    function _assertTimeAndCallerRules() internal view {
        assertFalse(handler.earlyTimeout(), "claimTimeout accepted at or before the deadline");
        assertFalse(handler.earlySettle(), "settle accepted within the validation or appeal window");
        assertFalse(handler.earlyEscalate(), "escalate accepted within the validation window");
        assertFalse(handler.lateAttestation(), "an attestation accepted after the deadline");
        assertFalse(handler.lateRuling(), "a court ruling accepted after its deadline");
        assertFalse(handler.lateChallenge(), "a dispute or appeal accepted after its window");
        assertFalse(handler.lateFunding(), "fund accepted after the deadline");
        assertFalse(handler.wrongPartyMoved(), "a move accepted from the wrong party");
        assertFalse(handler.wrongAppellant(), "an appeal accepted from a party the verdict did not go against");
        assertFalse(handler.clientRejected(), "a client's rejection accepted without a dispute");
        assertFalse(handler.settledWithoutVerdict(), "a validator deal settled without a verdict");
        assertFalse(handler.wrongScheme(), "a dispute or escalation accepted in the wrong scheme");
        assertFalse(handler.courtOutOfTurn(), "the court ruled on a deal nobody brought to it");
        assertFalse(handler.unstakedValidator(), "a validator deal agreed without the validator's stake");
        assertFalse(handler.wrongOutcome(), "a move led to another status than the rules give");
        assertFalse(handler.refusedInTime(), "the right party's move refused in time");
        assertFalse(handler.replayAccepted(), "a replayed or mis-referenced attestation was accepted");
        assertFalse(handler.terminalMoved(), "a call moved a terminal deal");
    }

    /// @dev The money rules: every close credited exactly the rules' payout to the parties and the court, and no
    /// other move credited anyone.
    function _assertPayoutRules() internal view {
        assertFalse(handler.wrongPayout(), "a close paid other amounts than the rules give");
        assertFalse(handler.strayCredit(), "funds credited to a non-party");
        assertFalse(handler.unexpectedCredit(), "a move that keeps the deal open credited an account");
        assertFalse(handler.unexpectedDebit(), "a close debited an account");
    }
}
