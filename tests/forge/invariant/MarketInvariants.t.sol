// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { MarketFuzzBase } from "./MarketFuzzBase.sol";
import { MarketHandler } from "./MarketHandler.sol";
import { Deal, Status, Verdict } from "../../../contracts/Types.sol";

/// @notice The escrow's and the state machine's safety properties under random sequences of actions: money
/// (a-e), and the rules of time, of who may move a deal and of where each move leads (f, g).
contract MarketInvariants is MarketFuzzBase {
    /// @dev (a) The escrow holds exactly what it owes: unlocked balances plus what the open deals hold by the
    /// handler's model (the sides locked so far, the validator's fee and stake, a disputant's bond), and each open
    /// deal's model agrees with what its status holds by the rules.
    /// forge-config: default.invariant.runs = 128
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_escrowHoldsExactlyWhatItOwes() public view {
        uint256 owed = market.totalOwed(address(token));
        assertEq(token.balanceOf(address(market)), owed, "balance != totalOwed");

        uint256 sum;
        address[] memory holders = handler.holders();
        for (uint256 i; i < holders.length; ++i) {
            sum += market.available(address(token), holders[i]);
        }
        uint256 n = handler.dealCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = handler.dealIdAt(i);
            MarketHandler.Ghost memory g = handler.ghost(id);
            assertEq(g.locked, _heldByStatus(g, market.getDeal(id).status), "deal holds other than its status says");
            sum += g.locked;
        }
        assertEq(owed, sum, "totalOwed != available + locked");
    }

    /// @dev What a deal in status `s` holds: AwaitingCollateral the client's side (price and fee), AwaitingPayment
    /// the collateral, later open states both; a validator deal the validator's stake; a deal before the court the
    /// bond of whoever took it there. A closed deal holds nothing.
    function _heldByStatus(MarketHandler.Ghost memory g, Status s) private pure returns (uint256 held) {
        uint256 clientSide = uint256(g.price) + g.fee;
        if (s == Status.AwaitingCollateral) held = clientSide;
        else if (s == Status.AwaitingPayment) held = g.collateral;
        else if (s >= Status.Agreed && s <= Status.Completed || s == Status.Judged || s == Status.Disputed) {
            held = clientSide + g.collateral;
        } else {
            return 0;
        }
        if (g.validatorScheme) held += g.bond;
        if (s == Status.Disputed && g.disputant != address(0)) held += g.bond;
    }

    /// @dev (b) Terminal states are absorbing.
    /// forge-config: default.invariant.runs = 128
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_terminalStatesAreAbsorbing() public view {
        assertFalse(handler.terminalMoved(), "a call moved a terminal deal");
        uint256 n = handler.dealCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = handler.dealIdAt(i);
            MarketHandler.Ghost memory g = handler.ghost(id);
            if (g.terminalSeen) {
                assertEq(uint8(market.getDeal(id).status), uint8(g.terminal), "terminal status changed");
            }
        }
    }

    /// @dev (c) No deal closes twice; a close released everything the deal held, every fee and bond included, and
    /// paid each party and the court exactly what the rules give; an open deal has paid nobody.
    /// forge-config: default.invariant.runs = 128
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_everyDealClosesOnceAndReleasesEverything() public view {
        _assertPayoutRules();
        uint256 n = handler.dealCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = handler.dealIdAt(i);
            MarketHandler.Ghost memory g = handler.ghost(id);
            Status s = market.getDeal(id).status;
            bool terminal = s == Status.Cancelled || s == Status.Settled || s == Status.Slashed
                || s == Status.Unfunded || s == Status.Unwound;
            assertEq(g.closes, terminal ? 1 : 0, "Closed count");
            MarketHandler.Payout memory paid = g.paid;
            uint256 total = paid.client + paid.provider + paid.validator + paid.court;
            if (!terminal) {
                assertEq(total, 0, "open deal paid out");
                continue;
            }
            assertEq(g.locked, 0, "closed deal still holds funds");
            assertEq(total, g.released, "close released other than the deal held");
            assertEq(paid.client, g.expected.client, "client payout");
            assertEq(paid.provider, g.expected.provider, "provider payout");
            assertEq(paid.validator, g.expected.validator, "validator payout");
            assertEq(paid.court, g.expected.court, "court payout");
        }
    }

    /// @dev The accepted terms bind the deal for its whole life; the verdict, once given, stands.
    /// forge-config: default.invariant.runs = 128
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_dealTermsNeverChange() public view {
        uint256 n = handler.dealCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = handler.dealIdAt(i);
            MarketHandler.Ghost memory g = handler.ghost(id);
            if (g.provider == address(0)) continue; // cancelled before any agreement
            Deal memory d = market.getDeal(id);
            assertEq(d.client, g.client);
            assertEq(d.provider, g.provider);
            assertEq(d.price, g.price);
            assertEq(d.collateral, g.collateral);
            assertEq(d.token, address(token));
            assertEq(d.validator, g.validatorScheme ? validator : address(0));
            assertEq(d.validatorFee, g.fee);
            // An optimistic deal records the bond once disputed.
            assertEq(d.bond, g.validatorScheme || g.disputant != address(0) ? g.bond : 0);
            assertEq(uint8(d.verdict), uint8(g.verdict));
            if (d.verdict != Verdict.None) assertTrue(g.validatorScheme, "a verdict on an optimistic deal");
        }
    }

    /// @dev (f) No move went through at the wrong time, from the wrong party or in the wrong state: time-outs,
    /// settlement and escalation only after the deadline, the parties' and the court's moves only up to it (and
    /// always then), each move only from the account allowed to make it, and each leading where the rules say.
    /// forge-config: default.invariant.runs = 128
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_timeAndCallerRules() public view {
        _assertTimeAndCallerRules();
    }

    /// @dev (g) Every open deal's deadline is the one the rules give, from the handler's own clock: the
    /// commencement window from acceptance or from funding, then the job duration, the validation window, the
    /// appeal window after a verdict, and the court's window once disputed, appealed or escalated.
    /// forge-config: default.invariant.runs = 128
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_deadlinesFollowTheRules() public view {
        uint256 n = handler.dealCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = handler.dealIdAt(i);
            Deal memory d = market.getDeal(id);
            bool open = d.status >= Status.AwaitingCollateral && d.status <= Status.Completed
                || d.status == Status.Judged || d.status == Status.Disputed;
            if (!open) continue;
            assertEq(d.deadline, handler.ghost(id).deadline, "deadline differs from the rules");
        }
    }

    /// @dev (e) Every locked amount can be released after its deadline by a stranger, and then everyone can
    /// withdraw everything: the escrow ends empty. A silent validator's deal needs two steps (escalate, then
    /// the court's timeout).
    function afterInvariant() public {
        address outsider = makeAddr("outsider"); // neither a party nor a holder
        uint256 n = handler.dealCount();
        uint256 time = handler.currentTime();
        for (uint256 pass; pass < 2; ++pass) {
            time += 30 days; // beyond every deadline the handler can set
            vm.warp(time);
            for (uint256 i; i < n; ++i) {
                bytes32 id = handler.dealIdAt(i);
                Deal memory d = market.getDeal(id);
                Status s = d.status;
                vm.startPrank(outsider);
                if (s == Status.AwaitingCollateral || s == Status.AwaitingPayment) market.collateralMissing(id);
                else if (s == Status.Agreed || s == Status.Commenced || s == Status.Disputed) market.claimTimeout(id);
                else if (s == Status.Judged) market.settle(id);
                else if (s == Status.Completed && d.validator != address(0)) market.escalate(id);
                else if (s == Status.Completed) market.settle(id);
                vm.stopPrank();
            }
        }
        for (uint256 i; i < n; ++i) {
            Status s = market.getDeal(handler.dealIdAt(i)).status;
            assertTrue(
                s == Status.Cancelled || s == Status.Settled || s == Status.Slashed || s == Status.Unfunded
                    || s == Status.Unwound,
                "deal left open"
            );
        }

        address[] memory holders = handler.holders();
        uint256 sum;
        for (uint256 i; i < holders.length; ++i) {
            sum += market.available(address(token), holders[i]);
        }
        assertEq(market.totalOwed(address(token)), sum, "locked funds remain after all deadlines");
        for (uint256 i; i < holders.length; ++i) {
            uint256 amount = market.available(address(token), holders[i]);
            if (amount == 0) continue;
            vm.prank(holders[i]);
            market.withdraw(address(token), amount);
        }
        assertEq(market.totalOwed(address(token)), 0);
        assertEq(token.balanceOf(address(market)), 0);
    }
}
