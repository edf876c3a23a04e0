"""The scheme's messages as the market carries them: one table, one entry per `Performative`.

Each entry says what the message is on chain (a market function, or an EAS attestation on one of the
market's three schemas, which EAS passes to the market as resolver), the event it comes back as, how its
call arguments are built from a `Reply` and its deal, and its gas limit. Everything that translates
between messages and transactions reads this table: the event decoder (`message_from_event`, used by the
runtime's feed), the transaction builder (`MarketCalls`, used by the agents' outbox), the history reader
(`MARKET_EVENTS`) and the Ape test client (`agents.testing.market_client`). Which message may follow
which is the scheme's state machine, `agents.protocol.SCHEME`.

Gas limits are fixed per message rather than estimated: estimation costs a round trip on the reply path,
and unused gas is not charged. They sit well above the measured figures (gas-snapshot.json).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Protocol

from eth_abi import encode

from agents.chain.codec import ContractCodec
from agents.policy import Reply
from agents.protocol import (
    COMMENCEMENT_SCHEMA,
    COMPLETION_SCHEMA,
    VALIDATION_SCHEMA,
    CloseReason,
    Domain,
    Message,
    Performative,
    Request,
    typed_hash,
)

ZERO_BYTES32 = b"\x00" * 32
MAX_UINT256 = 2**256 - 1


class Schema(Enum):
    """The market's EAS schemas. The client's approval, a validator's verdict and the court's ruling are all
    validation attestations."""

    COMMENCEMENT = COMMENCEMENT_SCHEMA
    COMPLETION = COMPLETION_SCHEMA
    VALIDATION = VALIDATION_SCHEMA

    @property
    def types(self) -> list[str]:
        return [field.split()[0] for field in self.value.split(",")]

    @property
    def uid_view(self) -> str:
        """The market's view function that returns this schema's UID."""
        return f"{self.name.lower()}SchemaUID"

    def encode(self, values: tuple) -> bytes:
        return encode(self.types, list(values))


def attestation_request(schema_uid: bytes, recipient: str, ref_uid: bytes, data: bytes) -> tuple:
    """EAS's `AttestationRequest` for a market attestation: no expiry, not revocable, no value."""
    return (schema_uid, (recipient, 0, False, ref_uid, data, 0))


class Deal(Protocol):
    """What a payload reads from the deal a message belongs to. A `policy.Dialogue` has all of it; the test
    client passes just the facts it was given."""

    @property
    def request(self) -> Request | None: ...
    @property
    def client(self) -> str | None: ...
    @property
    def provider(self) -> str | None: ...
    @property
    def commencement_uid(self) -> bytes | None: ...
    @property
    def completion_uid(self) -> bytes | None: ...
    @property
    def verdict_uid(self) -> bytes | None: ...


@dataclass(frozen=True)
class MessageSpec:
    """One scheme message on chain.

    `payload(reply, deal)` gives a market function's call arguments, or for an attestation
    `(recipient, ref_uid, schema data values)`."""

    performative: Performative
    event: str  # the market event it comes back as
    payload: Callable[[Reply, Deal | None], tuple]
    gas: int
    function: str | None = None  # the market function that sends it ...
    # ... and, for an acceptance that leaves the signer's side awaited (`Reply.await_signer`), the one that does.
    awaiting_function: str | None = None
    schema: Schema | None = None  # ... or the schema of the attestation that sends it
    close_reasons: tuple[CloseReason, ...] = ()  # the reasons a `Closed` event gives for it
    sender_field: str | None = None  # the event argument naming who sent it, where the event has one
    signed: bool = False  # the sender signs the offer (EIP-712) and the signature is an argument
    gas_per_uri_word: int = 0  # EAS stores the result URI: about 22k gas per 32-byte word
    # A request's transaction is recorded without its deal: the deal exists once the event is seen.
    records_deal: bool = True

    def gas_limit(self, reply: Reply) -> int:
        if not self.gas_per_uri_word:
            return self.gas
        return self.gas + self.gas_per_uri_word * math.ceil(len(reply.result_uri.encode()) / 32)

    def attestation(self, reply: Reply, deal: Deal | None, schema_uid: bytes) -> tuple:
        """The `AttestationRequest` of an attested message."""
        recipient, ref_uid, values = self.payload(reply, deal)
        return attestation_request(schema_uid, recipient, ref_uid, self.schema.encode(values))


def _deal_id(reply: Reply, deal: Deal | None) -> tuple:
    return (reply.deal_id,)


def _table(*specs: MessageSpec) -> Mapping[Performative, MessageSpec]:
    table = {spec.performative: spec for spec in specs}
    assert set(table) == set(Performative), "every message needs an entry"
    return table


P, R = Performative, CloseReason
MESSAGES: Mapping[Performative, MessageSpec] = _table(
    # Negotiation: requests and offers are events only; accepting stores the deal.
    MessageSpec(P.REQUEST, "Requested", function="request", gas=150_000, sender_field="client", records_deal=False,
                payload=lambda r, d: (r.request.as_tuple(), r.spec_uri, list(r.invited))),
    MessageSpec(P.CANCEL_REQUEST, "Closed", close_reasons=(R.CANCELLED,), function="cancelRequest", gas=100_000,
                payload=lambda r, d: (d.request.as_tuple(),)),
    MessageSpec(P.OFFER, "Offered", function="offer", gas=90_000, sender_field="signer", signed=True,
                payload=lambda r, d: (r.offer.as_tuple(), r.signature)),
    MessageSpec(P.CANCEL_OFFER, "OfferCancelled", function="cancelOffer", gas=90_000, sender_field="signer",
                payload=lambda r, d: (r.offer.as_tuple(),)),
    # Agents accept when the signer's side locks now: `acceptFunded` reverts rather than leave a deal waiting for
    # collateral or payment. A reply that chooses to wait for the signer (`await_signer`) calls plain `accept`
    # (same payload): the deal is agreed, or awaits the signer's funding until its commencement deadline.
    MessageSpec(P.ACCEPT, "Accepted", function="acceptFunded", awaiting_function="accept", gas=300_000,
                payload=lambda r, d: (d.request.as_tuple(), r.offer.as_tuple(), r.signature)),
    MessageSpec(P.FUND, "Funded", function="fund", gas=150_000, payload=_deal_id),
    MessageSpec(P.COLLATERAL_MISSING, "Closed", close_reasons=(R.COLLATERAL_MISSING,), function="collateralMissing",
                gas=100_000, payload=_deal_id),
    # Work and its validation, attested through EAS.
    MessageSpec(P.COMMENCE, "Commenced", schema=Schema.COMMENCEMENT, gas=400_000,
                payload=lambda r, d: (d.client, ZERO_BYTES32, (r.deal_id,))),
    MessageSpec(P.COMPLETE, "Completed", schema=Schema.COMPLETION, gas=450_000, gas_per_uri_word=25_000,
                payload=lambda r, d: (d.client, d.commencement_uid, (r.deal_id, r.result_hash, r.result_uri))),
    MessageSpec(P.APPROVE, "Closed", close_reasons=(R.APPROVED,), schema=Schema.VALIDATION, gas=450_000,
                payload=lambda r, d: (d.provider, d.completion_uid, (r.deal_id, True))),
    MessageSpec(P.VERDICT, "Judged", schema=Schema.VALIDATION, gas=450_000,
                payload=lambda r, d: (d.provider, d.completion_uid, (r.deal_id, r.approved))),
    # Disputes go to the court, which rules on the deal's latest attestation (the verdict, if any).
    MessageSpec(P.DISPUTE, "Disputed", function="dispute", gas=150_000, sender_field="client",
                payload=lambda r, d: (d.request.as_tuple(),)),
    MessageSpec(P.APPEAL, "Appealed", function="appeal", gas=150_000, sender_field="appellant", payload=_deal_id),
    MessageSpec(P.ESCALATE, "Escalated", function="escalate", gas=100_000, payload=_deal_id),
    MessageSpec(P.RULING, "Closed", close_reasons=(R.COURT_APPROVED, R.COURT_REJECTED), schema=Schema.VALIDATION,
                gas=450_000,
                payload=lambda r, d: (d.provider, d.verdict_uid or d.completion_uid, (r.deal_id, r.approved))),
    # Termination.
    MessageSpec(P.SETTLE, "Closed", close_reasons=(R.VALIDATION_WINDOW_PASSED, R.VERDICT_APPROVED, R.VERDICT_REJECTED),
                function="settle", gas=100_000, payload=_deal_id),
    MessageSpec(P.CLAIM_TIMEOUT, "Closed", close_reasons=(R.COMMENCEMENT_TIMEOUT, R.COMPLETION_TIMEOUT,
                                                          R.COURT_TIMEOUT),
                function="claimTimeout", gas=100_000, payload=_deal_id),
    MessageSpec(P.ABORT, "Closed", close_reasons=(R.PROVIDER_ABORTED,), function="abort", gas=100_000,
                payload=_deal_id),
)
del P, R

# ------------------------------------------------------------------------------------------------------
# Events -> messages
# ------------------------------------------------------------------------------------------------------

# Every market event that is a scheme message (what the history reader decodes).
MARKET_EVENTS: tuple[str, ...] = tuple(dict.fromkeys(spec.event for spec in MESSAGES.values()))
_BY_EVENT = {spec.event: spec for spec in MESSAGES.values() if not spec.close_reasons}
_BY_CLOSE_REASON = {reason: spec for spec in MESSAGES.values() for reason in spec.close_reasons}
assert len(_BY_CLOSE_REASON) == len(CloseReason), "every way of closing a deal is a message"


def message_from_event(name: str, args: dict, log: dict, received_at: float) -> Message | None:
    """The scheme message a decoded market event is, or None for an event that is none (escrow moves)."""
    return message_from_args(name, args, int(log["blockNumber"], 16), int(log.get("blockTimestamp", "0x0"), 16),
                             int(log["logIndex"], 16), received_at)


def message_from_args(name: str, args: dict, block: int, time: int, log_index: int, received_at: float
                      ) -> Message | None:
    """The scheme message of a market event given by name and decoded arguments (the memory backend's events
    come this way, with no log to decode), or None for an event that is none."""
    if name == "Closed":
        spec = _BY_CLOSE_REASON[CloseReason(args["reason"])]
    else:
        spec = _BY_EVENT.get(name)
        if spec is None:
            return None
    sender = args.get(spec.sender_field) if spec.sender_field else None
    return Message(spec.performative, args.get("dealId"), sender, args, block, time, (block, log_index), received_at)


# ------------------------------------------------------------------------------------------------------
# Messages -> transactions
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """A transaction to send: where, what, how much gas, and what it is for (recorded with it)."""

    to: str
    data: bytes  # the calldata; empty where the builder does not encode (`MarketCalls.encode`)
    gas: int
    kind: str
    deal_id: bytes | None = None
    # The same call unencoded, for a backend that executes calls in memory: the function and its arguments.
    function: str = ""
    args: tuple = ()


@dataclass(frozen=True)
class MarketCalls:
    """Builds the transactions of one deployed market: every scheme message, and the escrow calls that
    fund an account (approve the token, deposit, withdraw)."""

    domain: Domain
    eas: str
    token: str
    schema_uids: Mapping[Schema, bytes]
    market_codec: ContractCodec
    eas_codec: ContractCodec
    token_codec: ContractCodec
    encode: bool = True  # build calldata (a chain's transactions); a memory backend runs `function` and `args`

    @property
    def market(self) -> str:
        return self.domain.market

    def message(self, reply: Reply, deal: Deal | None, sign_digest: Callable[[bytes], bytes]) -> Call:
        """The transaction that sends `reply`; `sign_digest` signs an offer's EIP-712 hash as the sender."""
        spec = MESSAGES[reply.performative]
        if spec.signed:
            reply = replace(reply, signature=sign_digest(typed_hash(self.domain, reply.offer)))
        if spec.function is not None:
            function = spec.awaiting_function if reply.await_signer and spec.awaiting_function else spec.function
            to, codec, args = self.market, self.market_codec, spec.payload(reply, deal)
        else:
            function, to, codec = "attest", self.eas, self.eas_codec
            args = (spec.attestation(reply, deal, self.schema_uids[spec.schema]),)
        deal_id = reply.deal_id if spec.records_deal else None
        return self._call(to, codec, function, args, spec.gas_limit(reply), reply.performative.value, deal_id)

    def _call(self, to: str, codec: ContractCodec, function: str, args: tuple, gas: int, kind: str,
              deal_id: bytes | None = None) -> Call:
        data = codec.encode_call(function, *args) if self.encode else b""
        return Call(to, data, gas, kind, deal_id, function, args)

    def approve_token(self, amount: int = MAX_UINT256) -> Call:
        return self._call(self.token, self.token_codec, "approve", (self.market, amount), 80_000, "approve")

    def deposit(self, amount: int) -> Call:
        # The escrow's very first deposit of a token also lists the token for `skim` (about 173k in all).
        return self._call(self.market, self.market_codec, "deposit", (self.token, amount), 250_000, "deposit")

    def withdraw(self, amount: int) -> Call:
        return self._call(self.market, self.market_codec, "withdraw", (self.token, amount), 100_000, "withdraw")
