// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { MarketTestBase } from "./Base.t.sol";
import { IComputeMarket } from "../../contracts/interfaces/IComputeMarket.sol";
import {
    CollateralBelowMinimum,
    InvalidDeadline,
    InvalidDuration,
    InvalidSignature,
    InvalidValidationScheme,
    NotAParty,
    NotAToken,
    NotTheClient,
    OfferExpired,
    OfferForAnotherRequest,
    OfferIsCancelled,
    PriceAboveMaximum,
    RequestExpired,
    SelfDeal,
    UnexpectedStatus,
    ZeroAmount,
    ZeroSpecHash
} from "../../contracts/Common.sol";
import { CloseReason, Deal, Offer, Request, Status, ValidationScheme } from "../../contracts/Types.sol";
import { IERC20Errors } from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

/// @notice request, cancelRequest, offer, cancelOffer and accept.
contract NegotiationTest is MarketTestBase {
    // -------------------------------------------------------------------------------------------------
    // request
    // -------------------------------------------------------------------------------------------------

    function test_request_emitsRequestedAndStoresNothing() public {
        Request memory req = newRequest();
        bytes32 expectedId = market.hashRequest(req);
        vm.expectEmit(address(market));
        emit IComputeMarket.Requested(expectedId, client, req, SPEC_URI, new address[](0));
        bytes32 dealId = makeRequest(req);
        assertEq(dealId, expectedId);
        Deal memory d = market.getDeal(dealId);
        assertEq(uint8(d.status), uint8(Status.None));
        assertEq(d.client, address(0));
    }

    function test_request_addressedToChosenProvidersCarriesThemInTheEvent() public {
        Request memory req = newRequest();
        address[] memory invited = new address[](2);
        invited[0] = provider;
        invited[1] = stranger;
        vm.expectEmit(address(market));
        emit IComputeMarket.Requested(market.hashRequest(req), client, req, SPEC_URI, invited);
        vm.prank(client);
        market.request(req, SPEC_URI, invited);
    }

    function test_request_dealIdIsEIP712HashOfTerms() public {
        Request memory req = newRequest();
        bytes32 structHash = keccak256(abi.encode(market.REQUEST_TYPEHASH(), req));
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("ComputeMarket"),
                keccak256("1"),
                block.chainid,
                address(market)
            )
        );
        assertEq(market.hashRequest(req), keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
        // Any change of terms is another deal.
        Request memory other = req;
        other.nonce++;
        assertTrue(market.hashRequest(other) != keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
    }

    function test_request_revertsWhenCallerIsNotTheClient() public {
        Request memory req = newRequest();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(NotTheClient.selector));
        market.request(req, SPEC_URI, new address[](0));
    }

    function test_request_revertsOnBadTerms() public {
        Request memory req;

        req = newRequest();
        req.token = stranger; // an EOA
        _expectRequestRevert(req, abi.encodeWithSelector(NotAToken.selector, stranger));

        req = newRequest();
        req.maxPrice = 0;
        _expectRequestRevert(req, abi.encodeWithSelector(ZeroAmount.selector));

        req = newRequest();
        req.commenceWithin = 0;
        _expectRequestRevert(req, abi.encodeWithSelector(InvalidDuration.selector));
        req = newRequest();
        req.jobDuration = 0;
        _expectRequestRevert(req, abi.encodeWithSelector(InvalidDuration.selector));
        req = newRequest();
        req.validationWindow = 0;
        _expectRequestRevert(req, abi.encodeWithSelector(InvalidDuration.selector));

        // Validator scheme without a validator, optimistic scheme with one, the client as its own validator.
        req = newRequest();
        req.scheme = ValidationScheme.Validator;
        _expectRequestRevert(req, abi.encodeWithSelector(InvalidValidationScheme.selector));
        req = newRequest();
        req.validator = validator;
        _expectRequestRevert(req, abi.encodeWithSelector(InvalidValidationScheme.selector));
        req = newValidatorRequest();
        req.validator = client;
        _expectRequestRevert(req, abi.encodeWithSelector(InvalidValidationScheme.selector));

        req = newRequest();
        req.specHash = bytes32(0);
        _expectRequestRevert(req, abi.encodeWithSelector(ZeroSpecHash.selector));

        req = newRequest();
        req.offerDeadline = uint40(block.timestamp); // must lie in the future
        _expectRequestRevert(req, abi.encodeWithSelector(InvalidDeadline.selector));
    }

    function test_request_revertsOnceAgreedOrCancelled() public {
        Request memory req = newRequest();
        bytes32 dealId = acceptDefault(req);
        _expectRequestRevert(req, abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Agreed)));

        Request memory req2 = newRequest();
        bytes32 id2 = makeRequest(req2);
        vm.prank(client);
        market.cancelRequest(req2);
        _expectRequestRevert(req2, abi.encodeWithSelector(UnexpectedStatus.selector, id2, uint8(Status.Cancelled)));
    }

    function _expectRequestRevert(Request memory req, bytes memory err) private {
        vm.recordLogs();
        vm.prank(req.client);
        vm.expectRevert(err);
        market.request(req, SPEC_URI, new address[](0));
        assertEq(vm.getRecordedLogs().length, 0);
    }

    // -------------------------------------------------------------------------------------------------
    // cancelRequest
    // -------------------------------------------------------------------------------------------------

    function test_cancelRequest_closesTheRequest() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        vm.expectEmit(address(market));
        emit IComputeMarket.Closed(dealId, Status.Cancelled, CloseReason.Cancelled);
        vm.prank(client);
        market.cancelRequest(req);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Cancelled));

        // A cancelled request can no longer be accepted nor offered on.
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);
        Snapshot memory before = snapshot(dealId);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Cancelled)));
        market.accept(req, terms, sig);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Cancelled)));
        market.offer(terms, sig);
        assertUnchanged(before, dealId);
    }

    function test_cancelRequest_revertsForNonClient() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(NotTheClient.selector));
        market.cancelRequest(req);
        assertEq(uint8(statusOf(dealId)), uint8(Status.None));
    }

    function test_cancelRequest_revertsOnceAccepted() public {
        Request memory req = newRequest();
        bytes32 dealId = acceptDefault(req);
        Snapshot memory before = snapshot(dealId);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Agreed)));
        market.cancelRequest(req);
        assertUnchanged(before, dealId);
    }

    function test_cancelRequest_twiceReverts() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        vm.startPrank(client);
        market.cancelRequest(req);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Cancelled)));
        market.cancelRequest(req);
        vm.stopPrank();
    }

    // -------------------------------------------------------------------------------------------------
    // offer / cancelOffer
    // -------------------------------------------------------------------------------------------------

    function test_offer_providerBroadcasts() public {
        bytes32 dealId = makeRequest(newRequest());
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);
        vm.expectEmit(address(market));
        emit IComputeMarket.Offered(dealId, provider, provider, terms, sig);
        vm.prank(provider);
        market.offer(terms, sig);
    }

    function test_offer_clientBroadcastsCounterOffer() public {
        bytes32 dealId = makeRequest(newRequest());
        Offer memory terms = newOffer(dealId);
        terms.price = PRICE - 10e18;
        terms.round = 1;
        bytes memory sig = signOffer(clientKey, terms);
        vm.expectEmit(address(market));
        emit IComputeMarket.Offered(dealId, client, provider, terms, sig);
        vm.prank(client);
        market.offer(terms, sig);
    }

    function test_offer_revertsOnBadInput() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);

        terms.price = 0;
        bytes memory sig = signOffer(providerKey, terms);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(ZeroAmount.selector));
        market.offer(terms, sig);

        terms = newOffer(dealId);
        terms.expiry = uint40(block.timestamp - 1); // an offer is valid up to and including its expiry
        sig = signOffer(providerKey, terms);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(OfferExpired.selector));
        market.offer(terms, sig);

        // The caller must be the signer.
        terms = newOffer(dealId);
        sig = signOffer(providerKey, terms);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(InvalidSignature.selector));
        market.offer(terms, sig);

        // No more offers once the request is agreed.
        Offer memory accepted = newOffer(dealId);
        bytes memory acceptedSig = signOffer(providerKey, accepted);
        vm.prank(client);
        market.accept(req, accepted, acceptedSig);
        terms.round = 1;
        sig = signOffer(providerKey, terms);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Agreed)));
        market.offer(terms, sig);
    }

    function test_cancelOffer_marksOfferCancelled() public {
        bytes32 dealId = makeRequest(newRequest());
        Offer memory terms = newOffer(dealId);
        bytes32 offerHash = market.hashOffer(terms);
        vm.expectEmit(address(market));
        emit IComputeMarket.OfferCancelled(offerHash, provider);
        vm.prank(provider);
        market.cancelOffer(terms);
        assertTrue(market.isOfferCancelled(provider, offerHash));
        assertFalse(market.isOfferCancelled(client, offerHash));
    }

    function test_accept_revertsOnCancelledOffer() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);
        vm.prank(provider);
        market.cancelOffer(terms);
        Snapshot memory before = snapshot(dealId);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(OfferIsCancelled.selector));
        market.accept(req, terms, sig);
        assertUnchanged(before, dealId);

        // Another round of the same terms is a new message and can still be accepted.
        terms.round = 1;
        sig = signOffer(providerKey, terms);
        vm.prank(client);
        market.accept(req, terms, sig);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
    }

    function test_accept_revertsOnCancelledCounterOffer() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(clientKey, terms);
        vm.prank(client);
        market.cancelOffer(terms);
        Snapshot memory before = snapshot(dealId);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(OfferIsCancelled.selector));
        market.accept(req, terms, sig);
        assertUnchanged(before, dealId);
    }

    function test_cancelOffer_bySomeoneElseHasNoEffect() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);
        vm.prank(stranger);
        market.cancelOffer(terms);
        vm.prank(client);
        market.accept(req, terms, sig);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
    }

    // -------------------------------------------------------------------------------------------------
    // accept: happy paths
    // -------------------------------------------------------------------------------------------------

    function test_accept_byClientLocksBothSidesFromEscrow() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);
        uint256 owed = market.totalOwed(address(token));

        vm.expectEmit(address(market));
        emit IComputeMarket.Accepted(dealId, client, provider, market.hashOffer(terms), Status.Agreed);
        vm.prank(client);
        market.accept(req, terms, sig);

        Deal memory d = market.getDeal(dealId);
        assertEq(d.client, client);
        assertEq(d.provider, provider);
        assertEq(d.price, PRICE); // the accepted price, not the request's maximum
        assertEq(d.collateral, COLLATERAL);
        assertEq(d.token, address(token));
        assertEq(uint8(d.status), uint8(Status.Agreed));
        assertEq(d.deadline, block.timestamp + COMMENCE_WITHIN);
        assertEq(d.jobDuration, JOB_DURATION);
        assertEq(d.validationWindow, VALIDATION_WINDOW);
        assertEq(d.validator, address(0));
        assertEq(d.validatorFee, 0);
        assertEq(d.bond, 0); // an optimistic deal holds a bond only once disputed
        assertEq(d.lastAttestation, bytes32(0));
        assertEq(market.available(address(token), client), DEPOSITED - PRICE);
        assertEq(market.available(address(token), provider), DEPOSITED - COLLATERAL);
        assertEq(market.totalOwed(address(token)), owed); // locking moves no tokens
        assertSolvent(address(token));
    }

    function test_accept_byProviderOfClientCounterOffer() public {
        Request memory req = newValidatorRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        terms.price = 60e18;
        terms.collateral = MIN_COLLATERAL;
        terms.round = 2;
        bytes memory sig = signOffer(clientKey, terms);
        vm.prank(client);
        market.offer(terms, sig);

        vm.expectEmit(address(market));
        emit IComputeMarket.Accepted(dealId, client, provider, market.hashOffer(terms), Status.Agreed);
        vm.prank(provider);
        market.accept(req, terms, sig);

        Deal memory d = market.getDeal(dealId);
        assertEq(uint8(d.status), uint8(Status.Agreed));
        assertEq(d.price, 60e18);
        assertEq(d.collateral, MIN_COLLATERAL);
        assertEq(d.validator, validator);
        assertEq(d.validatorFee, VALIDATOR_FEE);
        assertEq(d.bond, BOND);
        // A validator deal: the client locks the validator's fee with the price, the validator its stake.
        assertEq(market.available(address(token), client), DEPOSITED - 60e18 - VALIDATOR_FEE);
        assertEq(market.available(address(token), provider), DEPOSITED - MIN_COLLATERAL);
        assertEq(market.available(address(token), validator), DEPOSITED - BOND);
    }

    function test_accept_atExactLimitsAndDeadlines() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        terms.price = MAX_PRICE;
        terms.collateral = MIN_COLLATERAL;
        terms.expiry = req.offerDeadline;
        bytes memory sig = signOffer(providerKey, terms);
        vm.warp(req.offerDeadline); // both limits are inclusive
        vm.prank(client);
        market.accept(req, terms, sig);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
    }

    function test_accept_withoutPriorRequestEvent() public {
        // The request is only an event: its terms arrive as calldata, so accept stands on its own.
        Request memory req = newRequest();
        bytes32 dealId = market.hashRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);
        vm.prank(client);
        market.accept(req, terms, sig);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
    }

    function test_accept_pullsCallersShortfallFromWallet() public {
        // The client's escrow covers part of the price; the rest comes from its wallet.
        vm.prank(client);
        market.withdraw(address(token), DEPOSITED - 30e18);
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);
        uint256 wallet = token.balanceOf(client);
        uint256 owed = market.totalOwed(address(token));

        vm.expectEmit(address(market));
        emit IComputeMarket.Accepted(dealId, client, provider, market.hashOffer(terms), Status.Agreed);
        vm.prank(client);
        market.accept(req, terms, sig);

        assertEq(market.available(address(token), client), 0);
        assertEq(token.balanceOf(client), wallet - (PRICE - 30e18));
        assertEq(market.totalOwed(address(token)), owed + PRICE - 30e18);
        assertSolvent(address(token));
    }

    function test_accept_zeroCollateralWhenAllowed() public {
        Request memory req = newRequest();
        req.minCollateral = 0;
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        terms.collateral = 0;
        bytes memory sig = signOffer(providerKey, terms);
        vm.prank(provider);
        market.withdraw(address(token), DEPOSITED); // nothing to lock anyway
        vm.prank(client);
        market.accept(req, terms, sig);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
        assertEq(market.getDeal(dealId).collateral, 0);
    }

    // -------------------------------------------------------------------------------------------------
    // accept: bad input changes nothing
    // -------------------------------------------------------------------------------------------------

    function test_accept_revertsOnOfferForAnotherRequest() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        bytes32 otherId = makeRequest(newRequest());
        Offer memory terms = newOffer(otherId);
        _expectAcceptRevert(client, req, terms, signOffer(providerKey, terms), dealId, OfferForAnotherRequest.selector);
    }

    function test_accept_revertsAfterRequestDeadline() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        terms.expiry = uint40(req.offerDeadline + 1 hours);
        bytes memory sig = signOffer(providerKey, terms);
        vm.warp(req.offerDeadline + 1);
        _expectAcceptRevert(client, req, terms, sig, dealId, RequestExpired.selector);
    }

    function test_accept_revertsAfterOfferExpiry() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);
        vm.warp(terms.expiry + 1);
        _expectAcceptRevert(client, req, terms, sig, dealId, OfferExpired.selector);
    }

    function test_accept_revertsOnSelfDeal() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        terms.provider = client;
        _expectAcceptRevert(client, req, terms, signOffer(clientKey, terms), dealId, SelfDeal.selector);

        // The validator cannot judge its own work.
        Request memory vreq = newValidatorRequest();
        bytes32 vid = makeRequest(vreq);
        Offer memory vterms = newOffer(vid);
        vterms.provider = validator;
        _expectAcceptRevert(client, vreq, vterms, signOffer(validatorKey, vterms), vid, SelfDeal.selector);
    }

    function test_accept_revertsOnZeroPrice() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        terms.price = 0;
        _expectAcceptRevert(client, req, terms, signOffer(providerKey, terms), dealId, ZeroAmount.selector);
    }

    function test_accept_revertsOnPriceAboveMaximum() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        terms.price = MAX_PRICE + 1;
        bytes memory sig = signOffer(providerKey, terms);
        Snapshot memory before = snapshot(dealId);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(PriceAboveMaximum.selector, MAX_PRICE + 1, MAX_PRICE));
        market.accept(req, terms, sig);
        assertUnchanged(before, dealId);
    }

    function test_accept_revertsOnCollateralBelowMinimum() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        terms.collateral = MIN_COLLATERAL - 1;
        bytes memory sig = signOffer(providerKey, terms);
        Snapshot memory before = snapshot(dealId);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(CollateralBelowMinimum.selector, MIN_COLLATERAL - 1, MIN_COLLATERAL));
        market.accept(req, terms, sig);
        assertUnchanged(before, dealId);
    }

    function test_accept_revertsForNonParty() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        _expectAcceptRevert(stranger, req, terms, signOffer(providerKey, terms), dealId, NotAParty.selector);
        _expectAcceptRevert(validator, req, terms, signOffer(clientKey, terms), dealId, NotAParty.selector);
    }

    function test_accept_revertsOnWrongSigner() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        // Client accepting an offer the provider did not sign.
        _expectAcceptRevert(client, req, terms, signOffer(strangerKey, terms), dealId, InvalidSignature.selector);
        // Client accepting its own counter-offer: the provider's signature is required.
        _expectAcceptRevert(client, req, terms, signOffer(clientKey, terms), dealId, InvalidSignature.selector);
        // Provider accepting its own offer: the client's signature is required.
        _expectAcceptRevert(provider, req, terms, signOffer(providerKey, terms), dealId, InvalidSignature.selector);
    }

    function test_accept_revertsOnSignatureOverOtherTerms() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);
        terms.price = PRICE + 1; // the client tampers with the signed price
        _expectAcceptRevert(client, req, terms, sig, dealId, InvalidSignature.selector);
        terms.price = PRICE;
        _expectAcceptRevert(client, req, terms, hex"1234", dealId, InvalidSignature.selector);
        _expectAcceptRevert(client, req, terms, "", dealId, InvalidSignature.selector);
    }

    function test_accept_revertsOnZeroAddressProvider() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        terms.provider = address(0);
        // Optimistic: address(0) is also the (absent) validator, which the self-deal check catches first.
        _expectAcceptRevert(client, req, terms, signOffer(providerKey, terms), dealId, SelfDeal.selector);

        // Validator scheme: nobody can sign for address(0).
        Request memory vreq = newValidatorRequest();
        bytes32 vid = makeRequest(vreq);
        Offer memory vterms = newOffer(vid);
        vterms.provider = address(0);
        _expectAcceptRevert(client, vreq, vterms, signOffer(providerKey, vterms), vid, InvalidSignature.selector);
    }

    function test_accept_twiceReverts() public {
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);
        vm.prank(client);
        market.accept(req, terms, sig);

        // Neither the same offer nor a competing one can be accepted again.
        Snapshot memory before = snapshot(dealId);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Agreed)));
        market.accept(req, terms, sig);
        Offer memory other = newOffer(dealId);
        other.provider = stranger;
        bytes memory otherSig = signOffer(strangerKey, other);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Agreed)));
        market.accept(req, other, otherSig);
        assertUnchanged(before, dealId);
    }

    function test_accept_rechecksRequestTerms() public {
        // Terms that request() would refuse cannot sneak in through accept().
        Request memory req = newRequest();
        req.specHash = bytes32(0);
        bytes32 dealId = market.hashRequest(req);
        Offer memory terms = newOffer(dealId);
        _expectAcceptRevert(client, req, terms, signOffer(providerKey, terms), dealId, ZeroSpecHash.selector);

        req = newRequest();
        req.jobDuration = 0;
        dealId = market.hashRequest(req);
        terms = newOffer(dealId);
        _expectAcceptRevert(client, req, terms, signOffer(providerKey, terms), dealId, InvalidDuration.selector);
    }

    function test_accept_revertsWhenCallerCannotPay() public {
        // The client holds nothing in escrow and has not approved the market.
        vm.startPrank(client);
        market.withdraw(address(token), DEPOSITED);
        token.approve(address(market), 0);
        vm.stopPrank();
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);
        Snapshot memory before = snapshot(dealId);
        vm.prank(client);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 0, PRICE)
        );
        market.accept(req, terms, sig);
        assertUnchanged(before, dealId);
    }

    function _expectAcceptRevert(
        address caller,
        Request memory req,
        Offer memory terms,
        bytes memory sig,
        bytes32 dealId,
        bytes4 selector
    ) private {
        Snapshot memory before = snapshot(dealId);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(selector));
        market.accept(req, terms, sig);
        assertUnchanged(before, dealId);
    }

    // -------------------------------------------------------------------------------------------------
    // Fuzz: any offer within the request's limits binds exactly its terms
    // -------------------------------------------------------------------------------------------------

    function testFuzz_accept_locksExactlyTheAcceptedTerms(uint96 price, uint96 collateral, bool byProvider) public {
        price = uint96(bound(price, 1, MAX_PRICE));
        collateral = uint96(bound(collateral, MIN_COLLATERAL, 400e18));
        Request memory req = newRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        terms.price = price;
        terms.collateral = collateral;
        address caller = byProvider ? provider : client;
        bytes memory sig = signOffer(byProvider ? clientKey : providerKey, terms);
        uint256 owed = market.totalOwed(address(token));
        vm.prank(caller);
        market.accept(req, terms, sig);
        Deal memory d = market.getDeal(dealId);
        assertEq(d.price, price);
        assertEq(d.collateral, collateral);
        assertEq(market.available(address(token), client), DEPOSITED - price);
        assertEq(market.available(address(token), provider), DEPOSITED - collateral);
        assertEq(market.totalOwed(address(token)), owed);
    }
}
