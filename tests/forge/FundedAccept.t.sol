// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { MarketTestBase } from "./Base.t.sol";
import { IComputeMarket } from "../../contracts/interfaces/IComputeMarket.sol";
import { UnfundedCounterparty } from "../../contracts/Common.sol";
import { Offer, Request, Status } from "../../contracts/Types.sol";

/// @notice acceptFunded: an accept that agrees a deal only if both sides lock now, so a provider with no escrow
/// balance (or one that withdrew just before) costs the client a failed call, not a deal left waiting.
contract FundedAcceptTest is MarketTestBase {
    function _offerOn(Request memory req) internal returns (bytes32 dealId, Offer memory terms, bytes memory sig) {
        dealId = makeRequest(req);
        terms = newOffer(dealId);
        sig = signOffer(providerKey, terms);
    }

    function test_acceptFunded_locksBothSidesLikeAccept() public {
        Request memory req = newRequest();
        (bytes32 dealId, Offer memory terms, bytes memory sig) = _offerOn(req);
        vm.expectEmit(address(market));
        emit IComputeMarket.Accepted(dealId, client, provider, market.hashOffer(terms), Status.Agreed);
        vm.prank(client);
        market.acceptFunded(req, terms, sig);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
        assertEq(market.available(address(token), client), DEPOSITED - PRICE);
        assertEq(market.available(address(token), provider), DEPOSITED - COLLATERAL);
        assertSolvent(address(token));
    }

    /// The provider withdraws its escrow just before the client accepts: accept would leave the deal awaiting
    /// collateral and the request used up; acceptFunded reverts and the request stays open.
    function test_acceptFunded_revertsWhenProviderWithdrewJustInTime() public {
        Request memory req = newRequest();
        (bytes32 dealId, Offer memory terms, bytes memory sig) = _offerOn(req);
        vm.prank(provider);
        market.withdraw(address(token), DEPOSITED - 10e18);
        Snapshot memory before = snapshot(dealId);

        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(UnfundedCounterparty.selector, provider, COLLATERAL, 10e18));
        market.acceptFunded(req, terms, sig);
        assertUnchanged(before, dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.None));

        // Once the provider holds the collateral again the same offer goes through.
        vm.prank(provider);
        market.deposit(address(token), COLLATERAL);
        vm.prank(client);
        market.acceptFunded(req, terms, sig);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
    }

    /// A provider accepting a client's counter-offer: the client's payment must be in its escrow account.
    function test_acceptFunded_revertsWhenClientCannotPay() public {
        vm.prank(client);
        market.withdraw(address(token), DEPOSITED);
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        terms.round = 1;
        bytes memory sig = signOffer(clientKey, terms);
        Snapshot memory before = snapshot(dealId);

        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(UnfundedCounterparty.selector, client, PRICE, 0));
        market.acceptFunded(req, terms, sig);
        assertUnchanged(before, dealId);
    }

    /// The caller's own side is still pulled from its wallet for what its escrow account lacks.
    function test_acceptFunded_pullsCallersShortfallFromWallet() public {
        vm.prank(client);
        market.withdraw(address(token), DEPOSITED);
        Request memory req = newRequest();
        (bytes32 dealId, Offer memory terms, bytes memory sig) = _offerOn(req);
        uint256 wallet = token.balanceOf(client);
        vm.prank(client);
        market.acceptFunded(req, terms, sig);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
        assertEq(token.balanceOf(client), wallet - PRICE);
        assertSolvent(address(token));
    }
}
