// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { MarketTestBase } from "./Base.t.sol";
import { ComputeMarket } from "../../contracts/ComputeMarket.sol";
import { IComputeMarket } from "../../contracts/interfaces/IComputeMarket.sol";
import {
    DeadlineNotReached,
    DeadlinePassed,
    InvalidCourt,
    InvalidDuration,
    InvalidValidationScheme,
    NotTheAppellant,
    NotTheClient,
    SelfDeal,
    UnexpectedStatus,
    UnfundedCounterparty,
    VerdictMissing,
    WrongAttester,
    WrongRecipient,
    WrongReference,
    ZeroAmount
} from "../../contracts/Common.sol";
import { CloseReason, Deal, Offer, Request, Status, Verdict } from "../../contracts/Types.sol";

/// @notice Bonded judgement: the optimistic client's dispute, the staked and paid validator's verdict, appeals,
/// escalation of a silent validator, the court's ruling and its timeout. Every close is checked to the unit: each
/// party's unlocked balance, the court's, and the escrow's books.
///
/// Default amounts (DEPOSITED = 500 each for client, provider and validator): price 80, collateral 50, validator
/// fee 5, bond 10. A validator deal locks 85 of the client's, 50 of the provider's and 10 of the validator's.
contract DisputesTest is MarketTestBase {
    uint256 internal owedAtStart;

    function setUp() public override {
        super.setUp();
        owedAtStart = market.totalOwed(address(token));
    }

    /// @dev Every unlocked balance that a deal can credit, and the books: locking and releasing move no tokens.
    function _assertBalances(uint256 clientAvail, uint256 providerAvail, uint256 validatorAvail, uint256 courtAvail)
        internal
        view
    {
        assertEq(availableOf(client), clientAvail, "client available");
        assertEq(availableOf(provider), providerAvail, "provider available");
        assertEq(availableOf(validator), validatorAvail, "validator available");
        assertEq(availableOf(court), courtAvail, "court available");
        assertEq(availableOf(stranger), 0, "stranger available");
        assertEq(market.totalOwed(address(token)), owedAtStart, "totalOwed");
        assertSolvent(address(token));
    }

    function _expectClose(bytes32 dealId, Status outcome, CloseReason reason) internal {
        vm.expectEmit(address(market));
        emit IComputeMarket.Closed(dealId, outcome, reason);
    }

    /// @dev A validation-schema attestation that must revert with `err`, leaving deal and balances as they were.
    function _expectVerdictRevert(
        bytes32 dealId,
        address attester,
        address recipient,
        bytes32 refUID,
        bool approved,
        bytes memory err
    ) internal {
        Snapshot memory before = snapshot(dealId);
        vm.expectRevert(err);
        attest(attester, validationSchema, recipient, refUID, 0, abi.encode(dealId, approved));
        assertUnchanged(before, dealId);
    }

    function _expectCallRevert(bytes32 dealId, address caller, bytes memory data, bytes memory err) internal {
        Snapshot memory before = snapshot(dealId);
        vm.prank(caller);
        (bool ok, bytes memory ret) = address(market).call(data);
        assertFalse(ok, "call went through");
        assertEq(ret, err, "revert reason");
        assertUnchanged(before, dealId);
    }

    /// @dev A keeper's move (`data`, from a stranger) is refused on the deadline itself, changing nothing; then the
    /// clock moves one second past it.
    function _refusedOnDeadlineThenPast(bytes32 dealId, bytes memory data) internal {
        uint40 deadline = market.getDeal(dealId).deadline;
        vm.warp(deadline);
        bytes memory notYet = abi.encodeWithSelector(DeadlineNotReached.selector, dealId, deadline);
        _expectCallRevert(dealId, stranger, data, notYet);
        vm.warp(deadline + 1);
    }

    // -------------------------------------------------------------------------------------------------
    // Deployment and terms
    // -------------------------------------------------------------------------------------------------

    function test_constructor_revertsWithoutCourt() public {
        vm.expectRevert(abi.encodeWithSelector(InvalidCourt.selector));
        new ComputeMarket(eas, address(0), COURT_WINDOW);
    }

    function test_constructor_revertsOnZeroCourtWindow() public {
        vm.expectRevert(abi.encodeWithSelector(InvalidDuration.selector));
        new ComputeMarket(eas, court, 0);
    }

    function test_constructor_fixesCourtWindowAndEAS() public view {
        assertEq(market.court(), court);
        assertEq(market.courtWindow(), COURT_WINDOW);
        assertEq(address(market.eas()), address(eas));
    }

    function test_terms_zeroBondRefused() public {
        Request memory req = newRequest();
        req.bond = 0;
        _expectRequestRevert(req, abi.encodeWithSelector(ZeroAmount.selector));
        req = newValidatorRequest();
        req.bond = 0;
        _expectRequestRevert(req, abi.encodeWithSelector(ZeroAmount.selector));
        // accept rechecks the terms: an unposted request cannot slip a zero bond in.
        _expectAcceptRevert(client, req, providerKey, abi.encodeWithSelector(ZeroAmount.selector));
    }

    function test_terms_validatorFeeWithoutValidatorRefused() public {
        Request memory req = newRequest();
        req.validatorFee = 1;
        _expectRequestRevert(req, abi.encodeWithSelector(InvalidValidationScheme.selector));
        _expectAcceptRevert(client, req, providerKey, abi.encodeWithSelector(InvalidValidationScheme.selector));
    }

    /// The court rules on the deal, so it may be none of its parties.
    function test_terms_courtAsAPartyIsASelfDeal() public {
        Request memory req = newRequest();
        req.client = court;
        _expectRequestRevert(req, abi.encodeWithSelector(SelfDeal.selector));
        req = newValidatorRequest();
        req.validator = court;
        _expectRequestRevert(req, abi.encodeWithSelector(SelfDeal.selector));
        _expectAcceptRevert(client, req, providerKey, abi.encodeWithSelector(SelfDeal.selector));

        // The court as provider, on an optimistic and on a validator deal.
        Request[2] memory reqs = [newRequest(), newValidatorRequest()];
        for (uint256 i; i < reqs.length; ++i) {
            bytes32 dealId = makeRequest(reqs[i]);
            Offer memory terms = newOffer(dealId);
            terms.provider = court;
            bytes memory sig = signOffer(courtKey, terms);
            Snapshot memory before = snapshot(dealId);
            vm.prank(client);
            vm.expectRevert(abi.encodeWithSelector(SelfDeal.selector));
            market.accept(reqs[i], terms, sig);
            assertUnchanged(before, dealId);
        }
    }

    function _expectRequestRevert(Request memory req, bytes memory err) private {
        vm.prank(req.client);
        vm.expectRevert(err);
        market.request(req, SPEC_URI, new address[](0));
    }

    /// @dev `caller` accepts an offer on `req` signed with `signerKey`; it must revert with `err`.
    function _expectAcceptRevert(address caller, Request memory req, uint256 signerKey, bytes memory err) private {
        bytes32 dealId = market.hashRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(signerKey, terms);
        Snapshot memory before = snapshot(dealId);
        vm.prank(caller);
        vm.expectRevert(err);
        market.accept(req, terms, sig);
        assertUnchanged(before, dealId);
    }

    // -------------------------------------------------------------------------------------------------
    // Acceptance of a validator deal: fee and stake
    // -------------------------------------------------------------------------------------------------

    function test_accept_validatorDealLocksFeeAndStake() public {
        bytes32 dealId = acceptDefault(newValidatorRequest());
        Deal memory d = market.getDeal(dealId);
        assertEq(uint8(d.status), uint8(Status.Agreed));
        assertEq(d.validator, validator);
        assertEq(d.validatorFee, VALIDATOR_FEE);
        assertEq(d.bond, BOND);
        assertEq(uint8(d.verdict), uint8(Verdict.None));
        _assertBalances(DEPOSITED - PRICE - VALIDATOR_FEE, DEPOSITED - COLLATERAL, DEPOSITED - BOND, 0);
    }

    /// The validator stakes from its escrow account, never its wallet: short of the bond, neither accept nor
    /// acceptFunded agrees the deal, whoever accepts.
    function test_accept_revertsWhenValidatorHasNotStaked() public {
        vm.prank(validator);
        market.withdraw(address(token), DEPOSITED - BOND + 1); // one unit short
        bytes memory err = abi.encodeWithSelector(UnfundedCounterparty.selector, validator, BOND, BOND - 1);
        Request memory req = newValidatorRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory providerSig = signOffer(providerKey, terms);
        bytes memory clientSig = signOffer(clientKey, terms);
        Snapshot memory before = snapshot(dealId);
        uint256 validatorWallet = token.balanceOf(validator);

        vm.startPrank(client);
        vm.expectRevert(err);
        market.accept(req, terms, providerSig);
        vm.expectRevert(err);
        market.acceptFunded(req, terms, providerSig);
        vm.stopPrank();
        vm.startPrank(provider);
        vm.expectRevert(err);
        market.accept(req, terms, clientSig);
        vm.expectRevert(err);
        market.acceptFunded(req, terms, clientSig);
        vm.stopPrank();
        assertUnchanged(before, dealId);
        assertEq(token.balanceOf(validator), validatorWallet);

        // With the stake deposited the same offer goes through.
        vm.prank(validator);
        market.deposit(address(token), 1);
        vm.prank(client);
        market.acceptFunded(req, terms, providerSig);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
        assertEq(availableOf(validator), 0);
    }

    // -------------------------------------------------------------------------------------------------
    // Optimistic scheme: the client disputes, the court rules
    // -------------------------------------------------------------------------------------------------

    function test_dispute_postsBondAndGoesToCourt() public {
        Request memory req = newRequest();
        (bytes32 dealId,,) = completedDeal(req);
        vm.warp(block.timestamp + 1 hours);
        uint40 courtDeadline = uint40(block.timestamp + COURT_WINDOW);
        vm.expectEmit(address(market));
        emit IComputeMarket.Disputed(dealId, client, BOND, courtDeadline);
        vm.prank(client);
        market.dispute(req);

        Deal memory d = market.getDeal(dealId);
        assertEq(uint8(d.status), uint8(Status.Disputed));
        assertEq(d.deadline, courtDeadline);
        assertEq(d.bond, BOND);
        _assertBalances(DEPOSITED - PRICE - BOND, DEPOSITED - COLLATERAL, DEPOSITED, 0);
    }

    function test_dispute_courtApproves_providerPaid_bondPaysCourt() public {
        (bytes32 dealId,) = disputedDeal(newRequest());
        _expectClose(dealId, Status.Settled, CloseReason.CourtApproved);
        attestRuling(dealId, true);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Settled));
        _assertBalances(DEPOSITED - PRICE - BOND, DEPOSITED + PRICE, DEPOSITED, BOND);
    }

    function test_dispute_courtRejects_clientPaid_bondPaysCourt() public {
        (bytes32 dealId,) = disputedDeal(newRequest());
        _expectClose(dealId, Status.Slashed, CloseReason.CourtRejected);
        attestRuling(dealId, false);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Slashed));
        _assertBalances(DEPOSITED + COLLATERAL - BOND, DEPOSITED - COLLATERAL, DEPOSITED, BOND);
    }

    function test_dispute_courtTimeout_unwinds() public {
        (bytes32 dealId,) = disputedDeal(newRequest());
        _refusedOnDeadlineThenPast(dealId, abi.encodeCall(IComputeMarket.claimTimeout, (dealId)));
        _expectClose(dealId, Status.Unwound, CloseReason.CourtTimeout);
        vm.prank(stranger);
        market.claimTimeout(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Unwound));
        // Everyone gets back what it locked: the client its price and bond, the provider its collateral.
        _assertBalances(DEPOSITED, DEPOSITED, DEPOSITED, 0);
    }

    /// The bond, like the price, is pulled from the wallet for what the client's account lacks.
    function test_dispute_pullsBondShortfallFromWallet() public {
        Request memory req = newRequest();
        (bytes32 dealId,,) = completedDeal(req);
        vm.prank(client);
        market.withdraw(address(token), DEPOSITED - PRICE - 4e18); // 4 left in the account
        uint256 wallet = token.balanceOf(client);
        uint256 owed = market.totalOwed(address(token));
        vm.prank(client);
        market.dispute(req);
        assertEq(availableOf(client), 0);
        assertEq(token.balanceOf(client), wallet - (BOND - 4e18));
        assertEq(market.totalOwed(address(token)), owed + BOND - 4e18);
        assertSolvent(address(token));
    }

    function test_dispute_windowBounds() public {
        Request memory req = newRequest();
        (bytes32 dealId,,) = completedDeal(req);
        vm.warp(market.getDeal(dealId).deadline); // the last second of the validation window still counts
        vm.prank(client);
        market.dispute(req);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Disputed));

        Request memory late = newRequest();
        (bytes32 lateId,,) = completedDeal(late);
        uint40 deadline = market.getDeal(lateId).deadline;
        vm.warp(deadline + 1);
        _expectCallRevert(
            lateId,
            client,
            abi.encodeCall(IComputeMarket.dispute, (late)),
            abi.encodeWithSelector(DeadlinePassed.selector, lateId, deadline)
        );
    }

    function test_dispute_revertsForNonClient() public {
        Request memory req = newRequest();
        (bytes32 dealId,,) = completedDeal(req);
        address[4] memory others = [provider, validator, stranger, court];
        for (uint256 i; i < others.length; ++i) {
            _expectCallRevert(
                dealId,
                others[i],
                abi.encodeCall(IComputeMarket.dispute, (req)),
                abi.encodeWithSelector(NotTheClient.selector)
            );
        }
    }

    /// In the validator scheme the validator judges; the client appeals its verdict instead.
    function test_dispute_revertsInValidatorScheme() public {
        Request memory req = newValidatorRequest();
        (bytes32 dealId,,) = completedDeal(req);
        _expectCallRevert(
            dealId,
            client,
            abi.encodeCall(IComputeMarket.dispute, (req)),
            abi.encodeWithSelector(InvalidValidationScheme.selector)
        );
    }

    /// The request identifies the deal: terms that differ in anything (here the bond) name another deal.
    function test_dispute_revertsForAnotherRequest() public {
        Request memory req = newRequest();
        (bytes32 dealId,,) = completedDeal(req);
        Request memory other = req;
        other.bond = 1;
        bytes32 otherId = market.hashRequest(other);
        _expectCallRevert(
            dealId,
            client,
            abi.encodeCall(IComputeMarket.dispute, (other)),
            abi.encodeWithSelector(UnexpectedStatus.selector, otherId, uint8(Status.None))
        );
    }

    function test_dispute_revertsOutsideCompleted() public {
        Request memory req = newRequest();
        (bytes32 dealId,) = commencedDeal(req);
        _expectCallRevert(
            dealId,
            client,
            abi.encodeCall(IComputeMarket.dispute, (req)),
            abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Commenced))
        );
        Request memory again = newRequest();
        (bytes32 disputed,) = disputedDeal(again);
        _expectCallRevert(
            disputed,
            client,
            abi.encodeCall(IComputeMarket.dispute, (again)),
            abi.encodeWithSelector(UnexpectedStatus.selector, disputed, uint8(Status.Disputed))
        );
    }

    /// Before the court only the court moves the deal, and nothing settles it early.
    function test_disputed_onlyTheCourtDecides() public {
        (bytes32 dealId, bytes32 completionUid) = disputedDeal(newRequest());
        address[4] memory others = [client, provider, validator, stranger];
        for (uint256 i; i < others.length; ++i) {
            _expectVerdictRevert(
                dealId,
                others[i],
                provider,
                completionUid,
                true,
                abi.encodeWithSelector(WrongAttester.selector, court, others[i])
            );
        }
        vm.warp(block.timestamp + 30 days);
        _expectCallRevert(
            dealId,
            stranger,
            abi.encodeCall(IComputeMarket.settle, (dealId)),
            abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Disputed))
        );
    }

    // -------------------------------------------------------------------------------------------------
    // Validator scheme: verdict, appeal window, settle
    // -------------------------------------------------------------------------------------------------

    function test_verdictApproved_settledAfterAppealWindow() public {
        (bytes32 dealId,,) = judgedDeal(newValidatorRequest(), true);
        assertEq(market.getDeal(dealId).deadline, block.timestamp + VALIDATION_WINDOW);
        _refusedOnDeadlineThenPast(dealId, abi.encodeCall(IComputeMarket.settle, (dealId)));
        _expectClose(dealId, Status.Settled, CloseReason.VerdictApproved);
        vm.prank(stranger); // anyone carries the verdict out
        market.settle(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Settled));
        // The provider is paid, the validator earns its fee and gets its stake back.
        _assertBalances(DEPOSITED - PRICE - VALIDATOR_FEE, DEPOSITED + PRICE, DEPOSITED + VALIDATOR_FEE, 0);
    }

    function test_verdictRejected_settledAfterAppealWindow() public {
        (bytes32 dealId,,) = judgedDeal(newValidatorRequest(), false);
        _refusedOnDeadlineThenPast(dealId, abi.encodeCall(IComputeMarket.settle, (dealId)));
        _expectClose(dealId, Status.Slashed, CloseReason.VerdictRejected);
        market.settle(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Slashed));
        _assertBalances(
            DEPOSITED + COLLATERAL - VALIDATOR_FEE, DEPOSITED - COLLATERAL, DEPOSITED + VALIDATOR_FEE, 0
        );
    }

    function test_verdict_givenOnce() public {
        (bytes32 dealId, bytes32 completionUid, bytes32 verdictUid) = judgedDeal(newValidatorRequest(), true);
        bytes memory err = abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Judged));
        _expectVerdictRevert(dealId, validator, provider, verdictUid, false, err);
        _expectVerdictRevert(dealId, validator, provider, completionUid, false, err);
        // Nor may the client approve once the validator has judged.
        _expectVerdictRevert(dealId, client, provider, verdictUid, true, err);
    }

    function test_verdict_windowBounds() public {
        (bytes32 dealId,, bytes32 completionUid) = completedDeal(newValidatorRequest());
        vm.warp(market.getDeal(dealId).deadline);
        attestValidation(validator, dealId, completionUid, false);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Judged));

        (bytes32 lateId,, bytes32 lateUid) = completedDeal(newValidatorRequest());
        uint40 deadline = market.getDeal(lateId).deadline;
        vm.warp(deadline + 1);
        _expectVerdictRevert(
            lateId,
            validator,
            provider,
            lateUid,
            true,
            abi.encodeWithSelector(DeadlinePassed.selector, lateId, deadline)
        );
    }

    function test_verdict_mustReferenceTheCompletion() public {
        (bytes32 dealId, bytes32 commencementUid, bytes32 completionUid) = completedDeal(newValidatorRequest());
        _expectVerdictRevert(
            dealId,
            validator,
            provider,
            commencementUid,
            true,
            abi.encodeWithSelector(WrongReference.selector, completionUid, commencementUid)
        );
        _expectVerdictRevert(
            dealId,
            validator,
            client,
            completionUid,
            true,
            abi.encodeWithSelector(WrongRecipient.selector, provider, client)
        );
    }

    // -------------------------------------------------------------------------------------------------
    // Appeals
    // -------------------------------------------------------------------------------------------------

    function test_appeal_byClientAgainstApproval() public {
        _assertAppeal(true);
    }

    function test_appeal_byProviderAgainstRejection() public {
        _assertAppeal(false);
    }

    function _assertAppeal(bool verdict) private {
        (bytes32 dealId,, bytes32 verdictUid) = judgedDeal(newValidatorRequest(), verdict);
        address appellant = verdict ? client : provider;
        vm.warp(block.timestamp + 1 hours);
        uint40 courtDeadline = uint40(block.timestamp + COURT_WINDOW);
        vm.expectEmit(address(market));
        emit IComputeMarket.Appealed(dealId, appellant, BOND, courtDeadline);
        vm.prank(appellant);
        market.appeal(dealId);
        Deal memory d = market.getDeal(dealId);
        assertEq(uint8(d.status), uint8(Status.Disputed));
        assertEq(d.deadline, courtDeadline);
        assertEq(uint8(d.verdict), uint8(verdict ? Verdict.Approved : Verdict.Rejected)); // kept for the ruling
        assertEq(d.lastAttestation, verdictUid);
        _assertBalances(
            DEPOSITED - PRICE - VALIDATOR_FEE - (verdict ? BOND : 0),
            DEPOSITED - COLLATERAL - (verdict ? 0 : BOND),
            DEPOSITED - BOND,
            0
        );
    }

    /// The court confirms an approval the client appealed: the validator earns its fee and gets its stake back,
    /// the client's appeal bond pays the court.
    function test_appeal_clientAgainstApproval_courtAgrees() public {
        (bytes32 dealId,,) = appealedDeal(newValidatorRequest(), true);
        _expectClose(dealId, Status.Settled, CloseReason.CourtApproved);
        attestRuling(dealId, true);
        _assertBalances(
            DEPOSITED - PRICE - VALIDATOR_FEE - BOND, DEPOSITED + PRICE, DEPOSITED + VALIDATOR_FEE, BOND
        );
    }

    /// The court overrules an approval: the client is refunded with the collateral, its fee and its bond; the
    /// validator's stake pays the court.
    function test_appeal_clientAgainstApproval_courtOverrules() public {
        (bytes32 dealId,,) = appealedDeal(newValidatorRequest(), true);
        _expectClose(dealId, Status.Slashed, CloseReason.CourtRejected);
        attestRuling(dealId, false);
        _assertBalances(DEPOSITED + COLLATERAL, DEPOSITED - COLLATERAL, DEPOSITED - BOND, BOND);
    }

    function test_appeal_providerAgainstRejection_courtAgrees() public {
        (bytes32 dealId,,) = appealedDeal(newValidatorRequest(), false);
        _expectClose(dealId, Status.Slashed, CloseReason.CourtRejected);
        attestRuling(dealId, false);
        _assertBalances(
            DEPOSITED + COLLATERAL - VALIDATOR_FEE, DEPOSITED - COLLATERAL - BOND, DEPOSITED + VALIDATOR_FEE, BOND
        );
    }

    /// The court overrules a rejection: the provider is paid and gets its bond back, the client its fee, and the
    /// validator's stake pays the court.
    function test_appeal_providerAgainstRejection_courtOverrules() public {
        (bytes32 dealId,,) = appealedDeal(newValidatorRequest(), false);
        _expectClose(dealId, Status.Settled, CloseReason.CourtApproved);
        attestRuling(dealId, true);
        _assertBalances(DEPOSITED - PRICE, DEPOSITED + PRICE, DEPOSITED - BOND, BOND);
    }

    function test_appeal_courtTimeout_unwinds() public {
        for (uint256 i; i < 2; ++i) {
            bool verdict = i == 0;
            (bytes32 dealId,,) = appealedDeal(newValidatorRequest(), verdict);
            vm.warp(market.getDeal(dealId).deadline + 1);
            _expectClose(dealId, Status.Unwound, CloseReason.CourtTimeout);
            market.claimTimeout(dealId);
            // Price and fee, collateral, stake and the appellant's bond all go back.
            _assertBalances(DEPOSITED, DEPOSITED, DEPOSITED, 0);
        }
    }

    function test_appeal_revertsFromWrongParty() public {
        (bytes32 approved,,) = judgedDeal(newValidatorRequest(), true);
        address[4] memory notClient = [provider, validator, stranger, court];
        for (uint256 i; i < notClient.length; ++i) {
            _expectCallRevert(
                approved,
                notClient[i],
                abi.encodeCall(IComputeMarket.appeal, (approved)),
                abi.encodeWithSelector(NotTheAppellant.selector, client, notClient[i])
            );
        }
        (bytes32 rejected,,) = judgedDeal(newValidatorRequest(), false);
        address[4] memory notProvider = [client, validator, stranger, court];
        for (uint256 i; i < notProvider.length; ++i) {
            _expectCallRevert(
                rejected,
                notProvider[i],
                abi.encodeCall(IComputeMarket.appeal, (rejected)),
                abi.encodeWithSelector(NotTheAppellant.selector, provider, notProvider[i])
            );
        }
    }

    function test_appeal_windowBounds() public {
        (bytes32 dealId,,) = judgedDeal(newValidatorRequest(), true);
        vm.warp(market.getDeal(dealId).deadline); // the appeal window includes its last second
        vm.prank(client);
        market.appeal(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Disputed));

        (bytes32 lateId,,) = judgedDeal(newValidatorRequest(), false);
        uint40 deadline = market.getDeal(lateId).deadline;
        vm.warp(deadline + 1);
        _expectCallRevert(
            lateId,
            provider,
            abi.encodeCall(IComputeMarket.appeal, (lateId)),
            abi.encodeWithSelector(DeadlinePassed.selector, lateId, deadline)
        );
    }

    function test_appeal_revertsOutsideJudged() public {
        (bytes32 completed,,) = completedDeal(newValidatorRequest());
        _expectCallRevert(
            completed,
            client,
            abi.encodeCall(IComputeMarket.appeal, (completed)),
            abi.encodeWithSelector(UnexpectedStatus.selector, completed, uint8(Status.Completed))
        );
        (bytes32 appealed,,) = appealedDeal(newValidatorRequest(), true);
        _expectCallRevert(
            appealed,
            client,
            abi.encodeCall(IComputeMarket.appeal, (appealed)),
            abi.encodeWithSelector(UnexpectedStatus.selector, appealed, uint8(Status.Disputed))
        );
    }

    // -------------------------------------------------------------------------------------------------
    // Silent validator: escalation to the court
    // -------------------------------------------------------------------------------------------------

    function test_silentValidator_escalateBounds() public {
        (bytes32 dealId,,) = completedDeal(newValidatorRequest());
        uint40 deadline = market.getDeal(dealId).deadline;
        bytes memory escalate = abi.encodeCall(IComputeMarket.escalate, (dealId));
        bytes memory notYet = abi.encodeWithSelector(DeadlineNotReached.selector, dealId, deadline);
        _expectCallRevert(dealId, stranger, escalate, notYet);
        vm.warp(deadline);
        _expectCallRevert(dealId, stranger, escalate, notYet);
        // settle never carries out a verdict that was not given.
        vm.warp(deadline + 1);
        _expectCallRevert(
            dealId,
            stranger,
            abi.encodeCall(IComputeMarket.settle, (dealId)),
            abi.encodeWithSelector(VerdictMissing.selector, dealId)
        );

        vm.expectEmit(address(market));
        emit IComputeMarket.Escalated(dealId, uint40(block.timestamp + COURT_WINDOW));
        vm.prank(stranger); // anyone, and without a bond: the validator's stake is at risk
        market.escalate(dealId);
        Deal memory d = market.getDeal(dealId);
        assertEq(uint8(d.status), uint8(Status.Disputed));
        assertEq(d.deadline, block.timestamp + COURT_WINDOW);
        assertEq(uint8(d.verdict), uint8(Verdict.None));
        _assertBalances(DEPOSITED - PRICE - VALIDATOR_FEE, DEPOSITED - COLLATERAL, DEPOSITED - BOND, 0);
    }

    function test_silentValidator_courtApproves() public {
        (bytes32 dealId,) = escalatedDeal(newValidatorRequest());
        _expectClose(dealId, Status.Settled, CloseReason.CourtApproved);
        attestRuling(dealId, true);
        // The silent validator's stake pays the court; its unearned fee goes back to the client.
        _assertBalances(DEPOSITED - PRICE, DEPOSITED + PRICE, DEPOSITED - BOND, BOND);
    }

    function test_silentValidator_courtRejects() public {
        (bytes32 dealId,) = escalatedDeal(newValidatorRequest());
        _expectClose(dealId, Status.Slashed, CloseReason.CourtRejected);
        attestRuling(dealId, false);
        _assertBalances(DEPOSITED + COLLATERAL, DEPOSITED - COLLATERAL, DEPOSITED - BOND, BOND);
    }

    function test_silentValidator_courtTimeout_unwinds() public {
        (bytes32 dealId,) = escalatedDeal(newValidatorRequest());
        _refusedOnDeadlineThenPast(dealId, abi.encodeCall(IComputeMarket.claimTimeout, (dealId)));
        _expectClose(dealId, Status.Unwound, CloseReason.CourtTimeout);
        market.claimTimeout(dealId);
        _assertBalances(DEPOSITED, DEPOSITED, DEPOSITED, 0);
    }

    function test_escalate_revertsForOptimisticOrOtherStates() public {
        (bytes32 optimistic,,) = completedDeal(newRequest());
        vm.warp(market.getDeal(optimistic).deadline + 1);
        _expectCallRevert(
            optimistic,
            stranger,
            abi.encodeCall(IComputeMarket.escalate, (optimistic)),
            abi.encodeWithSelector(InvalidValidationScheme.selector)
        );
        (bytes32 judged,,) = judgedDeal(newValidatorRequest(), true);
        vm.warp(market.getDeal(judged).deadline + 1);
        _expectCallRevert(
            judged,
            stranger,
            abi.encodeCall(IComputeMarket.escalate, (judged)),
            abi.encodeWithSelector(UnexpectedStatus.selector, judged, uint8(Status.Judged))
        );
        (bytes32 escalated,) = escalatedDeal(newValidatorRequest());
        _expectCallRevert(
            escalated,
            stranger,
            abi.encodeCall(IComputeMarket.escalate, (escalated)),
            abi.encodeWithSelector(UnexpectedStatus.selector, escalated, uint8(Status.Disputed))
        );
    }

    // -------------------------------------------------------------------------------------------------
    // The court's attestation
    // -------------------------------------------------------------------------------------------------

    function test_ruling_onlyFromTheCourt() public {
        (bytes32 dealId,, bytes32 verdictUid) = appealedDeal(newValidatorRequest(), true);
        address[4] memory others = [client, provider, validator, stranger];
        for (uint256 i; i < others.length; ++i) {
            _expectVerdictRevert(
                dealId,
                others[i],
                provider,
                verdictUid,
                false,
                abi.encodeWithSelector(WrongAttester.selector, court, others[i])
            );
        }
    }

    /// After a verdict the court rules on the verdict: its attestation references it, not the completion.
    function test_ruling_referencesTheVerdict() public {
        (bytes32 dealId, bytes32 completionUid, bytes32 verdictUid) = appealedDeal(newValidatorRequest(), false);
        _expectVerdictRevert(
            dealId,
            court,
            provider,
            completionUid,
            true,
            abi.encodeWithSelector(WrongReference.selector, verdictUid, completionUid)
        );
        _expectVerdictRevert(
            dealId,
            court,
            client,
            verdictUid,
            true,
            abi.encodeWithSelector(WrongRecipient.selector, provider, client)
        );
        attest(court, validationSchema, provider, verdictUid, 0, abi.encode(dealId, true));
        assertEq(uint8(statusOf(dealId)), uint8(Status.Settled));
    }

    /// Without a verdict (a dispute, or an escalated silence) the court rules on the completion.
    function test_ruling_referencesTheCompletionWithoutVerdict() public {
        (bytes32 disputed, bytes32 disputedCompletion) = disputedDeal(newRequest());
        (bytes32 escalated, bytes32 escalatedCompletion) = escalatedDeal(newValidatorRequest());
        bytes32[2] memory ids = [disputed, escalated];
        bytes32[2] memory completions = [disputedCompletion, escalatedCompletion];
        for (uint256 i; i < 2; ++i) {
            bytes32 commencementUid = eas.getAttestation(completions[i]).refUID;
            _expectVerdictRevert(
                ids[i],
                court,
                provider,
                commencementUid,
                false,
                abi.encodeWithSelector(WrongReference.selector, completions[i], commencementUid)
            );
            attest(court, validationSchema, provider, completions[i], 0, abi.encode(ids[i], false));
            assertEq(uint8(statusOf(ids[i])), uint8(Status.Slashed));
        }
    }

    function test_ruling_windowBounds() public {
        (bytes32 dealId,) = disputedDeal(newRequest());
        vm.warp(market.getDeal(dealId).deadline); // the court's last second still counts
        attestRuling(dealId, true);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Settled));

        (bytes32 lateId, bytes32 completionUid) = disputedDeal(newRequest());
        uint40 deadline = market.getDeal(lateId).deadline;
        vm.warp(deadline + 1);
        _expectVerdictRevert(
            lateId,
            court,
            provider,
            completionUid,
            true,
            abi.encodeWithSelector(DeadlinePassed.selector, lateId, deadline)
        );
    }

    /// The court rules only on what was brought to it: not on a completed result, nor on a verdict nobody appealed.
    function test_ruling_refusedBeforeDispute() public {
        (bytes32 optimistic,, bytes32 optimisticUid) = completedDeal(newRequest());
        _expectVerdictRevert(
            optimistic,
            court,
            provider,
            optimisticUid,
            false,
            abi.encodeWithSelector(WrongAttester.selector, client, court)
        );
        (bytes32 validated,, bytes32 validatedUid) = completedDeal(newValidatorRequest());
        _expectVerdictRevert(
            validated,
            court,
            provider,
            validatedUid,
            false,
            abi.encodeWithSelector(WrongAttester.selector, validator, court)
        );
        (bytes32 judged,, bytes32 verdictUid) = judgedDeal(newValidatorRequest(), true);
        _expectVerdictRevert(
            judged,
            court,
            provider,
            verdictUid,
            false,
            abi.encodeWithSelector(UnexpectedStatus.selector, judged, uint8(Status.Judged))
        );
    }

    function test_ruling_givenOnce() public {
        (bytes32 dealId, bytes32 completionUid) = disputedDeal(newRequest());
        attestRuling(dealId, false);
        _expectVerdictRevert(
            dealId,
            court,
            provider,
            completionUid,
            true,
            abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Slashed))
        );
    }

    // -------------------------------------------------------------------------------------------------
    // Validator deals that end without a verdict: fee back to the client, stake back to the validator
    // -------------------------------------------------------------------------------------------------

    /// The client named the validator and so bought its check: approving before the verdict still pays the fee,
    /// so that approving first is no way to take it back from a validator that may have re-run the job already.
    function test_validatorDeal_clientApprovalPaysFeeAndReturnsStake() public {
        (bytes32 dealId,, bytes32 completionUid) = completedDeal(newValidatorRequest());
        _expectClose(dealId, Status.Settled, CloseReason.Approved);
        attestValidation(client, dealId, completionUid, true);
        _assertBalances(DEPOSITED - PRICE - VALIDATOR_FEE, DEPOSITED + PRICE, DEPOSITED + VALIDATOR_FEE, 0);
    }

    function test_validatorDeal_commencementTimeoutReturnsFeeAndStake() public {
        bytes32 dealId = acceptDefault(newValidatorRequest());
        vm.warp(market.getDeal(dealId).deadline + 1);
        _expectClose(dealId, Status.Slashed, CloseReason.CommencementTimeout);
        market.claimTimeout(dealId);
        _assertBalances(DEPOSITED + COLLATERAL, DEPOSITED - COLLATERAL, DEPOSITED, 0);
    }

    function test_validatorDeal_completionTimeoutReturnsFeeAndStake() public {
        (bytes32 dealId,) = commencedDeal(newValidatorRequest());
        vm.warp(market.getDeal(dealId).deadline + 1);
        _expectClose(dealId, Status.Slashed, CloseReason.CompletionTimeout);
        market.claimTimeout(dealId);
        _assertBalances(DEPOSITED + COLLATERAL, DEPOSITED - COLLATERAL, DEPOSITED, 0);
    }

    function test_validatorDeal_abortReturnsFeeAndStake() public {
        (bytes32 dealId,) = commencedDeal(newValidatorRequest());
        _expectClose(dealId, Status.Slashed, CloseReason.ProviderAborted);
        vm.prank(provider);
        market.abort(dealId);
        _assertBalances(DEPOSITED + COLLATERAL, DEPOSITED - COLLATERAL, DEPOSITED, 0);
    }

    /// The client locked price and fee, the validator its stake; the provider never came: both go back.
    function test_validatorDeal_collateralMissingReturnsPriceFeeAndStake() public {
        vm.prank(provider);
        market.withdraw(address(token), DEPOSITED);
        owedAtStart -= DEPOSITED;
        bytes32 dealId = acceptDefault(newValidatorRequest());
        assertEq(uint8(statusOf(dealId)), uint8(Status.AwaitingCollateral));
        _assertBalances(DEPOSITED - PRICE - VALIDATOR_FEE, 0, DEPOSITED - BOND, 0);
        _expectClose(dealId, Status.Unfunded, CloseReason.CollateralMissing);
        vm.prank(client);
        market.collateralMissing(dealId);
        _assertBalances(DEPOSITED, 0, DEPOSITED, 0);
    }

    /// The provider accepted the client's counter-offer and the client never paid: collateral and stake go back.
    function test_validatorDeal_paymentMissingReturnsCollateralAndStake() public {
        vm.prank(client);
        market.withdraw(address(token), DEPOSITED);
        owedAtStart -= DEPOSITED;
        Request memory req = newValidatorRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(clientKey, terms);
        vm.prank(provider);
        market.accept(req, terms, sig);
        assertEq(uint8(statusOf(dealId)), uint8(Status.AwaitingPayment));
        _assertBalances(0, DEPOSITED - COLLATERAL, DEPOSITED - BOND, 0);
        vm.warp(market.getDeal(dealId).deadline + 1);
        _expectClose(dealId, Status.Unfunded, CloseReason.CollateralMissing);
        vm.prank(stranger);
        market.collateralMissing(dealId);
        _assertBalances(0, DEPOSITED, DEPOSITED, 0);
    }

    /// Funding a validator deal's payment takes the price and the fee.
    function test_validatorDeal_fundingPaymentLocksPriceAndFee() public {
        vm.prank(client);
        market.withdraw(address(token), DEPOSITED);
        Request memory req = newValidatorRequest();
        bytes32 dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(clientKey, terms);
        vm.prank(provider);
        market.accept(req, terms, sig);
        uint256 wallet = token.balanceOf(client);
        vm.prank(client);
        market.fund(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
        assertEq(token.balanceOf(client), wallet - PRICE - VALIDATOR_FEE);
        assertSolvent(address(token));
    }

    // -------------------------------------------------------------------------------------------------
    // Unwound is terminal
    // -------------------------------------------------------------------------------------------------

    function test_unwound_isAbsorbing() public {
        Request memory req = newRequest();
        (bytes32 dealId, bytes32 completionUid) = disputedDeal(req);
        vm.warp(market.getDeal(dealId).deadline + 1);
        market.claimTimeout(dealId);
        vm.warp(block.timestamp + 365 days);
        bytes memory err = abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Unwound));
        _expectCallRevert(dealId, stranger, abi.encodeCall(IComputeMarket.claimTimeout, (dealId)), err);
        _expectCallRevert(dealId, stranger, abi.encodeCall(IComputeMarket.settle, (dealId)), err);
        _expectCallRevert(dealId, client, abi.encodeCall(IComputeMarket.dispute, (req)), err);
        _expectCallRevert(dealId, client, abi.encodeCall(IComputeMarket.appeal, (dealId)), err);
        _expectCallRevert(dealId, stranger, abi.encodeCall(IComputeMarket.escalate, (dealId)), err);
        _expectCallRevert(dealId, provider, abi.encodeCall(IComputeMarket.abort, (dealId)), err);
        _expectVerdictRevert(dealId, court, provider, completionUid, true, err);
        _expectVerdictRevert(dealId, client, provider, completionUid, true, err);
    }
}
