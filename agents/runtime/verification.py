"""Verification actions: checks an agent runs before it acts on a deal, as reusable components.

Each reads the market (through its backend) rather than trusting events: the runtime can run them on every message,
or a policy can call the ones it wants (a provider checks the client's payment is locked before it starts
work, and sends collateral_missing otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.protocol import Status
from agents.runtime.backend import AttestationRecord, DealRecord, MarketBackend

LOCKED_STATUSES = {Status.AGREED, Status.COMMENCED, Status.COMPLETED}


@dataclass(frozen=True)
class Check:
    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


@dataclass
class Verifier:
    backend: MarketBackend

    async def deal(self, deal_id: bytes) -> DealRecord:
        return await self.backend.get_deal(deal_id)

    async def attestation(self, uid: bytes) -> AttestationRecord:
        return await self.backend.get_attestation(uid)

    async def payment_locked(self, deal_id: bytes, price: int | None = None, collateral: int | None = None) -> Check:
        """The deal is agreed (both sides locked) on the terms the agent expects."""
        deal = await self.deal(deal_id)
        if deal.status not in LOCKED_STATUSES:
            return Check(False, f"deal is {deal.status.name}, funds are not locked")
        if price is not None and deal.price != price:
            return Check(False, f"locked price {deal.price} differs from the agreed {price}")
        if collateral is not None and deal.collateral != collateral:
            return Check(False, f"locked collateral {deal.collateral} differs from the agreed {collateral}")
        return Check(True)

    async def attestation_linked(
        self, uid: bytes, *, schema: bytes, attester: str, recipient: str, ref_uid: bytes
    ) -> Check:
        """An attestation exists, has the expected schema and parties, is unrevoked and unexpired, and
        references the expected previous attestation of the deal."""
        record = await self.attestation(uid)
        if record.uid != uid:
            return Check(False, "no such attestation")
        if record.schema != schema:
            return Check(False, "wrong schema")
        if record.attester.lower() != attester.lower() or record.recipient.lower() != recipient.lower():
            return Check(False, "wrong attester or recipient")
        if record.revocation_time != 0:
            return Check(False, "revoked")
        if record.expiration_time != 0:
            return Check(False, "expires")
        if record.ref_uid != ref_uid:
            return Check(False, "not linked to the deal's previous attestation")
        return Check(True)

    async def funded_by(self, payer: str, payee: str, token: str, from_block: int, latest: int) -> bool:
        """Whether `payer` sent `payee` tokens in blocks [from_block, latest]: an ERC-20 transfer between their
        wallets, or a withdrawal from the payer's escrow account to the payee (`withdrawTo`). A validator a
        client funds is no independent judge of that client's deals."""
        return await self.backend.funded_by(payer, payee, token, from_block, latest)
