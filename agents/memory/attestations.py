"""Attestations: the part of the Ethereum Attestation Service (EAS 1.9) that the market's schemas go through.

EAS checks an attestation's schema, expiry, revocability and reference, gives it its UID, stores it, emits
`Attested`, and then hands it to the schema's resolver, the market, whose checks may still refuse it (and then
nothing is stored). Agents attest on EAS, never on the market: so does the memory market's caller.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from agents.keccak import keccak256
from agents.memory.evm import ZERO_BYTES32, CallContext, Clock, Revert


@dataclass(frozen=True)
class Attestation:
    """EAS's `Attestation` struct, as the resolver receives it."""

    uid: bytes
    schema: bytes
    time: int
    expiration_time: int
    revocation_time: int
    ref_uid: bytes
    recipient: str
    attester: str
    revocable: bool
    data: bytes


class Resolver(Protocol):
    def on_attest(self, attestation: Attestation, value: int) -> None:
        """SchemaResolver.onAttest: raise `Revert` to refuse the attestation."""


@dataclass(frozen=True)
class _Schema:
    resolver: Resolver
    revocable: bool


def attestation_uid(attestation: Attestation, bump: int) -> bytes:
    """EAS._getUID: keccak256(abi.encodePacked(schema, recipient, attester, time, expirationTime, revocable,
    refUID, data, bump))."""
    return keccak256(
        attestation.schema + bytes.fromhex(attestation.recipient[2:]) + bytes.fromhex(attestation.attester[2:])
        + attestation.time.to_bytes(8, "big") + attestation.expiration_time.to_bytes(8, "big")
        + bytes([attestation.revocable]) + attestation.ref_uid + attestation.data + bump.to_bytes(4, "big")
    )


class AttestationService:
    """EAS.attest, for the schemas registered here (the market's three)."""

    def __init__(self, address: str, calls: CallContext, clock: Clock):
        self.address = address
        self._calls = calls
        self._clock = clock
        self._schemas: dict[bytes, _Schema] = {}
        self._attestations: dict[bytes, Attestation] = {}

    def register(self, schema_uid: bytes, resolver: Resolver, revocable: bool) -> None:
        """SchemaRegistry.register, by the market's constructor."""
        self._schemas[schema_uid] = _Schema(resolver, revocable)

    def get_attestation(self, uid: bytes) -> Attestation | None:
        return self._attestations.get(uid)

    def is_attestation_valid(self, uid: bytes) -> bool:
        return uid in self._attestations

    def attest(self, sender: str, schema: bytes, recipient: str, *, expiration_time: int = 0,
               revocable: bool = False, ref_uid: bytes = ZERO_BYTES32, data: bytes = b"",
               value: int = 0) -> tuple[bytes, list]:
        """EAS.attest(AttestationRequest) by `sender`: (the new attestation's UID, the call's events)."""
        with self._calls.call() as events:
            record = self._schemas.get(schema)
            if record is None:
                raise Revert("InvalidSchema")
            now = self._clock.now
            if expiration_time != 0 and expiration_time <= now:
                raise Revert("InvalidExpirationTime")
            if not record.revocable and revocable:
                raise Revert("Irrevocable")
            attestation = Attestation(ZERO_BYTES32, schema, now, expiration_time, 0, ref_uid, recipient, sender,
                                      revocable, data)
            # The first UID not taken: the same attestation twice in one second gets a bumped one.
            bump = 0
            while (uid := attestation_uid(attestation, bump)) in self._attestations:
                bump += 1
            attestation = replace(attestation, uid=uid)
            if ref_uid != ZERO_BYTES32 and not self.is_attestation_valid(ref_uid):
                raise Revert("NotFound")
            self._calls.emit(self.address, "Attested", recipient=recipient, attester=sender, uid=uid,
                             schemaUID=schema)
            if value != 0:  # the market's resolver is not payable
                raise Revert("NotPayable")
            record.resolver.on_attest(attestation, value)
            # Stored last, once nothing can refuse it (EAS stores it first, and a revert undoes that).
            self._attestations[uid] = attestation
        return uid, events

