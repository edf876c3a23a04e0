// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { MarketFuzzBase } from "./MarketFuzzBase.sol";
import { MarketHandler } from "./MarketHandler.sol";
import { Deal, Status } from "../../../contracts/Types.sol";

/// @notice The escrow's and the state machine's safety properties under random sequences of actions: money
/// (a-e), and the rules of time and of who may move a deal (f, g).
contract MarketInvariants is MarketFuzzBase {
    /// @dev (a) The escrow holds exactly what it owes: unlocked balances plus the funds of open deals, where
    /// AwaitingCollateral locks the price, AwaitingPayment the collateral, and later open states both.
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
            Status s = market.getDeal(id).status;
            if (s == Status.AwaitingCollateral) {
                sum += g.price;
            } else if (s == Status.AwaitingPayment) {
                sum += g.collateral;
            } else if (s == Status.Agreed || s == Status.Commenced || s == Status.Completed) {
                sum += uint256(g.price) + g.collateral;
            }
        }
        assertEq(owed, sum, "totalOwed != available + locked");
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

    /// @dev (c) No deal closes twice, and a closed deal credited exactly its locked funds to the right party.
    /// forge-config: default.invariant.runs = 128
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_everyDealClosesOnceAndPaysOnce() public view {
        assertFalse(handler.strayCredit(), "funds credited to a non-party");
        assertFalse(handler.unexpectedDebit(), "a close debited an account");
        assertFalse(handler.replayAccepted(), "a replayed attestation was accepted");
        uint256 n = handler.dealCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = handler.dealIdAt(i);
            MarketHandler.Ghost memory g = handler.ghost(id);
            Status s = market.getDeal(id).status;
            uint256 total = uint256(g.price) + g.collateral;
            bool terminal = s == Status.Cancelled || s == Status.Settled || s == Status.Slashed || s == Status.Unfunded;
            assertEq(g.closes, terminal ? 1 : 0, "Closed count");
            if (s == Status.Settled) {
                assertEq(g.providerCredit, total, "settled: provider credit");
                assertEq(g.clientCredit, 0, "settled: client credit");
            } else if (s == Status.Slashed) {
                assertEq(g.clientCredit, total, "slashed: client credit");
                assertEq(g.providerCredit, 0, "slashed: provider credit");
            } else if (s == Status.Unfunded) {
                bool paymentWasLocked = g.closedFrom == Status.AwaitingCollateral;
                assertEq(g.clientCredit, paymentWasLocked ? g.price : 0, "unfunded: client credit");
                assertEq(g.providerCredit, paymentWasLocked ? 0 : g.collateral, "unfunded: provider credit");
            } else {
                assertEq(g.clientCredit + g.providerCredit, 0, "open or cancelled deal credited");
            }
        }
    }

    /// @dev (d) A slash never pays the client more than the deal's price plus collateral.
    /// forge-config: default.invariant.runs = 128
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_slashNeverOverpaysClient() public view {
        assertFalse(handler.clientOverpaid(), "client credited more than price + collateral");
    }

    /// @dev The accepted terms bind the deal for its whole life.
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
        }
    }

    /// @dev (f) No move went through at the wrong time or from the wrong party: time-outs and settlement
    /// only after the deadline, the parties' moves only up to it, each move only from the account allowed to
    /// make it, and in the validator scheme only the validator rejects.
    /// forge-config: default.invariant.runs = 128
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_timeAndCallerRules() public view {
        _assertTimeAndCallerRules();
    }

    /// @dev (g) Every open deal's deadline is the one the rules give, from the handler's own clock: the
    /// commencement window from acceptance or from funding, then the job duration, then the validation window.
    /// forge-config: default.invariant.runs = 128
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_deadlinesFollowTheRules() public view {
        uint256 n = handler.dealCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = handler.dealIdAt(i);
            Deal memory d = market.getDeal(id);
            if (d.status < Status.AwaitingCollateral || d.status > Status.Completed) continue;
            assertEq(d.deadline, handler.ghost(id).deadline, "deadline differs from the rules");
        }
    }

    /// @dev (e) Every locked amount can be released after its deadline by a stranger, and then everyone can
    /// withdraw everything: the escrow ends empty.
    function afterInvariant() public {
        vm.warp(handler.currentTime() + 30 days); // beyond every deadline the handler can set
        address outsider = makeAddr("outsider"); // neither a party nor a holder
        uint256 n = handler.dealCount();
        for (uint256 i; i < n; ++i) {
            bytes32 id = handler.dealIdAt(i);
            Status s = market.getDeal(id).status;
            vm.startPrank(outsider);
            if (s == Status.AwaitingCollateral || s == Status.AwaitingPayment) market.collateralMissing(id);
            else if (s == Status.Agreed || s == Status.Commenced) market.claimTimeout(id);
            else if (s == Status.Completed) market.settle(id);
            vm.stopPrank();
            s = market.getDeal(id).status;
            assertTrue(
                s == Status.Cancelled || s == Status.Settled || s == Status.Slashed || s == Status.Unfunded,
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
