"""The market as EAS's resolver of its three schemas: ComputeMarket's onAttest and the transitions it routes to.

EAS hands an attestation to the market only after its own checks (attestations.py); the market then checks that
it comes from the right party, names the right recipient, references the deal's previous attestation and is in
time, and moves the deal on. `ComputeMarket` (market.py) is this resolver, as the contract is a SchemaResolver.
"""

from __future__ import annotations

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError

from agents.chain.scheme import Schema
from agents.memory.attestations import Attestation, AttestationService
from agents.memory.deal import Deal
from agents.memory.evm import NO_DATA, ZERO_ADDRESS, ZERO_BYTES32, Revert, checked_add
from agents.memory.payouts import Payouts
from agents.protocol import Status, Verdict, schema_uid


class MarketResolver:
    """The resolver half of the market. The deal store (`_deal`), the checks (`_expect_status`,
    `_before_deadline`), the events (`_emit`) and the payouts (`_payouts`) are the market's own (market.py)."""

    address: str
    court: str
    _payouts: Payouts

    def register_schemas(self, attestations: AttestationService) -> None:
        """The constructor's _registerSchema: the three schemas, irrevocable, with this market as resolver."""
        self.schema_uids = {kind: schema_uid(kind.value, self.address, False) for kind in Schema}
        self._schema_kinds = {uid: kind for kind, uid in self.schema_uids.items()}
        for uid in self._schema_kinds:
            attestations.register(uid, self, revocable=False)

    def on_attest(self, attestation: Attestation, value: int) -> None:
        """onAttest: routes an attestation of one of the market's schemas to its transition."""
        if attestation.expiration_time != 0:
            raise Revert("AttestationMustNotExpire")
        kind = self._schema_kinds.get(attestation.schema)
        if kind is None:
            raise Revert("UnknownSchema", schema=attestation.schema)
        values = _decode_attestation_data(kind, attestation.data)
        {Schema.COMMENCEMENT: self._on_commencement, Schema.COMPLETION: self._on_completion,
         Schema.VALIDATION: self._on_validation}[kind](attestation, *values)

    def _on_commencement(self, attestation: Attestation, deal_id: bytes) -> None:
        """_onCommencement: Agreed -> Commenced; the provider attests that work began (no reference: it opens
        the deal's chain of attestations)."""
        deal = self._deal(deal_id)
        self._expect_status(deal_id, deal.status, Status.AGREED)
        self._expect_parties(attestation, deal.provider, deal.client)
        if attestation.ref_uid != ZERO_BYTES32:
            raise Revert("WrongReference", expected=ZERO_BYTES32, actual=attestation.ref_uid)
        now = self._before_deadline(deal_id, deal)
        deadline = checked_add(now, deal.job_duration, 40)
        deal.status, deal.deadline, deal.last_attestation = Status.COMMENCED, deadline, attestation.uid
        self._emit("Commenced", dealId=deal_id, attestation=attestation.uid)

    def _on_completion(self, attestation: Attestation, deal_id: bytes, result_hash: bytes, result_uri: str) -> None:
        """_onCompletion: Commenced -> Completed; the provider attests the result, referencing its commencement."""
        deal = self._deal(deal_id)
        self._expect_status(deal_id, deal.status, Status.COMMENCED)
        self._expect_parties(attestation, deal.provider, deal.client)
        self._expect_reference(attestation, deal)
        if result_hash == ZERO_BYTES32:
            raise Revert("ZeroResultHash")
        now = self._before_deadline(deal_id, deal)
        deadline = checked_add(now, deal.validation_window, 40)
        deal.status, deal.deadline, deal.last_attestation = Status.COMPLETED, deadline, attestation.uid
        self._emit("Completed", dealId=deal_id, attestation=attestation.uid, resultHash=result_hash,
                   resultURI=result_uri)

    def _on_validation(self, attestation: Attestation, deal_id: bytes, approved: bool) -> None:
        """_onValidation: a verdict on a result. Completed: the client approves (-> Settled; it rejects only by
        `dispute`), or the validator gives its verdict (-> Judged, appealable). Disputed: the court rules."""
        deal = self._deal(deal_id)
        status, attester, validator = deal.status, attestation.attester, deal.validator
        if status == Status.COMPLETED:
            if attester == deal.client:
                if not approved:
                    if validator == ZERO_ADDRESS:
                        raise Revert("RejectionNeedsDispute")
                    raise Revert("WrongAttester", expected=validator, actual=attester)
            elif attester != validator or validator == ZERO_ADDRESS:
                raise Revert("WrongAttester", expected=deal.client if validator == ZERO_ADDRESS else validator,
                             actual=attester)
        elif status == Status.DISPUTED:
            if attester != self.court:
                raise Revert("WrongAttester", expected=self.court, actual=attester)
        else:
            raise Revert("UnexpectedStatus", dealId=deal_id, status=status)
        if attestation.recipient != deal.provider:
            raise Revert("WrongRecipient", expected=deal.provider, actual=attestation.recipient)
        self._expect_reference(attestation, deal)
        now = self._before_deadline(deal_id, deal)

        if status == Status.DISPUTED:
            self._payouts.rule(deal_id, deal, approved)
        elif attester == deal.client:
            self._payouts.approve_by_client(deal_id, deal)
        else:
            deadline = checked_add(now, deal.validation_window, 40)  # the appeal window
            deal.status, deal.deadline = Status.JUDGED, deadline
            deal.verdict = Verdict.APPROVED if approved else Verdict.REJECTED
            deal.last_attestation = attestation.uid
            self._emit("Judged", dealId=deal_id, attestation=attestation.uid, approved=approved)

    @staticmethod
    def _expect_parties(attestation: Attestation, attester: str, recipient: str) -> None:
        if attestation.attester != attester:
            raise Revert("WrongAttester", expected=attester, actual=attestation.attester)
        if attestation.recipient != recipient:
            raise Revert("WrongRecipient", expected=recipient, actual=attestation.recipient)

    @staticmethod
    def _expect_reference(attestation: Attestation, deal: Deal) -> None:
        if attestation.ref_uid != deal.last_attestation:
            raise Revert("WrongReference", expected=deal.last_attestation, actual=attestation.ref_uid)


def _decode_attestation_data(kind: Schema, data: bytes) -> tuple:
    """abi.decode of an attestation's data as its schema's values; data that does not decode reverts without
    data, as abi.decode does."""
    try:
        values = abi_decode(kind.types, data)
    except (DecodingError, ValueError):
        raise Revert(NO_DATA) from None
    return values
