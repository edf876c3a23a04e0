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

        bytes4[] memory selectors = new bytes4[](30);
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
        selectors[10] = MarketHandler.validate.selector;
        selectors[11] = MarketHandler.settle.selector;
        selectors[12] = MarketHandler.claimTimeout.selector;
        selectors[13] = MarketHandler.abort.selector;
        selectors[14] = MarketHandler.warp.selector;
        selectors[15] = MarketHandler.pokeTerminal.selector;
        selectors[16] = MarketHandler.replayAttestation.selector;
        selectors[17] = MarketHandler.warpToDeadline.selector;
        selectors[18] = MarketHandler.atDeadline.selector;
        selectors[19] = MarketHandler.wrongParty.selector;
        // Listed more than once to weigh them up: more deals per run, and deals that reach the late states.
        selectors[20] = MarketHandler.requestAndAccept.selector;
        selectors[21] = MarketHandler.advance.selector;
        selectors[22] = MarketHandler.advance.selector;
        selectors[23] = MarketHandler.advance.selector;
        selectors[24] = MarketHandler.atDeadline.selector;
        selectors[25] = MarketHandler.wrongParty.selector;
        selectors[26] = MarketHandler.validate.selector;
        selectors[27] = MarketHandler.validate.selector;
        selectors[28] = MarketHandler.collateralMissing.selector;
        selectors[29] = MarketHandler.atDeadline.selector;
        targetContract(address(handler));
        targetSelector(StdInvariant.FuzzSelector({ addr: address(handler), selectors: selectors }));
    }

    /// @dev The time and caller rules: none of the moves the handler tried at the wrong time or from the
    /// wrong account went through.
    function _assertTimeAndCallerRules() internal view {
        assertFalse(handler.earlyTimeout(), "claimTimeout accepted at or before the deadline");
        assertFalse(handler.earlySettle(), "settle accepted within the validation window");
        assertFalse(handler.lateAttestation(), "an attestation accepted after the deadline");
        assertFalse(handler.lateFunding(), "fund accepted after the deadline");
        assertFalse(handler.wrongPartyMoved(), "a move accepted from the wrong party");
        assertFalse(handler.clientRejectedForValidator(), "the client rejected in the validator scheme");
    }
}
