// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { MarketTestBase } from "./Base.t.sol";
import { IComputeMarket } from "../../contracts/interfaces/IComputeMarket.sol";
import {
    DeadlineNotReached,
    DeadlinePassed,
    NotTheFundingParty,
    NotTheProvider,
    NotTheWaitingParty,
    UnexpectedStatus
} from "../../contracts/Common.sol";
import { CloseReason, Deal, Offer, Request, Status } from "../../contracts/Types.sol";

/// @notice fund, collateralMissing, settle, claimTimeout and abort: every way a deal moves after accept.
contract LifecycleTest is MarketTestBase {
    function emptyEscrow(address account) internal {
        uint256 amount = market.available(address(token), account);
        if (amount == 0) return;
        vm.prank(account);
        market.withdraw(address(token), amount);
    }

    /// @dev The client accepts while the provider's escrow is empty: the client's payment waits for collateral.
    function awaitingCollateralDeal() internal returns (bytes32 dealId) {
        emptyEscrow(provider);
        Request memory req = newRequest();
        dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);
        vm.expectEmit(address(market));
        emit IComputeMarket.Accepted(dealId, client, provider, market.hashOffer(terms), Status.AwaitingCollateral);
        vm.prank(client);
        market.accept(req, terms, sig);
    }

    /// @dev The provider accepts the client's counter-offer while the client's escrow is empty.
    function awaitingPaymentDeal() internal returns (bytes32 dealId) {
        emptyEscrow(client);
        Request memory req = newRequest();
        dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(clientKey, terms);
        vm.expectEmit(address(market));
        emit IComputeMarket.Accepted(dealId, client, provider, market.hashOffer(terms), Status.AwaitingPayment);
        vm.prank(provider);
        market.accept(req, terms, sig);
    }

    // -------------------------------------------------------------------------------------------------
    // AwaitingCollateral / AwaitingPayment -> fund -> Agreed
    // -------------------------------------------------------------------------------------------------

    function test_awaitingCollateral_locksPaymentOnly() public {
        uint256 owed = market.totalOwed(address(token));
        bytes32 dealId = awaitingCollateralDeal();
        Deal memory d = market.getDeal(dealId);
        assertEq(uint8(d.status), uint8(Status.AwaitingCollateral));
        assertEq(d.deadline, block.timestamp + COMMENCE_WITHIN);
        assertEq(market.available(address(token), client), DEPOSITED - PRICE);
        assertEq(market.available(address(token), provider), 0);
        assertEq(market.totalOwed(address(token)), owed - DEPOSITED); // only the provider's withdrawal left
        assertSolvent(address(token));
    }

    function test_fund_providerLocksCollateralFromWallet() public {
        bytes32 dealId = awaitingCollateralDeal();
        uint256 wallet = token.balanceOf(provider);
        uint256 owed = market.totalOwed(address(token));
        vm.warp(block.timestamp + 10 minutes);

        vm.expectEmit(address(market));
        emit IComputeMarket.Funded(dealId, provider);
        vm.prank(provider);
        market.fund(dealId);

        Deal memory d = market.getDeal(dealId);
        assertEq(uint8(d.status), uint8(Status.Agreed));
        assertEq(d.deadline, block.timestamp + COMMENCE_WITHIN); // funding restarts the commencement window
        assertEq(token.balanceOf(provider), wallet - COLLATERAL);
        assertEq(market.totalOwed(address(token)), owed + COLLATERAL);
        assertSolvent(address(token));
    }

    function test_fund_usesEscrowDepositedMeanwhile() public {
        bytes32 dealId = awaitingCollateralDeal();
        vm.startPrank(provider);
        market.deposit(address(token), COLLATERAL + 1);
        uint256 wallet = token.balanceOf(provider);
        market.fund(dealId);
        vm.stopPrank();
        assertEq(token.balanceOf(provider), wallet);
        assertEq(market.available(address(token), provider), 1);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
    }

    function test_awaitingPayment_locksCollateralOnly_thenClientFunds() public {
        bytes32 dealId = awaitingPaymentDeal();
        assertEq(uint8(statusOf(dealId)), uint8(Status.AwaitingPayment));
        assertEq(market.available(address(token), client), 0);
        assertEq(market.available(address(token), provider), DEPOSITED - COLLATERAL);

        uint256 wallet = token.balanceOf(client);
        vm.expectEmit(address(market));
        emit IComputeMarket.Funded(dealId, client);
        vm.prank(client);
        market.fund(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
        assertEq(token.balanceOf(client), wallet - PRICE);
        assertSolvent(address(token));
    }

    function test_fund_revertsForTheWrongParty() public {
        bytes32 dealId = awaitingCollateralDeal();
        Snapshot memory before = snapshot(dealId);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(NotTheFundingParty.selector));
        market.fund(dealId);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotTheFundingParty.selector));
        market.fund(dealId);
        assertUnchanged(before, dealId);

        bytes32 id2 = awaitingPaymentDeal();
        before = snapshot(id2);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(NotTheFundingParty.selector));
        market.fund(id2);
        assertUnchanged(before, id2);
    }

    function test_fund_revertsAfterDeadline() public {
        bytes32 dealId = awaitingCollateralDeal();
        uint40 deadline = market.getDeal(dealId).deadline;
        vm.warp(deadline + 1);
        Snapshot memory before = snapshot(dealId);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(DeadlinePassed.selector, dealId, deadline));
        market.fund(dealId);
        assertUnchanged(before, dealId);
    }

    function test_fund_allowedAtExactDeadline() public {
        bytes32 dealId = awaitingCollateralDeal();
        vm.warp(market.getDeal(dealId).deadline);
        vm.prank(provider);
        market.fund(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
    }

    function test_fund_revertsInOtherStates() public {
        bytes32 dealId = acceptDefault();
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Agreed)));
        market.fund(dealId);

        bytes32 unknown = keccak256("no such deal");
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, unknown, uint8(Status.None)));
        market.fund(unknown);
    }

    function test_fund_revertsWhenFunderCannotPay() public {
        bytes32 dealId = awaitingCollateralDeal();
        vm.prank(provider);
        token.approve(address(market), 0);
        Snapshot memory before = snapshot(dealId);
        vm.prank(provider);
        vm.expectRevert(); // the token's own allowance error
        market.fund(dealId);
        assertUnchanged(before, dealId);
    }

    /// Regression: a client that funds in the very block of the commencement deadline must not leave the
    /// provider without time to commence (and then collect its collateral by claiming the timeout).
    /// Funding restarts the commencement window.
    function test_fund_lateFundingRestartsTheCommencementWindow() public {
        bytes32 dealId = awaitingPaymentDeal();
        uint40 deadline = market.getDeal(dealId).deadline;
        vm.warp(deadline);
        vm.prank(client);
        market.fund(dealId);

        // The provider reacts in the next block, as any honest agent would.
        vm.warp(deadline + 1);
        attestCommencement(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Commenced));
    }

    // -------------------------------------------------------------------------------------------------
    // collateralMissing
    // -------------------------------------------------------------------------------------------------

    function test_collateralMissing_byClientWhileAwaitingCollateral() public {
        bytes32 dealId = awaitingCollateralDeal();
        uint256 owed = market.totalOwed(address(token));
        vm.expectEmit(address(market));
        emit IComputeMarket.Closed(dealId, Status.Unfunded, CloseReason.CollateralMissing);
        vm.prank(client);
        market.collateralMissing(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Unfunded));
        assertEq(market.available(address(token), client), DEPOSITED); // the price is back
        assertEq(market.available(address(token), provider), 0);
        assertEq(market.totalOwed(address(token)), owed);
    }

    function test_collateralMissing_byProviderWhileAwaitingPayment() public {
        bytes32 dealId = awaitingPaymentDeal();
        vm.expectEmit(address(market));
        emit IComputeMarket.Closed(dealId, Status.Unfunded, CloseReason.CollateralMissing);
        vm.prank(provider);
        market.collateralMissing(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Unfunded));
        assertEq(market.available(address(token), provider), DEPOSITED); // the collateral is back
        assertEq(market.available(address(token), client), 0);
    }

    function test_collateralMissing_byOthersOnlyAfterDeadline() public {
        bytes32 dealId = awaitingCollateralDeal();
        uint40 deadline = market.getDeal(dealId).deadline;
        Snapshot memory before = snapshot(dealId);
        // Before and at the deadline only the waiting party may give up: not the funding party, not a stranger.
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotTheWaitingParty.selector));
        market.collateralMissing(dealId);
        vm.warp(deadline);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(NotTheWaitingParty.selector));
        market.collateralMissing(dealId);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotTheWaitingParty.selector));
        market.collateralMissing(dealId);
        assertUnchanged(before, dealId);

        vm.warp(deadline + 1);
        vm.expectEmit(address(market));
        emit IComputeMarket.Closed(dealId, Status.Unfunded, CloseReason.CollateralMissing);
        vm.prank(stranger);
        market.collateralMissing(dealId);
        assertEq(market.available(address(token), client), DEPOSITED);
        assertEq(market.available(address(token), stranger), 0); // the caller earns nothing
    }

    function test_collateralMissing_byAnyoneAfterDeadline_awaitingPayment() public {
        bytes32 dealId = awaitingPaymentDeal();
        vm.expectRevert(abi.encodeWithSelector(NotTheWaitingParty.selector));
        vm.prank(client);
        market.collateralMissing(dealId);
        vm.warp(market.getDeal(dealId).deadline + 1);
        vm.prank(client); // even the late funding party can close it now
        market.collateralMissing(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Unfunded));
        assertEq(market.available(address(token), provider), DEPOSITED);
    }

    function test_collateralMissing_revertsInOtherStates() public {
        bytes32 dealId = acceptDefault();
        Snapshot memory before = snapshot(dealId);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Agreed)));
        market.collateralMissing(dealId);
        assertUnchanged(before, dealId);

        bytes32 id2 = awaitingCollateralDeal();
        vm.startPrank(client);
        market.collateralMissing(id2);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, id2, uint8(Status.Unfunded)));
        market.collateralMissing(id2);
        vm.stopPrank();
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, id2, uint8(Status.Unfunded)));
        market.fund(id2);
    }

    // -------------------------------------------------------------------------------------------------
    // settle
    // -------------------------------------------------------------------------------------------------

    function test_settle_paysProviderAfterValidationWindow() public {
        (bytes32 dealId,,) = completedDeal(newRequest());
        Deal memory d = market.getDeal(dealId);
        uint256 owed = market.totalOwed(address(token));
        vm.warp(d.deadline + 1);
        vm.expectEmit(address(market));
        emit IComputeMarket.Closed(dealId, Status.Settled, CloseReason.ValidationWindowPassed);
        vm.prank(stranger); // anyone can settle
        market.settle(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Settled));
        assertEq(market.available(address(token), provider), DEPOSITED + PRICE);
        assertEq(market.available(address(token), client), DEPOSITED - PRICE);
        assertEq(market.available(address(token), stranger), 0);
        assertEq(market.totalOwed(address(token)), owed);

        // Pull payment: the provider withdraws its earnings.
        vm.prank(provider);
        market.withdraw(address(token), DEPOSITED + PRICE);
        assertEq(token.balanceOf(provider), MINTED + PRICE);
        assertSolvent(address(token));
    }

    function test_settle_revertsUntilWindowPassed() public {
        (bytes32 dealId,,) = completedDeal(newRequest());
        uint40 deadline = market.getDeal(dealId).deadline;
        Snapshot memory before = snapshot(dealId);
        vm.expectRevert(abi.encodeWithSelector(DeadlineNotReached.selector, dealId, deadline));
        market.settle(dealId);
        vm.warp(deadline); // the window includes its last second
        vm.expectRevert(abi.encodeWithSelector(DeadlineNotReached.selector, dealId, deadline));
        market.settle(dealId);
        assertUnchanged(before, dealId);
    }

    function test_settle_twiceReverts() public {
        (bytes32 dealId,,) = completedDeal(newRequest());
        vm.warp(market.getDeal(dealId).deadline + 1);
        market.settle(dealId);
        Snapshot memory before = snapshot(dealId);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Settled)));
        market.settle(dealId);
        assertUnchanged(before, dealId);
    }

    function test_settle_revertsBeforeCompletion() public {
        bytes32 dealId = acceptDefault();
        vm.warp(block.timestamp + 30 days);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Agreed)));
        market.settle(dealId);
        (bytes32 id2,) = commencedDeal(newRequest());
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, id2, uint8(Status.Commenced)));
        market.settle(id2);
    }

    // -------------------------------------------------------------------------------------------------
    // claimTimeout
    // -------------------------------------------------------------------------------------------------

    function test_claimTimeout_commencement() public {
        bytes32 dealId = acceptDefault();
        uint40 deadline = market.getDeal(dealId).deadline;
        Snapshot memory before = snapshot(dealId);
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(DeadlineNotReached.selector, dealId, deadline));
        market.claimTimeout(dealId);
        assertUnchanged(before, dealId);

        vm.warp(deadline + 1);
        vm.expectEmit(address(market));
        emit IComputeMarket.Closed(dealId, Status.Slashed, CloseReason.CommencementTimeout);
        vm.prank(stranger);
        market.claimTimeout(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Slashed));
        // The wronged client gets its payment back plus the whole collateral; the caller nothing.
        assertEq(market.available(address(token), client), DEPOSITED + COLLATERAL);
        assertEq(market.available(address(token), provider), DEPOSITED - COLLATERAL);
        assertEq(market.available(address(token), stranger), 0);
        assertSolvent(address(token));
    }

    function test_claimTimeout_completion() public {
        (bytes32 dealId,) = commencedDeal(newRequest());
        uint40 deadline = market.getDeal(dealId).deadline;
        assertEq(deadline, block.timestamp + JOB_DURATION);
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(DeadlineNotReached.selector, dealId, deadline));
        market.claimTimeout(dealId);

        vm.warp(deadline + 1);
        vm.expectEmit(address(market));
        emit IComputeMarket.Closed(dealId, Status.Slashed, CloseReason.CompletionTimeout);
        market.claimTimeout(dealId);
        assertEq(market.available(address(token), client), DEPOSITED + COLLATERAL);
    }

    function test_claimTimeout_revertsInOtherStates() public {
        bytes32 slashed = acceptDefault();
        vm.warp(block.timestamp + 30 days);
        market.claimTimeout(slashed);
        Snapshot memory before = snapshot(slashed);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, slashed, uint8(Status.Slashed)));
        market.claimTimeout(slashed);
        assertUnchanged(before, slashed);

        (bytes32 completed,,) = completedDeal(newRequest());
        vm.warp(block.timestamp + 30 days);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, completed, uint8(Status.Completed)));
        market.claimTimeout(completed);

        bytes32 awaiting = awaitingCollateralDeal();
        vm.warp(block.timestamp + 30 days);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, awaiting, uint8(Status.AwaitingCollateral)));
        market.claimTimeout(awaiting);
    }

    // -------------------------------------------------------------------------------------------------
    // abort
    // -------------------------------------------------------------------------------------------------

    function test_abort_beforeCommencement() public {
        bytes32 dealId = acceptDefault();
        vm.expectEmit(address(market));
        emit IComputeMarket.Closed(dealId, Status.Slashed, CloseReason.ProviderAborted);
        vm.prank(provider);
        market.abort(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Slashed));
        assertEq(market.available(address(token), client), DEPOSITED + COLLATERAL);
    }

    function test_abort_afterCommencement() public {
        (bytes32 dealId,) = commencedDeal(newRequest());
        vm.prank(provider);
        market.abort(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Slashed));
        assertEq(market.available(address(token), client), DEPOSITED + COLLATERAL);
        assertEq(market.available(address(token), provider), DEPOSITED - COLLATERAL);
    }

    function test_abort_revertsForNonProvider() public {
        bytes32 dealId = acceptDefault();
        Snapshot memory before = snapshot(dealId);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(NotTheProvider.selector));
        market.abort(dealId);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotTheProvider.selector));
        market.abort(dealId);
        assertUnchanged(before, dealId);
    }

    function test_abort_revertsInOtherStates() public {
        (bytes32 dealId,,) = completedDeal(newRequest());
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Completed)));
        market.abort(dealId);

        bytes32 id2 = awaitingCollateralDeal();
        Snapshot memory before = snapshot(id2);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, id2, uint8(Status.AwaitingCollateral)));
        market.abort(id2);
        assertUnchanged(before, id2);
    }

    // -------------------------------------------------------------------------------------------------
    // Terminal states are absorbing
    // -------------------------------------------------------------------------------------------------

    function test_terminalStates_areAbsorbing() public {
        (bytes32 settled,,) = completedDeal(newRequest());
        vm.warp(block.timestamp + VALIDATION_WINDOW + 1);
        market.settle(settled);
        _assertAbsorbing(settled, Status.Settled);

        bytes32 slashed = acceptDefault();
        vm.prank(provider);
        market.abort(slashed);
        _assertAbsorbing(slashed, Status.Slashed);

        bytes32 unfunded = awaitingCollateralDeal();
        vm.prank(client);
        market.collateralMissing(unfunded);
        _assertAbsorbing(unfunded, Status.Unfunded);
    }

    function _assertAbsorbing(bytes32 dealId, Status status) private {
        vm.warp(block.timestamp + 365 days);
        Snapshot memory before = snapshot(dealId);
        bytes memory err = abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(status));
        vm.prank(provider);
        vm.expectRevert(err);
        market.fund(dealId);
        vm.prank(client);
        vm.expectRevert(err);
        market.collateralMissing(dealId);
        vm.expectRevert(err);
        market.settle(dealId);
        vm.expectRevert(err);
        market.claimTimeout(dealId);
        vm.prank(provider);
        vm.expectRevert(err);
        market.abort(dealId);
        vm.expectRevert(err);
        attest(provider, commencementSchema, client, bytes32(0), 0, abi.encode(dealId));
        assertUnchanged(before, dealId);
    }
}
