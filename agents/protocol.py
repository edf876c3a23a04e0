"""The scheme as data: the contracts' enums, request and offer terms, and their EIP-712 hashing.

This module mirrors `contracts/Types.sol` and `ComputeMarket`'s typehashes. It has no chain access, so
agents can hash, sign and check messages locally, and the tests can model the scheme in pure Python.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from enum import IntEnum

from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils import keccak, to_checksum_address

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

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({Status.CANCELLED, Status.SETTLED, Status.SLASHED, Status.UNFUNDED})


class CloseReason(IntEnum):
    CANCELLED = 0
    COLLATERAL_MISSING = 1
    APPROVED = 2
    VALIDATION_WINDOW_PASSED = 3
    REJECTED = 4
    COMMENCEMENT_TIMEOUT = 5
    COMPLETION_TIMEOUT = 6
    PROVIDER_ABORTED = 7


def _eip712_types(cls) -> list[dict[str, str]]:
    return [{"name": f.name, "type": f.metadata_type} for f in cls.FIELDS]


@dataclass(frozen=True)
class _Field:
    name: str
    metadata_type: str


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
        _Field("specHash", "bytes32"),
        _Field("nonce", "uint64"),
    )

    def as_tuple(self) -> tuple:
        """The ABI tuple the contract takes as `Request calldata`."""
        return astuple(self)

    def message(self) -> dict:
        return {f.name: value for f, value in zip(self.FIELDS, self.as_tuple())}

    @classmethod
    def from_tuple(cls, values) -> "Request":
        values = list(values)
        values[0], values[1], values[9] = (to_checksum_address(values[i]) for i in (0, 1, 9))
        values[8] = ValidationScheme(values[8])
        values[10] = bytes(values[10])
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
        return astuple(self)

    def message(self) -> dict:
        return {f.name: value for f, value in zip(self.FIELDS, self.as_tuple())}

    @classmethod
    def from_tuple(cls, values) -> "Offer":
        values = list(values)
        values[0] = bytes(values[0])
        values[1] = to_checksum_address(values[1])
        return cls(*values)


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
    return encode_typed_data(
        domain_data=domain.as_dict(),
        message_types={primary: _eip712_types(type(value))},
        message_data=value.message(),
    )


def typed_hash(domain: Domain, value: Request | Offer) -> bytes:
    """The EIP-712 digest: the deal id of a request, the signed hash of an offer."""
    message = typed_message(domain, value)
    return keccak(b"\x19" + message.version + message.header + message.body)


def schema_uid(schema: str, resolver: str, revocable: bool) -> bytes:
    """EAS's schema UID: keccak256(abi.encodePacked(schema, resolver, revocable))."""
    return keccak(schema.encode() + bytes.fromhex(resolver[2:]) + (b"\x01" if revocable else b"\x00"))
