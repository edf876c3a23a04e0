// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { Vm } from "forge-std/Vm.sol";
import {
    Attestation,
    AttestationRequest,
    AttestationRequestData,
    MultiAttestationRequest,
    RevocationRequest,
    RevocationRequestData
} from "@ethereum-attestation-service/eas-contracts/contracts/IEAS.sol";
import { AccessDenied } from "@ethereum-attestation-service/eas-contracts/contracts/Common.sol";
import { ISchemaResolver } from "@ethereum-attestation-service/eas-contracts/contracts/resolver/ISchemaResolver.sol";

import { MarketTestBase } from "./Base.t.sol";
import { IComputeMarket } from "../../contracts/interfaces/IComputeMarket.sol";
import {
    AttestationMustNotExpire,
    DeadlinePassed,
    RejectionNeedsDispute,
    UnexpectedStatus,
    UnknownSchema,
    VerdictMissing,
    WrongAttester,
    WrongRecipient,
    WrongReference,
    ZeroResultHash
} from "../../contracts/Common.sol";
import { CloseReason, Deal, Status, Verdict } from "../../contracts/Types.sol";

/// @notice The EAS resolver: commencement, completion and validation attestations made on the real EAS.
contract AttestationsTest is MarketTestBase {
    // EAS's own errors live in EAS.sol, which the project's compiler cannot import (pinned pragma).
    bytes4 internal constant EAS_IRREVOCABLE = bytes4(keccak256("Irrevocable()"));
    bytes4 internal constant EAS_NOT_PAYABLE = bytes4(keccak256("NotPayable()"));
    bytes4 internal constant EAS_NOT_FOUND = bytes4(keccak256("NotFound()"));

    // -------------------------------------------------------------------------------------------------
    // Commencement
    // -------------------------------------------------------------------------------------------------

    function test_commencement_movesAgreedToCommenced() public {
        bytes32 dealId = acceptDefault();
        vm.warp(block.timestamp + 10 minutes);
        vm.expectEmit(true, false, false, false, address(market)); // the uid is only known afterwards
        emit IComputeMarket.Commenced(dealId, bytes32(0));
        bytes32 uid = attestCommencement(dealId);

        Deal memory d = market.getDeal(dealId);
        assertEq(uint8(d.status), uint8(Status.Commenced));
        assertEq(d.deadline, block.timestamp + JOB_DURATION);
        assertEq(d.lastAttestation, uid);
        // The attestation lives on EAS, readable by any EAS tool.
        Attestation memory a = eas.getAttestation(uid);
        assertEq(a.attester, provider);
        assertEq(a.recipient, client);
        assertEq(a.schema, commencementSchema);
        assertEq(abi.decode(a.data, (bytes32)), dealId);
    }

    function test_commencement_allowedAtExactDeadline() public {
        bytes32 dealId = acceptDefault();
        vm.warp(market.getDeal(dealId).deadline);
        attestCommencement(dealId);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Commenced));
    }

    function test_commencement_revertsAfterDeadline() public {
        bytes32 dealId = acceptDefault();
        uint40 deadline = market.getDeal(dealId).deadline;
        vm.warp(deadline + 1);
        _expectAttestRevert(
            dealId,
            provider,
            commencementSchema,
            client,
            bytes32(0),
            abi.encode(dealId),
            abi.encodeWithSelector(DeadlinePassed.selector, dealId, deadline)
        );
    }

    function test_commencement_revertsFromWrongAttester() public {
        bytes32 dealId = acceptDefault();
        bytes memory data = abi.encode(dealId);
        _expectAttestRevert(
            dealId,
            client,
            commencementSchema,
            client,
            0,
            data,
            abi.encodeWithSelector(WrongAttester.selector, provider, client)
        );
        _expectAttestRevert(
            dealId,
            stranger,
            commencementSchema,
            client,
            0,
            data,
            abi.encodeWithSelector(WrongAttester.selector, provider, stranger)
        );
    }

    function test_commencement_revertsForWrongRecipient() public {
        bytes32 dealId = acceptDefault();
        _expectAttestRevert(
            dealId,
            provider,
            commencementSchema,
            stranger,
            0,
            abi.encode(dealId),
            abi.encodeWithSelector(WrongRecipient.selector, client, stranger)
        );
    }

    function test_commencement_revertsWithReference() public {
        bytes32 other = acceptDefault();
        bytes32 otherUid = attestCommencement(other);
        bytes32 dealId = acceptDefault();
        _expectAttestRevert(
            dealId,
            provider,
            commencementSchema,
            client,
            otherUid,
            abi.encode(dealId),
            abi.encodeWithSelector(WrongReference.selector, bytes32(0), otherUid)
        );
    }

    function test_commencement_revertsWhenExpiring() public {
        bytes32 dealId = acceptDefault();
        Snapshot memory before = snapshot(dealId);
        vm.expectRevert(abi.encodeWithSelector(AttestationMustNotExpire.selector));
        attest(provider, commencementSchema, client, 0, uint64(block.timestamp + 30 days), abi.encode(dealId));
        assertUnchanged(before, dealId);
    }

    function test_commencement_replayReverts() public {
        (bytes32 dealId,) = commencedDeal(newRequest());
        _expectAttestRevert(
            dealId,
            provider,
            commencementSchema,
            client,
            0,
            abi.encode(dealId),
            abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Commenced))
        );
    }

    function test_commencement_revertsBeforeFundingOrForUnknownDeal() public {
        vm.prank(provider);
        market.withdraw(address(token), DEPOSITED);
        bytes32 dealId = acceptDefault(); // AwaitingCollateral
        _expectAttestRevert(
            dealId,
            provider,
            commencementSchema,
            client,
            0,
            abi.encode(dealId),
            abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.AwaitingCollateral))
        );
        bytes32 unknown = keccak256("unknown");
        _expectAttestRevert(
            unknown,
            provider,
            commencementSchema,
            client,
            0,
            abi.encode(unknown),
            abi.encodeWithSelector(UnexpectedStatus.selector, unknown, uint8(Status.None))
        );
    }

    function test_commencement_revertsForOpenRequest() public {
        bytes32 dealId = makeRequest(newRequest());
        _expectAttestRevert(
            dealId,
            provider,
            commencementSchema,
            client,
            0,
            abi.encode(dealId),
            abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.None))
        );
    }

    /// @dev Doubt, not a transition: malformed data fails in abi.decode with empty revert data rather than a
    /// named error. Nothing changes either way.
    function test_commencement_malformedDataReverts() public {
        bytes32 dealId = acceptDefault();
        Snapshot memory before = snapshot(dealId);
        vm.expectRevert();
        attest(provider, commencementSchema, client, 0, 0, hex"01");
        assertUnchanged(before, dealId);
    }

    // -------------------------------------------------------------------------------------------------
    // Completion
    // -------------------------------------------------------------------------------------------------

    function test_completion_movesCommencedToCompleted() public {
        (bytes32 dealId, bytes32 commencementUid) = commencedDeal(newRequest());
        vm.warp(block.timestamp + 1 hours);
        bytes32 resultHash = keccak256("result");
        vm.recordLogs();
        bytes32 uid = attestCompletion(dealId, commencementUid);

        Deal memory d = market.getDeal(dealId);
        assertEq(uint8(d.status), uint8(Status.Completed));
        assertEq(d.deadline, block.timestamp + VALIDATION_WINDOW);
        assertEq(d.lastAttestation, uid);
        assertEq(eas.getAttestation(uid).refUID, commencementUid);

        // Completed(dealId, attestation, resultHash, resultURI) carries the uid, the hash and the URI.
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bool seen;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(market) || logs[i].topics[0] != IComputeMarket.Completed.selector) continue;
            assertEq(logs[i].topics[1], dealId);
            (bytes32 loggedUid, bytes32 loggedHash, string memory loggedUri) =
                abi.decode(logs[i].data, (bytes32, bytes32, string));
            assertEq(loggedUid, uid);
            assertEq(loggedHash, resultHash);
            assertEq(loggedUri, RESULT_URI);
            seen = true;
        }
        assertTrue(seen, "Completed not emitted");
    }

    function test_completion_revertsReferencingAnotherDealsCommencement() public {
        (, bytes32 otherUid) = commencedDeal(newRequest());
        (bytes32 dealId, bytes32 ownUid) = commencedDeal(newRequest());
        _expectAttestRevert(
            dealId,
            provider,
            completionSchema,
            client,
            otherUid,
            completionData(dealId, keccak256("r")),
            abi.encodeWithSelector(WrongReference.selector, ownUid, otherUid)
        );
        _expectAttestRevert(
            dealId,
            provider,
            completionSchema,
            client,
            bytes32(0),
            completionData(dealId, keccak256("r")),
            abi.encodeWithSelector(WrongReference.selector, ownUid, bytes32(0))
        );
    }

    function test_completion_revertsOnUnknownReference() public {
        (bytes32 dealId,) = commencedDeal(newRequest());
        // EAS itself refuses a reference to an attestation it does not hold.
        _expectAttestRevert(
            dealId,
            provider,
            completionSchema,
            client,
            keccak256("nope"),
            completionData(dealId, keccak256("r")),
            abi.encodeWithSelector(EAS_NOT_FOUND)
        );
    }

    function test_completion_revertsOnZeroResultHash() public {
        (bytes32 dealId, bytes32 uid) = commencedDeal(newRequest());
        _expectAttestRevert(
            dealId,
            provider,
            completionSchema,
            client,
            uid,
            completionData(dealId, bytes32(0)),
            abi.encodeWithSelector(ZeroResultHash.selector)
        );
    }

    function test_completion_revertsFromWrongPartiesOrWhenExpiring() public {
        (bytes32 dealId, bytes32 uid) = commencedDeal(newRequest());
        bytes memory data = completionData(dealId, keccak256("r"));
        _expectAttestRevert(
            dealId,
            client,
            completionSchema,
            client,
            uid,
            data,
            abi.encodeWithSelector(WrongAttester.selector, provider, client)
        );
        _expectAttestRevert(
            dealId,
            provider,
            completionSchema,
            provider,
            uid,
            data,
            abi.encodeWithSelector(WrongRecipient.selector, client, provider)
        );
        Snapshot memory before = snapshot(dealId);
        vm.expectRevert(abi.encodeWithSelector(AttestationMustNotExpire.selector));
        attest(provider, completionSchema, client, uid, uint64(block.timestamp + 1), data);
        assertUnchanged(before, dealId);
    }

    function test_completion_revertsAfterDeadline() public {
        (bytes32 dealId, bytes32 uid) = commencedDeal(newRequest());
        uint40 deadline = market.getDeal(dealId).deadline;
        vm.warp(deadline + 1);
        _expectAttestRevert(
            dealId,
            provider,
            completionSchema,
            client,
            uid,
            completionData(dealId, keccak256("r")),
            abi.encodeWithSelector(DeadlinePassed.selector, dealId, deadline)
        );
    }

    function test_completion_revertsBeforeCommencementAndOnReplay() public {
        bytes32 agreed = acceptDefault();
        _expectAttestRevert(
            agreed,
            provider,
            completionSchema,
            client,
            0,
            completionData(agreed, keccak256("r")),
            abi.encodeWithSelector(UnexpectedStatus.selector, agreed, uint8(Status.Agreed))
        );

        (bytes32 dealId, bytes32 commencementUid,) = completedDeal(newRequest());
        _expectAttestRevert(
            dealId,
            provider,
            completionSchema,
            client,
            commencementUid,
            completionData(dealId, keccak256("r2")),
            abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Completed))
        );
    }

    // -------------------------------------------------------------------------------------------------
    // Validation: optimistic scheme (the client judges)
    // -------------------------------------------------------------------------------------------------

    function test_validation_optimistic_clientApproves() public {
        (bytes32 dealId,, bytes32 completionUid) = completedDeal(newRequest());
        uint256 owed = market.totalOwed(address(token));
        vm.expectEmit(address(market));
        emit IComputeMarket.Closed(dealId, Status.Settled, CloseReason.Approved);
        attestValidation(client, dealId, completionUid, true);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Settled));
        assertEq(market.available(address(token), provider), DEPOSITED + PRICE);
        assertEq(market.available(address(token), client), DEPOSITED - PRICE);
        assertEq(market.totalOwed(address(token)), owed);
        assertSolvent(address(token));
    }

    /// A client rejects only by disputing with a bond: a rejecting attestation is refused and changes nothing.
    function test_validation_optimistic_clientRejectionNeedsDispute() public {
        (bytes32 dealId,, bytes32 completionUid) = completedDeal(newRequest());
        _expectAttestRevert(
            dealId,
            client,
            validationSchema,
            provider,
            completionUid,
            abi.encode(dealId, false),
            abi.encodeWithSelector(RejectionNeedsDispute.selector)
        );
        assertEq(uint8(statusOf(dealId)), uint8(Status.Completed));
    }

    function test_validation_optimistic_revertsFromNonClient() public {
        (bytes32 dealId,, bytes32 uid) = completedDeal(newRequest());
        address[4] memory others = [provider, stranger, validator, court];
        for (uint256 i; i < others.length; ++i) {
            for (uint256 j; j < 2; ++j) {
                _expectAttestRevert(
                    dealId,
                    others[i],
                    validationSchema,
                    provider,
                    uid,
                    abi.encode(dealId, j == 0),
                    abi.encodeWithSelector(WrongAttester.selector, client, others[i])
                );
            }
        }
    }

    function test_validation_revertsForWrongRecipientOrReference() public {
        (bytes32 dealId, bytes32 commencementUid, bytes32 completionUid) = completedDeal(newRequest());
        _expectAttestRevert(
            dealId,
            client,
            validationSchema,
            client,
            completionUid,
            abi.encode(dealId, true),
            abi.encodeWithSelector(WrongRecipient.selector, provider, client)
        );
        _expectAttestRevert(
            dealId,
            client,
            validationSchema,
            provider,
            commencementUid,
            abi.encode(dealId, true),
            abi.encodeWithSelector(WrongReference.selector, completionUid, commencementUid)
        );
        // Another deal's completion does not validate this one.
        (,, bytes32 otherCompletion) = completedDeal(newRequest());
        _expectAttestRevert(
            dealId,
            client,
            validationSchema,
            provider,
            otherCompletion,
            abi.encode(dealId, true),
            abi.encodeWithSelector(WrongReference.selector, completionUid, otherCompletion)
        );
        Snapshot memory before = snapshot(dealId);
        vm.expectRevert(abi.encodeWithSelector(AttestationMustNotExpire.selector));
        attest(client, validationSchema, provider, completionUid, uint64(block.timestamp + 1), abi.encode(dealId, true));
        assertUnchanged(before, dealId);
    }

    function test_validation_windowBounds() public {
        (bytes32 dealId,, bytes32 uid) = completedDeal(newRequest());
        uint40 deadline = market.getDeal(dealId).deadline;
        vm.warp(deadline + 1);
        _expectAttestRevert(
            dealId,
            client,
            validationSchema,
            provider,
            uid,
            abi.encode(dealId, true),
            abi.encodeWithSelector(DeadlinePassed.selector, dealId, deadline)
        );

        (bytes32 id2,, bytes32 uid2) = completedDeal(newRequest());
        vm.warp(market.getDeal(id2).deadline); // the last second of the window still counts
        attestValidation(client, id2, uid2, true);
        assertEq(uint8(statusOf(id2)), uint8(Status.Settled));
    }

    function test_validation_revertsBeforeCompletion() public {
        (bytes32 dealId, bytes32 uid) = commencedDeal(newRequest());
        _expectAttestRevert(
            dealId,
            client,
            validationSchema,
            provider,
            uid,
            abi.encode(dealId, false),
            abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Commenced))
        );
    }

    function test_validation_replayReverts() public {
        (bytes32 dealId,, bytes32 uid) = completedDeal(newRequest());
        attestValidation(client, dealId, uid, true);
        // Neither a second verdict nor a change of mind can settle the deal again.
        _expectAttestRevert(
            dealId,
            client,
            validationSchema,
            provider,
            uid,
            abi.encode(dealId, true),
            abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Settled))
        );
        _expectAttestRevert(
            dealId,
            client,
            validationSchema,
            provider,
            uid,
            abi.encode(dealId, false),
            abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Settled))
        );
        vm.warp(block.timestamp + 30 days);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, dealId, uint8(Status.Settled)));
        market.settle(dealId);
    }

    // -------------------------------------------------------------------------------------------------
    // Validation: validator scheme
    // -------------------------------------------------------------------------------------------------

    /// The validator's verdict is not carried out at once: the deal is Judged, appealable for a validation window,
    /// and no money moves until it is settled (Disputes.t.sol follows it to the end).
    function test_validation_validatorApproves() public {
        _assertVerdictJudges(true);
    }

    function test_validation_validatorRejects() public {
        _assertVerdictJudges(false);
    }

    function _assertVerdictJudges(bool approved) private {
        (bytes32 dealId,, bytes32 uid) = completedDeal(newValidatorRequest());
        assertEq(market.getDeal(dealId).validator, validator);
        Snapshot memory before = snapshot(dealId);
        vm.warp(block.timestamp + 1 hours);
        vm.expectEmit(true, false, false, false, address(market)); // the verdict's uid is only known afterwards
        emit IComputeMarket.Judged(dealId, bytes32(0), approved);
        vm.recordLogs();
        bytes32 verdictUid = attestValidation(validator, dealId, uid, approved);

        Deal memory d = market.getDeal(dealId);
        assertEq(uint8(d.status), uint8(Status.Judged));
        assertEq(uint8(d.verdict), uint8(approved ? Verdict.Approved : Verdict.Rejected));
        assertEq(d.deadline, block.timestamp + VALIDATION_WINDOW); // the appeal window
        assertEq(d.lastAttestation, verdictUid);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bool seen;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(market) || logs[i].topics[0] != IComputeMarket.Judged.selector) continue;
            assertEq(keccak256(logs[i].data), keccak256(abi.encode(verdictUid, approved)));
            seen = true;
        }
        assertTrue(seen, "Judged not emitted");
        assertEq(availableOf(client), before.clientAvailable);
        assertEq(availableOf(provider), before.providerAvailable);
        assertEq(availableOf(validator), before.validatorAvailable);
        assertEq(market.totalOwed(address(token)), before.totalOwed);
    }

    /// The client may approve instead of the validator: the validator, whose verdict was not needed, gets its
    /// stake back and the client its fee.
    function test_validation_validatorScheme_clientMayApprove() public {
        (bytes32 dealId,, bytes32 uid) = completedDeal(newValidatorRequest());
        vm.expectEmit(address(market));
        emit IComputeMarket.Closed(dealId, Status.Settled, CloseReason.Approved);
        attestValidation(client, dealId, uid, true);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Settled));
        assertEq(availableOf(provider), DEPOSITED + PRICE);
        // The client bought the check when it named the validator: approving first does not take the fee back.
        assertEq(availableOf(client), DEPOSITED - PRICE - VALIDATOR_FEE);
        assertEq(availableOf(validator), DEPOSITED + VALIDATOR_FEE);
        assertSolvent(address(token));
    }

    function test_validation_validatorScheme_clientCannotReject() public {
        (bytes32 dealId,, bytes32 uid) = completedDeal(newValidatorRequest());
        _expectAttestRevert(
            dealId,
            client,
            validationSchema,
            provider,
            uid,
            abi.encode(dealId, false),
            abi.encodeWithSelector(WrongAttester.selector, validator, client)
        );
        _expectAttestRevert(
            dealId,
            stranger,
            validationSchema,
            provider,
            uid,
            abi.encode(dealId, false),
            abi.encodeWithSelector(WrongAttester.selector, validator, stranger)
        );
        _expectAttestRevert(
            dealId,
            provider,
            validationSchema,
            provider,
            uid,
            abi.encode(dealId, true),
            abi.encodeWithSelector(WrongAttester.selector, validator, provider)
        );
    }

    /// A silent validator does not let the deal settle: it goes to the court (escalate, Disputes.t.sol).
    function test_validation_validatorScheme_silenceDoesNotSettle() public {
        (bytes32 dealId,,) = completedDeal(newValidatorRequest());
        vm.warp(market.getDeal(dealId).deadline + 1);
        Snapshot memory before = snapshot(dealId);
        vm.expectRevert(abi.encodeWithSelector(VerdictMissing.selector, dealId));
        market.settle(dealId);
        assertUnchanged(before, dealId);
    }

    // -------------------------------------------------------------------------------------------------
    // Foreign attestations and EAS plumbing
    // -------------------------------------------------------------------------------------------------

    function test_unknownSchemaWithMarketAsResolver() public {
        bytes32 dealId = acceptDefault();
        // Anyone may register a schema naming the market as resolver: its attestations move nothing.
        vm.prank(stranger);
        bytes32 foreign = registry.register("bytes32 dealId", ISchemaResolver(address(market)), true);
        vm.prank(stranger);
        bytes32 lookalike =
            registry.register("bytes32 dealId,bool approved,uint8 x", ISchemaResolver(address(market)), false);
        _expectAttestRevert(
            dealId,
            provider,
            foreign,
            client,
            0,
            abi.encode(dealId),
            abi.encodeWithSelector(UnknownSchema.selector, foreign)
        );
        _expectAttestRevert(
            dealId,
            provider,
            lookalike,
            client,
            0,
            abi.encode(dealId, true, uint8(0)),
            abi.encodeWithSelector(UnknownSchema.selector, lookalike)
        );
    }

    function test_resolverOnlyAnswersEAS() public {
        bytes32 dealId = acceptDefault();
        Attestation memory fake;
        fake.uid = keccak256("fake");
        fake.schema = commencementSchema;
        fake.recipient = client;
        fake.attester = provider;
        fake.data = abi.encode(dealId);
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(AccessDenied.selector));
        market.attest(fake);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
    }

    function test_attestationsAreIrrevocable() public {
        (bytes32 dealId, bytes32 uid) = commencedDeal(newRequest());
        // A revocable attestation is refused by EAS for the market's schemas...
        vm.expectRevert(abi.encodeWithSelector(EAS_IRREVOCABLE));
        vm.prank(provider);
        eas.attest(_request(completionSchema, client, uid, completionData(dealId, keccak256("r")), true));
        // ...and so is revoking the commencement the deal relies on.
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(EAS_IRREVOCABLE));
        eas.revoke(
            RevocationRequest({ schema: commencementSchema, data: RevocationRequestData({ uid: uid, value: 0 }) })
        );
        assertEq(eas.getAttestation(uid).revocationTime, 0);
    }

    function test_attestationWithValueIsRefused() public {
        bytes32 dealId = acceptDefault();
        vm.deal(provider, 1 ether);
        AttestationRequestData memory data = AttestationRequestData({
            recipient: client, expirationTime: 0, revocable: false, refUID: 0, data: abi.encode(dealId), value: 1 ether
        });
        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(EAS_NOT_PAYABLE));
        eas.attest{ value: 1 ether }(_wrap(commencementSchema, data));
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
    }

    function test_multiAttest_goesThroughTheSameChecks() public {
        bytes32 a = acceptDefault();
        bytes32 b = acceptDefault();
        MultiAttestationRequest[] memory reqs = new MultiAttestationRequest[](1);
        reqs[0].schema = commencementSchema;
        reqs[0].data = new AttestationRequestData[](2);
        reqs[0].data[0] = _data(client, 0, abi.encode(a));
        reqs[0].data[1] = _data(client, 0, abi.encode(a)); // the same deal twice: the second is a replay

        vm.prank(provider);
        vm.expectRevert(abi.encodeWithSelector(UnexpectedStatus.selector, a, uint8(Status.Commenced)));
        eas.multiAttest(reqs);
        assertEq(uint8(statusOf(a)), uint8(Status.Agreed)); // all or nothing

        reqs[0].data[1] = _data(client, 0, abi.encode(b));
        vm.prank(provider);
        eas.multiAttest(reqs);
        assertEq(uint8(statusOf(a)), uint8(Status.Commenced));
        assertEq(uint8(statusOf(b)), uint8(Status.Commenced));
    }

    // -------------------------------------------------------------------------------------------------
    // Helpers
    // -------------------------------------------------------------------------------------------------

    /// @dev Expects the attestation to revert with `err` and the deal and balances to stay as they were.
    function _expectAttestRevert(
        bytes32 dealId,
        address attester,
        bytes32 schema,
        address recipient,
        bytes32 refUID,
        bytes memory data,
        bytes memory err
    ) private {
        Snapshot memory before = snapshot(dealId);
        vm.expectRevert(err);
        attest(attester, schema, recipient, refUID, 0, data);
        assertUnchanged(before, dealId);
    }

    function _data(address recipient, bytes32 refUID, bytes memory data)
        private
        pure
        returns (AttestationRequestData memory)
    {
        return AttestationRequestData({
            recipient: recipient, expirationTime: 0, revocable: false, refUID: refUID, data: data, value: 0
        });
    }

    function _request(bytes32 schema, address recipient, bytes32 refUID, bytes memory data, bool revocable)
        private
        pure
        returns (AttestationRequest memory r)
    {
        AttestationRequestData memory d = _data(recipient, refUID, data);
        d.revocable = revocable;
        r = _wrap(schema, d);
    }

    function _wrap(bytes32 schema, AttestationRequestData memory d) private pure returns (AttestationRequest memory) {
        return AttestationRequest({ schema: schema, data: d });
    }
}
