// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import { IERC20Errors } from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import { SafeERC20 } from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import { MarketTestBase } from "./Base.t.sol";
import { ICollateralEscrow } from "../../contracts/interfaces/ICollateralEscrow.sol";
import {
    FeeOnSendNotSupported,
    FeeOnTransferNotSupported,
    InsufficientBalance,
    NotAToken,
    NothingToSkim,
    SkimWouldMoveOwedFunds,
    ZeroAmount
} from "../../contracts/Common.sol";
import { Offer, Request, Status } from "../../contracts/Types.sol";
import { TestToken } from "../../contracts/tokens/TestToken.sol";
import { FalseReturningToken } from "../../contracts/mocks/FalseReturningToken.sol";
import { FeeOnSendToken } from "../../contracts/mocks/FeeOnSendToken.sol";
import { FeeOnTransferToken } from "../../contracts/mocks/FeeOnTransferToken.sol";
import { NoReturnToken } from "../../contracts/mocks/NoReturnToken.sol";
import { SecondAddress, TwoAddressToken } from "../../contracts/mocks/TwoAddressToken.sol";

/// @notice deposit / withdraw, and the tokens the escrow accepts or refuses.
contract EscrowTest is MarketTestBase {
    // -------------------------------------------------------------------------------------------------
    // deposit / withdraw
    // -------------------------------------------------------------------------------------------------

    function test_deposit_creditsCallerAndOwed() public {
        uint256 owed = market.totalOwed(address(token));
        vm.expectEmit(address(market));
        emit ICollateralEscrow.Deposited(address(token), stranger, 7e18);
        vm.prank(stranger);
        market.deposit(address(token), 7e18);
        assertEq(market.available(address(token), stranger), 7e18);
        assertEq(market.totalOwed(address(token)), owed + 7e18);
        assertEq(token.balanceOf(stranger), MINTED - 7e18);
        assertSolvent(address(token));
    }

    function test_deposit_revertsOnZeroAmount() public {
        Snapshot memory before = snapshot(bytes32(0));
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(ZeroAmount.selector));
        market.deposit(address(token), 0);
        assertUnchanged(before, bytes32(0));
    }

    function test_deposit_revertsForNonContractToken() public {
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(NotAToken.selector, stranger));
        market.deposit(stranger, 1);
        assertEq(market.totalOwed(stranger), 0);
        assertEq(market.available(stranger, client), 0);
    }

    function test_deposit_revertsBeyondAllowance() public {
        vm.prank(stranger);
        token.approve(address(market), 1e18);
        Snapshot memory before = snapshot(bytes32(0));
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 1e18, 2e18)
        );
        market.deposit(address(token), 2e18);
        assertUnchanged(before, bytes32(0));
    }

    function test_withdraw_paysCaller() public {
        uint256 owed = market.totalOwed(address(token));
        vm.expectEmit(address(market));
        emit ICollateralEscrow.Withdrawn(address(token), client, client, 100e18);
        vm.prank(client);
        market.withdraw(address(token), 100e18);
        assertEq(market.available(address(token), client), DEPOSITED - 100e18);
        assertEq(token.balanceOf(client), MINTED - DEPOSITED + 100e18);
        assertEq(market.totalOwed(address(token)), owed - 100e18);
        assertSolvent(address(token));
    }

    function test_withdrawTo_paysRecipientFromCallersAccount() public {
        address recipient = makeAddr("recipient"); // holds nothing until paid
        uint256 owed = market.totalOwed(address(token));
        vm.expectEmit(address(market));
        emit ICollateralEscrow.Withdrawn(address(token), client, recipient, 100e18);
        vm.prank(client);
        market.withdrawTo(address(token), 100e18, recipient);
        assertEq(market.available(address(token), client), DEPOSITED - 100e18);
        assertEq(token.balanceOf(recipient), 100e18);
        assertEq(token.balanceOf(client), MINTED - DEPOSITED);
        assertEq(market.totalOwed(address(token)), owed - 100e18);
        assertSolvent(address(token));
    }

    function test_withdrawTo_revertsOnZeroTooMuchOrLockedFunds() public {
        bytes32 dealId = acceptDefault();
        Snapshot memory before = snapshot(dealId);
        vm.startPrank(client);
        vm.expectRevert(abi.encodeWithSelector(ZeroAmount.selector));
        market.withdrawTo(address(token), 0, validator);
        vm.expectRevert(abi.encodeWithSelector(InsufficientBalance.selector, DEPOSITED - PRICE, DEPOSITED));
        market.withdrawTo(address(token), DEPOSITED, validator);
        vm.stopPrank();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(InsufficientBalance.selector, 0, 1));
        market.withdrawTo(address(token), 1, stranger);
        assertUnchanged(before, dealId);
    }

    function test_withdraw_revertsOnZeroOrTooMuch() public {
        Snapshot memory before = snapshot(bytes32(0));
        vm.startPrank(client);
        vm.expectRevert(abi.encodeWithSelector(ZeroAmount.selector));
        market.withdraw(address(token), 0);
        vm.expectRevert(abi.encodeWithSelector(InsufficientBalance.selector, DEPOSITED, DEPOSITED + 1));
        market.withdraw(address(token), DEPOSITED + 1);
        vm.stopPrank();
        // Someone without an account cannot drain others' funds.
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(InsufficientBalance.selector, 0, 1));
        market.withdraw(address(token), 1);
        assertUnchanged(before, bytes32(0));
    }

    function test_withdraw_cannotTouchLockedFunds() public {
        bytes32 dealId = acceptDefault();
        Snapshot memory before = snapshot(dealId);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(InsufficientBalance.selector, DEPOSITED - PRICE, DEPOSITED));
        market.withdraw(address(token), DEPOSITED);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(InsufficientBalance.selector, DEPOSITED - COLLATERAL, DEPOSITED));
        market.withdraw(address(token), DEPOSITED);
        assertUnchanged(before, dealId);
    }

    function testFuzz_depositWithdraw_keepsBooksBalanced(uint256 depositAmount, uint256 withdrawAmount) public {
        depositAmount = bound(depositAmount, 1, MINTED);
        withdrawAmount = bound(withdrawAmount, 1, depositAmount);
        uint256 owed = market.totalOwed(address(token)); // the fixture's deposits
        vm.startPrank(stranger);
        market.deposit(address(token), depositAmount);
        market.withdraw(address(token), withdrawAmount);
        vm.stopPrank();
        assertEq(market.available(address(token), stranger), depositAmount - withdrawAmount);
        assertEq(token.balanceOf(stranger), MINTED - depositAmount + withdrawAmount);
        assertEq(market.totalOwed(address(token)), owed + depositAmount - withdrawAmount);
        assertSolvent(address(token));
    }

    /// Tokens sent straight to the market (not through deposit) are credited to nobody; skim sends exactly
    /// that excess out, and never a unit of what the escrow owes.
    function test_directTransfer_isCreditedToNobodyAndSkimmable() public {
        uint256 owed = market.totalOwed(address(token));
        vm.prank(stranger);
        assertTrue(token.transfer(address(market), 1e18));
        assertEq(market.totalOwed(address(token)), owed);
        assertEq(market.available(address(token), stranger), 0);
        assertEq(token.balanceOf(address(market)), owed + 1e18);

        uint256 before = token.balanceOf(validator);
        vm.expectEmit(address(market));
        emit ICollateralEscrow.Skimmed(address(token), validator, 1e18);
        vm.prank(client); // anyone may call it
        assertEq(market.skim(address(token), validator), 1e18);
        assertEq(token.balanceOf(validator), before + 1e18);
        assertSolvent(address(token));

        vm.expectRevert(abi.encodeWithSelector(NothingToSkim.selector, address(token)));
        market.skim(address(token), validator);
    }

    /// Skim through the second address of a token the escrow owes: the shared balance looks like a surplus
    /// against the zero owed in the second address. Before the fix every escrowed token went to the caller.
    function test_skim_secondAddressOfOwedTokenIsRefused() public {
        TwoAddressToken two = new TwoAddressToken();
        address second = address(two.secondAddress());
        fundAccount(address(two), client, MINTED, DEPOSITED);
        fundAccount(address(two), provider, MINTED, DEPOSITED);
        Snapshot memory before = snapshotOf(bytes32(0), address(two));

        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(SkimWouldMoveOwedFunds.selector, address(two)));
        market.skim(second, stranger);

        assertUnchangedOf(before, bytes32(0), address(two));
        assertEq(two.balanceOf(stranger), 0);
        assertSolvent(address(two));
    }

    /// Tokens sent to the escrow directly are skimmable however many other tokens it owes.
    function test_skim_leavesEveryOwedTokenUntouched() public {
        TestToken other = new TestToken("Other", "OTH", 6);
        fundAccount(address(other), client, 1_000e6, 300e6);
        vm.prank(stranger);
        assertTrue(token.transfer(address(market), 3e18));
        uint256 otherHeld = other.balanceOf(address(market));

        vm.prank(stranger);
        assertEq(market.skim(address(token), stranger), 3e18);
        assertEq(token.balanceOf(stranger), MINTED);
        assertEq(other.balanceOf(address(market)), otherHeld);
        assertSolvent(address(token));
        assertSolvent(address(other));
    }

    /// A token reachable through two addresses shares one balance, so the escrow cannot tell a surplus in
    /// one from funds owed in the other: skim refuses it through either address.
    function test_skim_twoAddressTokenRefusedThroughEitherAddress() public {
        TwoAddressToken two = new TwoAddressToken();
        SecondAddress second = two.secondAddress();
        fundAccount(address(two), client, MINTED, DEPOSITED);
        two.mint(provider, MINTED);
        vm.startPrank(provider);
        second.approve(address(market), type(uint256).max);
        market.deposit(address(second), 100e18); // owed under the second address as well
        vm.stopPrank();
        two.mint(stranger, 1e18);
        vm.prank(stranger);
        assertTrue(two.transfer(address(market), 1e18));

        vm.expectRevert(abi.encodeWithSelector(SkimWouldMoveOwedFunds.selector, address(second)));
        market.skim(address(two), stranger);
        vm.expectRevert(abi.encodeWithSelector(SkimWouldMoveOwedFunds.selector, address(two)));
        market.skim(address(second), stranger);
        assertEq(two.balanceOf(address(market)), DEPOSITED + 100e18 + 1e18);

        // Every owner still gets its funds out.
        vm.prank(client);
        market.withdraw(address(two), DEPOSITED);
        vm.prank(provider);
        market.withdraw(address(second), 100e18);
        assertEq(two.balanceOf(client), MINTED);
        assertEq(two.balanceOf(provider), MINTED);
    }

    // -------------------------------------------------------------------------------------------------
    // Tokens refused
    // -------------------------------------------------------------------------------------------------

    function test_feeOnTransferToken_refusedOnDeposit() public {
        FeeOnTransferToken fee = new FeeOnTransferToken();
        fee.mint(client, 1_000);
        vm.startPrank(client);
        fee.approve(address(market), type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(FeeOnTransferNotSupported.selector, address(fee), 1_000, 990));
        market.deposit(address(fee), 1_000);
        vm.stopPrank();
        assertEq(market.totalOwed(address(fee)), 0);
        assertEq(market.available(address(fee), client), 0);
        assertEq(fee.balanceOf(client), 1_000);
    }

    function test_feeOnTransferToken_refusedOnAccept() public {
        FeeOnTransferToken fee = new FeeOnTransferToken();
        fee.mint(client, 1_000e18);
        vm.prank(client);
        fee.approve(address(market), type(uint256).max);
        Request memory req = newRequest();
        req.token = address(fee);
        req.minCollateral = 0;
        bytes32 dealId = makeRequest(req); // a request names any contract as token
        Offer memory terms = newOffer(dealId);
        terms.collateral = 0;
        bytes memory sig = signOffer(providerKey, terms);
        Snapshot memory before = snapshotOf(dealId, address(fee));
        vm.prank(client);
        vm.expectRevert(
            abi.encodeWithSelector(FeeOnTransferNotSupported.selector, address(fee), PRICE, PRICE - PRICE / 100)
        );
        market.accept(req, terms, sig);
        assertUnchangedOf(before, dealId, address(fee));
    }

    /// A token that charges the sender on top of the amount delivers the full amount on deposit, but on the way
    /// out takes the fee from the escrow, that is from other accounts. Before the fix the withdrawal went
    /// through and left the escrow owing more than it held.
    function test_feeOnSendToken_refusedOnWithdraw() public {
        FeeOnSendToken fos = new FeeOnSendToken();
        fundAccount(address(fos), client, 1_000e18, 500e18);
        fundAccount(address(fos), provider, 1_000e18, 500e18);
        Snapshot memory before = snapshotOf(bytes32(0), address(fos));
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(FeeOnSendNotSupported.selector, address(fos), 100e18, 101e18));
        market.withdraw(address(fos), 100e18);
        assertUnchangedOf(before, bytes32(0), address(fos));
        assertSolvent(address(fos));
    }

    function test_falseReturningToken_failedTransferRefused() public {
        FalseReturningToken bad = new FalseReturningToken();
        bad.mint(client, 1_000);
        // No allowance: transferFrom returns false instead of reverting; the escrow must not count it.
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(bad)));
        market.deposit(address(bad), 1_000);
        assertEq(market.totalOwed(address(bad)), 0);
        assertEq(market.available(address(bad), client), 0);
        assertEq(bad.balanceOf(client), 1_000);
    }

    function test_falseReturningToken_failedPullOnAcceptRefused() public {
        FalseReturningToken bad = new FalseReturningToken();
        bad.mint(client, 1_000e18);
        Request memory req = newRequest();
        req.token = address(bad);
        req.minCollateral = 0;
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        terms.collateral = 0;
        bytes memory sig = signOffer(providerKey, terms);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(bad)));
        market.accept(req, terms, sig);
        assertEq(uint8(statusOf(dealId)), uint8(Status.None));
        assertEq(market.totalOwed(address(bad)), 0);
    }

    function test_falseReturningToken_successfulTransfersWork() public {
        FalseReturningToken ok = new FalseReturningToken();
        ok.mint(client, 1_000);
        vm.startPrank(client);
        ok.approve(address(market), 1_000);
        market.deposit(address(ok), 1_000);
        market.withdraw(address(ok), 400);
        vm.stopPrank();
        assertEq(market.available(address(ok), client), 600);
        assertEq(ok.balanceOf(address(market)), market.totalOwed(address(ok)));
    }

    // -------------------------------------------------------------------------------------------------
    // Tokens that work: no-return (USDT-style), 6 and 0 decimals
    // -------------------------------------------------------------------------------------------------

    function test_noReturnToken_fullDeal() public {
        NoReturnToken usdt = new NoReturnToken();
        _setUpNoReturn(usdt, client, 1_000e6);
        _setUpNoReturn(usdt, provider, 1_000e6);
        _fullDealAndWithdraw(address(usdt), 250e6, 100e6, 10e6, true);
        _fullDealAndWithdraw(address(usdt), 250e6, 100e6, 10e6, false);
    }

    function test_noReturnToken_failedPullReverts() public {
        NoReturnToken usdt = new NoReturnToken();
        usdt.mint(client, 10);
        vm.prank(client);
        vm.expectRevert(); // the token's bare require, bubbled up
        market.deposit(address(usdt), 10);
        assertEq(market.totalOwed(address(usdt)), 0);
    }

    function test_sixDecimalToken_fullDeal() public {
        TestToken usdc = new TestToken("USD Coin", "USDC", 6);
        fundAccount(address(usdc), client, 1_000e6, 0);
        fundAccount(address(usdc), provider, 1_000e6, 0);
        _fullDealAndWithdraw(address(usdc), 12_345_678, 1, 3, true);
        _fullDealAndWithdraw(address(usdc), 12_345_678, 1, 3, false);
    }

    function test_zeroDecimalToken_fullDeal() public {
        TestToken whole = new TestToken("Whole", "WHL", 0);
        fundAccount(address(whole), client, 100, 0);
        fundAccount(address(whole), provider, 100, 0);
        _fullDealAndWithdraw(address(whole), 7, 3, 2, true);
        _fullDealAndWithdraw(address(whole), 1, 0, 1, false);
    }

    function _setUpNoReturn(NoReturnToken usdt, address account, uint256 amount) private {
        usdt.mint(account, amount);
        vm.prank(account);
        usdt.approve(address(market), type(uint256).max);
    }

    /// @dev Deposit, deal, judgement, withdraw everything: every unit comes back to its rightful owner. The client
    /// approves, or disputes (its bond pulled from its wallet) and the court rules against the provider.
    function _fullDealAndWithdraw(address tok, uint96 price, uint96 collateral, uint96 bond, bool approve) private {
        uint256 clientStart = IERC20(tok).balanceOf(client);
        uint256 providerStart = IERC20(tok).balanceOf(provider);
        uint256 courtStart = IERC20(tok).balanceOf(court);
        _depositAndDeal(tok, price, collateral, bond, approve);

        address winner = approve ? provider : client;
        address loser = approve ? client : provider;
        uint256 total = uint256(price) + collateral;
        assertEq(market.available(tok, winner), total);
        assertEq(market.available(tok, loser), 0);
        assertEq(market.available(tok, court), approve ? 0 : bond);
        vm.prank(winner);
        market.withdraw(tok, total);
        if (!approve) {
            vm.prank(court);
            market.withdraw(tok, bond);
        }
        assertEq(market.totalOwed(tok), 0);
        assertEq(IERC20(tok).balanceOf(address(market)), 0);
        // Net effect: the payment moved to the provider, or the collateral to the client and its bond to the court.
        if (approve) {
            assertEq(IERC20(tok).balanceOf(provider), providerStart + price);
            assertEq(IERC20(tok).balanceOf(client) + price, clientStart);
        } else {
            assertEq(IERC20(tok).balanceOf(client) + bond, clientStart + collateral);
            assertEq(IERC20(tok).balanceOf(provider) + collateral, providerStart);
            assertEq(IERC20(tok).balanceOf(court), courtStart + bond);
        }
    }

    function _depositAndDeal(address tok, uint96 price, uint96 collateral, uint96 bond, bool approve) private {
        vm.prank(client);
        market.deposit(tok, price);
        if (collateral != 0) {
            vm.prank(provider);
            market.deposit(tok, collateral);
        }
        Request memory req = newRequest();
        req.token = tok;
        req.maxPrice = price;
        req.minCollateral = collateral;
        req.bond = bond;
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        terms.price = price;
        terms.collateral = collateral;
        bytes memory sig = signOffer(providerKey, terms);
        vm.prank(client);
        market.accept(req, terms, sig);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
        assertEq(IERC20(tok).balanceOf(address(market)), market.totalOwed(tok));

        bytes32 commenced = attestCommencement(dealId);
        bytes32 completed = attestCompletion(dealId, commenced);
        if (approve) {
            attestValidation(client, dealId, completed, true);
        } else {
            vm.prank(client);
            market.dispute(req);
            assertEq(IERC20(tok).balanceOf(address(market)), market.totalOwed(tok));
            attestRuling(dealId, false);
        }
        assertEq(uint8(statusOf(dealId)), uint8(approve ? Status.Settled : Status.Slashed));
    }
}
