"""The scheme as data: the contracts' enums, request and offer terms, and their EIP-712 hashing.

This module mirrors `contracts/Types.sol` and `ComputeMarket`'s typehashes. It has no chain access, so
agents can hash, sign and check messages locally, and the tests can model the scheme in pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum, IntEnum
from functools import cached_property, lru_cache
from typing import Any

from eth_abi import encode
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils import to_checksum_address as _to_checksum_address

from agents.keccak import keccak256


@lru_cache(maxsize=1 << 16)
def to_checksum_address(address: str) -> str:
    """EIP-55 checksummed address, memoised: a market has few addresses and they recur in every event."""
    return _to_checksum_address(address)


DOMAIN_NAME = "ComputeMarket"
DOMAIN_VERSION = "1"

COMMENCEMENT_SCHEMA = "bytes32 dealId"
COMPLETION_SCHEMA = "bytes32 dealId,bytes32 resultHash,string resultURI"
VALIDATION_SCHEMA = "bytes32 dealId,bool approved"


class ValidationScheme(IntEnum):
    OPTIMISTIC = 0
    VALIDATOR = 1


class Status(IntEnum):
    NONE = 0
    CANCELLED = 1
    AWAITING_COLLATERAL = 2
    AWAITING_PAYMENT = 3
    AGREED = 4
    COMMENCED = 5
    COMPLETED = 6
    SETTLED = 7
    SLASHED = 8
    UNFUNDED = 9
    JUDGED = 10
    DISPUTED = 11
    UNWOUND = 12

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({Status.CANCELLED, Status.SETTLED, Status.SLASHED, Status.UNFUNDED, Status.UNWOUND})


class Verdict(IntEnum):
    """A validator's verdict on a result, as the deal stores it."""

    NONE = 0
    APPROVED = 1
    REJECTED = 2


class CloseReason(IntEnum):
    CANCELLED = 0
    COLLATERAL_MISSING = 1
    APPROVED = 2  # by the client
    VALIDATION_WINDOW_PASSED = 3
    COMMENCEMENT_TIMEOUT = 4
    COMPLETION_TIMEOUT = 5
    PROVIDER_ABORTED = 6
    VERDICT_APPROVED = 7  # the validator's approval stood
    VERDICT_REJECTED = 8  # the validator's rejection stood
    COURT_APPROVED = 9
    COURT_REJECTED = 10
    COURT_TIMEOUT = 11


def _eip712_types(cls) -> list[dict[str, str]]:
    return [{"name": f.name, "type": f.metadata_type} for f in cls.FIELDS]


@dataclass(frozen=True)
class _Field:
    name: str
    metadata_type: str


def _field_values(value) -> tuple:
    """The field values in order: `dataclasses.astuple` without the deep copy immutable values do not need."""
    return tuple(getattr(value, name) for name in _FIELD_NAMES[type(value)])


@dataclass(frozen=True)
class Request:
    """A client's request for compute; its EIP-712 hash is the deal id."""

    client: str
    token: str
    max_price: int
    min_collateral: int
    offer_deadline: int
    commence_within: int
    job_duration: int
    validation_window: int
    scheme: ValidationScheme
    validator: str
    validator_fee: int  # paid by the client to the validator for a verdict that stands (0 when optimistic)
    bond: int  # posted to take a result to the court; staked by the validator at acceptance
    spec_hash: bytes
    nonce: int

    FIELDS = (
        _Field("client", "address"),
        _Field("token", "address"),
        _Field("maxPrice", "uint96"),
        _Field("minCollateral", "uint96"),
        _Field("offerDeadline", "uint40"),
        _Field("commenceWithin", "uint24"),
        _Field("jobDuration", "uint24"),
        _Field("validationWindow", "uint24"),
        _Field("scheme", "uint8"),
        _Field("validator", "address"),
        _Field("validatorFee", "uint96"),
        _Field("bond", "uint96"),
        _Field("specHash", "bytes32"),
        _Field("nonce", "uint64"),
    )

    def as_tuple(self) -> tuple:
        """The ABI tuple the contract takes as `Request calldata`."""
        return _field_values(self)

    def message(self) -> dict:
        return {f.name: value for f, value in zip(self.FIELDS, self.as_tuple())}

    @classmethod
    def from_tuple(cls, values) -> "Request":
        values = list(values)
        values[0], values[1], values[9] = (to_checksum_address(values[i]) for i in (0, 1, 9))
        values[8] = ValidationScheme(values[8])
        values[12] = bytes(values[12])
        return cls(*values)


@dataclass(frozen=True)
class Offer:
    """Terms answering a request: signed by the provider (offer) or by the client (counter-offer)."""

    deal_id: bytes
    provider: str
    price: int
    collateral: int
    expiry: int
    round: int

    FIELDS = (
        _Field("dealId", "bytes32"),
        _Field("provider", "address"),
        _Field("price", "uint96"),
        _Field("collateral", "uint96"),
        _Field("expiry", "uint40"),
        _Field("round", "uint32"),
    )

    def as_tuple(self) -> tuple:
        return _field_values(self)

    def message(self) -> dict:
        return {f.name: value for f, value in zip(self.FIELDS, self.as_tuple())}

    @classmethod
    def from_tuple(cls, values) -> "Offer":
        values = list(values)
        values[0] = bytes(values[0])
        values[1] = to_checksum_address(values[1])
        return cls(*values)


_FIELD_NAMES = {kind: tuple(f.name for f in fields(kind)) for kind in (Request, Offer)}


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain of one deployed market."""

    chain_id: int
    market: str

    def as_dict(self) -> dict:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.market),
        }


def typed_message(domain: Domain, value: Request | Offer) -> SignableMessage:
    """The EIP-712 message for a request or an offer, ready to sign."""
    primary = type(value).__name__
    return encode_typed_data(domain_data=domain.as_dict(), message_types={primary: _eip712_types(type(value))},
                             message_data=value.message())


@lru_cache(maxsize=1 << 16)  # the same request or offer is hashed by everyone who sees it: once is enough
def typed_hash(domain: Domain, value: Request | Offer) -> bytes:
    """The EIP-712 digest: the deal id of a request, the signed hash of an offer.

    Computed directly (both structs hold only static fields, so their encoding is plain ABI encoding
    after the type hash) rather than through eth-account's generic typed-data encoder, which is ~50
    times slower: every agent hashes every offer it sees. The tests check both agree.
    """
    kind = type(value)
    values = value.as_tuple()
    encoded = _static_words(_ABI_TYPES[kind], values)
    if encoded is None:  # a value out of its type's plain range: eth_abi encodes it, or says what is wrong
        encoded = encode(_ABI_TYPES[kind], values)
    return keccak256(b"\x19\x01" + _domain_separator(domain) + keccak256(_TYPE_HASHES[kind] + encoded))


def _static_words(types: list[str], values: tuple) -> bytes | None:
    """Static values (address, bytes32, uintN) ABI-encoded as eth_abi does, ~10 times faster; None for a value
    eth_abi treats otherwise (a short bytes32, an address neither checksummed nor lower case, a bool, out of range)."""
    words = []
    for abi_type, value in zip(types, values):
        if abi_type == "address":
            if not isinstance(value, str) or len(value) != 42 or not value.startswith("0x"):
                return None
            try:
                if value != to_checksum_address(value) and value != value.lower():
                    return None
            except ValueError:  # not hex
                return None
            words.append(bytes(12) + bytes.fromhex(value[2:]))
        elif abi_type == "bytes32":
            if not isinstance(value, bytes) or len(value) != 32:
                return None
            words.append(value)
        else:
            bits = _UINT_BITS[abi_type]
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
                return None
            words.append(int(value).to_bytes(32, "big"))
    return b"".join(words)


def _type_string(kind) -> str:
    return f"{kind.__name__}({','.join(f'{f.metadata_type} {f.name}' for f in kind.FIELDS)})"


_TYPE_HASHES = {kind: keccak256(_type_string(kind).encode()) for kind in (Request, Offer)}
_ABI_TYPES = {kind: [f.metadata_type for f in kind.FIELDS] for kind in (Request, Offer)}
_UINT_BITS = {f.metadata_type: int(f.metadata_type[4:]) for kind in (Request, Offer) for f in kind.FIELDS
              if f.metadata_type.startswith("uint")}
_DOMAIN_TYPE_HASH = keccak256(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")


@lru_cache(maxsize=64)
def _domain_separator(domain: Domain) -> bytes:
    return keccak256(encode(
        ["bytes32", "bytes32", "bytes32", "uint256", "address"],
        [_DOMAIN_TYPE_HASH, keccak256(DOMAIN_NAME.encode()), keccak256(DOMAIN_VERSION.encode()), domain.chain_id,
         to_checksum_address(domain.market)],
    ))


def schema_uid(schema: str, resolver: str, revocable: bool) -> bytes:
    """EAS's schema UID: keccak256(abi.encodePacked(schema, resolver, revocable))."""
    return keccak256(schema.encode() + bytes.fromhex(resolver[2:]) + (b"\x01" if revocable else b"\x00"))


# ------------------------------------------------------------------------------------------------------
# The scheme's messages and valid replies: one table, used by the agent runtime to check dialogues and
# by the tests to check the contracts against it.
# ------------------------------------------------------------------------------------------------------


class Performative(str, Enum):
    """What a message does in the scheme (the contract function or attestation behind it)."""

    REQUEST = "request"
    CANCEL_REQUEST = "cancel_request"
    OFFER = "offer"  # an offer by a provider, or a counter-offer by either side
    CANCEL_OFFER = "cancel_offer"
    ACCEPT = "accept"
    FUND = "fund"
    COLLATERAL_MISSING = "collateral_missing"
    COMMENCE = "commence"  # commencement attestation
    COMPLETE = "complete"  # completion attestation
    APPROVE = "approve"  # the client's validation attestation, approved (it rejects only by dispute)
    VERDICT = "verdict"  # the validator's validation attestation: approved or rejected, appealable
    DISPUTE = "dispute"  # the client of an optimistic deal takes the result to the court, posting the bond
    APPEAL = "appeal"  # the party a verdict went against takes it to the court, posting the bond
    ESCALATE = "escalate"  # a silent validator's deal goes to the court
    RULING = "ruling"  # the court's validation attestation: approved or rejected, final
    SETTLE = "settle"
    CLAIM_TIMEOUT = "claim_timeout"
    ABORT = "abort"


class Party(str, Enum):
    """Who may send a message."""

    CLIENT = "client"
    PROVIDER = "provider"
    EITHER = "either"  # client or provider
    VALIDATOR = "validator"
    APPELLANT = "appellant"  # the party the validator's verdict went against
    COURT = "court"
    ANYONE = "anyone"


class Timing(str, Enum):
    BEFORE_DEADLINE = "before"
    AFTER_DEADLINE = "after"
    ANY_TIME = "any"


@dataclass(frozen=True)
class Transition:
    message: Performative
    sender: Party
    source: Status
    targets: frozenset[Status]
    timing: Timing


def _t(message, sender, source, targets, timing) -> Transition:
    targets = frozenset(targets if isinstance(targets, (set, frozenset, tuple)) else {targets})
    return Transition(message, sender, source, targets, timing)


P, S, T = Performative, Status, Timing
SCHEME: tuple[Transition, ...] = (
    # Negotiation: nothing is stored until acceptance; the request's deadline bounds it.
    _t(P.REQUEST, Party.CLIENT, S.NONE, S.NONE, T.BEFORE_DEADLINE),
    _t(P.OFFER, Party.EITHER, S.NONE, S.NONE, T.BEFORE_DEADLINE),
    _t(P.CANCEL_OFFER, Party.EITHER, S.NONE, S.NONE, T.ANY_TIME),
    _t(P.CANCEL_REQUEST, Party.CLIENT, S.NONE, S.CANCELLED, T.ANY_TIME),
    _t(P.ACCEPT, Party.EITHER, S.NONE, {S.AGREED, S.AWAITING_COLLATERAL, S.AWAITING_PAYMENT}, T.BEFORE_DEADLINE),
    # Funding the awaited side, or giving up on it.
    _t(P.FUND, Party.PROVIDER, S.AWAITING_COLLATERAL, S.AGREED, T.BEFORE_DEADLINE),
    _t(P.FUND, Party.CLIENT, S.AWAITING_PAYMENT, S.AGREED, T.BEFORE_DEADLINE),
    _t(P.COLLATERAL_MISSING, Party.CLIENT, S.AWAITING_COLLATERAL, S.UNFUNDED, T.ANY_TIME),
    _t(P.COLLATERAL_MISSING, Party.PROVIDER, S.AWAITING_PAYMENT, S.UNFUNDED, T.ANY_TIME),
    _t(P.COLLATERAL_MISSING, Party.ANYONE, S.AWAITING_COLLATERAL, S.UNFUNDED, T.AFTER_DEADLINE),
    _t(P.COLLATERAL_MISSING, Party.ANYONE, S.AWAITING_PAYMENT, S.UNFUNDED, T.AFTER_DEADLINE),
    # Work, attested through EAS.
    _t(P.COMMENCE, Party.PROVIDER, S.AGREED, S.COMMENCED, T.BEFORE_DEADLINE),
    _t(P.COMPLETE, Party.PROVIDER, S.COMMENCED, S.COMPLETED, T.BEFORE_DEADLINE),
    _t(P.ABORT, Party.PROVIDER, S.AGREED, S.SLASHED, T.ANY_TIME),
    _t(P.ABORT, Party.PROVIDER, S.COMMENCED, S.SLASHED, T.ANY_TIME),
    _t(P.CLAIM_TIMEOUT, Party.ANYONE, S.AGREED, S.SLASHED, T.AFTER_DEADLINE),
    _t(P.CLAIM_TIMEOUT, Party.ANYONE, S.COMMENCED, S.SLASHED, T.AFTER_DEADLINE),
    # Validation. The client may always approve. Optimistic: it rejects only by disputing, and silence pays the
    # provider. Validator scheme: the validator's verdict stands unless the party it went against appeals; a
    # silent validator's deal goes to the court.
    _t(P.APPROVE, Party.CLIENT, S.COMPLETED, S.SETTLED, T.BEFORE_DEADLINE),
    _t(P.DISPUTE, Party.CLIENT, S.COMPLETED, S.DISPUTED, T.BEFORE_DEADLINE),
    _t(P.SETTLE, Party.ANYONE, S.COMPLETED, S.SETTLED, T.AFTER_DEADLINE),
    _t(P.VERDICT, Party.VALIDATOR, S.COMPLETED, S.JUDGED, T.BEFORE_DEADLINE),
    _t(P.ESCALATE, Party.ANYONE, S.COMPLETED, S.DISPUTED, T.AFTER_DEADLINE),
    _t(P.APPEAL, Party.APPELLANT, S.JUDGED, S.DISPUTED, T.BEFORE_DEADLINE),
    _t(P.SETTLE, Party.ANYONE, S.JUDGED, {S.SETTLED, S.SLASHED}, T.AFTER_DEADLINE),
    # The court rules; if it does not, everyone gets back what it locked.
    _t(P.RULING, Party.COURT, S.DISPUTED, {S.SETTLED, S.SLASHED}, T.BEFORE_DEADLINE),
    _t(P.CLAIM_TIMEOUT, Party.ANYONE, S.DISPUTED, S.UNWOUND, T.AFTER_DEADLINE),
)
del P, S, T


# The table indexed, since every message every agent sees is checked against it: the replies to each status in
# the table's order, and the first transition of each (status, message).
_REPLIES: dict[Status, tuple[Transition, ...]] = {
    status: tuple(t for t in SCHEME if t.source == status) for status in Status}
_TRANSITIONS: dict[tuple[Status, Performative], Transition] = {}
for _transition in SCHEME:
    _TRANSITIONS.setdefault((_transition.source, _transition.message), _transition)
del _transition


def valid_replies(status: Status) -> tuple[Transition, ...]:
    """The messages that can follow a deal in `status`."""
    return _REPLIES.get(status, ())


def find_transition(status: Status, message: Performative) -> Transition | None:
    return _TRANSITIONS.get((status, message))


def is_valid_reply(status: Status, message: Performative) -> bool:
    return find_transition(status, message) is not None


# ------------------------------------------------------------------------------------------------------
# Messages: what the scheme's events say, as one agent's mailbox receives them.
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One scheme message seen on chain."""

    performative: Performative
    deal_id: bytes | None
    sender: str | None  # who sent the transaction's message, where the event says
    args: dict[str, Any]
    block: int
    time: int  # block timestamp
    log_key: tuple[int, int]  # (block, log index): unique, orders messages
    received_at: float  # perf_counter() when the feed delivered it

    # Parsed once per message: every agent the message reaches reads them, often several times.
    @cached_property
    def request(self) -> Request:
        return Request.from_tuple(tuple(self.args["request"].values()))

    @cached_property
    def offer(self) -> Offer:
        return Offer.from_tuple(tuple(self.args["offer"].values()))

    @property
    def status(self) -> Status:
        """The deal's status after this message."""
        if self.performative == Performative.ACCEPT:
            return Status(self.args["status"])
        if "outcome" in self.args:
            return Status(self.args["outcome"])
        return _STATUS_AFTER.get(self.performative, Status.NONE)


_STATUS_AFTER = {
    Performative.FUND: Status.AGREED,
    Performative.COMMENCE: Status.COMMENCED,
    Performative.COMPLETE: Status.COMPLETED,
    Performative.VERDICT: Status.JUDGED,
    Performative.DISPUTE: Status.DISPUTED,
    Performative.APPEAL: Status.DISPUTED,
    Performative.ESCALATE: Status.DISPUTED,
}
