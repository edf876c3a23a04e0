"""Every scheme message an agent can send, as a transaction through its outbox.

Gas limits are fixed per message rather than estimated: estimation costs a round trip on the reply path,
and unused gas is not charged. They sit well above the measured figures (gas-snapshot.json).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from eth_abi import encode

from agents.chain.codec import ContractCodec
from agents.chain.transactions import Signer
from agents.protocol import Domain, Offer, Performative, Request, typed_hash
from agents.runtime.outbox import Outbox, SentTransaction

ZERO_BYTES32 = b"\x00" * 32
GAS_LIMITS = {
    Performative.REQUEST: 150_000,
    Performative.CANCEL_REQUEST: 100_000,
    Performative.OFFER: 90_000,
    Performative.CANCEL_OFFER: 90_000,
    Performative.ACCEPT: 300_000,
    Performative.FUND: 150_000,
    Performative.COLLATERAL_MISSING: 100_000,
    Performative.COMMENCE: 400_000,
    Performative.APPROVE: 450_000,
    Performative.REJECT: 450_000,
    Performative.SETTLE: 100_000,
    Performative.CLAIM_TIMEOUT: 100_000,
    Performative.ABORT: 100_000,
}


def completion_gas_limit(result_uri: str) -> int:
    # EAS stores the URI: about 22k gas per 32-byte word on top of the fixed cost.
    return 450_000 + 25_000 * math.ceil(len(result_uri.encode()) / 32)


@dataclass
class MarketActions:
    outbox: Outbox
    market: str
    eas: str
    token: str
    market_codec: ContractCodec
    eas_codec: ContractCodec
    token_codec: ContractCodec
    domain: Domain
    commencement_schema: bytes
    completion_schema: bytes
    validation_schema: bytes

    async def _market(self, performative: Performative, function: str, *args, deal_id=None, trigger_at=None):
        data = self.market_codec.encode_call(function, *args)
        return await self.outbox.send(
            self.market, data, GAS_LIMITS[performative], kind=performative.value, deal_id=deal_id,
            trigger_at=trigger_at,
        )

    def sign_offer(self, offer: Offer) -> bytes:
        return Signer(self.outbox.account.key).sign_digest(typed_hash(self.domain, offer))

    # --- escrow -------------------------------------------------------------------------------------

    async def approve_token(self, amount: int = 2**256 - 1) -> SentTransaction:
        data = self.token_codec.encode_call("approve", self.market, amount)
        return await self.outbox.send(self.token, data, 80_000, kind="approve")

    async def deposit(self, amount: int) -> SentTransaction:
        data = self.market_codec.encode_call("deposit", self.token, amount)
        return await self.outbox.send(self.market, data, 150_000, kind="deposit")

    async def withdraw(self, amount: int) -> SentTransaction:
        data = self.market_codec.encode_call("withdraw", self.token, amount)
        return await self.outbox.send(self.market, data, 100_000, kind="withdraw")

    # --- negotiation --------------------------------------------------------------------------------

    async def request(self, request: Request, spec_uri: str, invited: tuple[str, ...] = (), trigger_at=None):
        return await self._market(
            Performative.REQUEST, "request", request.as_tuple(), spec_uri, list(invited), trigger_at=trigger_at
        )

    async def cancel_request(self, request: Request, deal_id: bytes, trigger_at=None):
        return await self._market(
            Performative.CANCEL_REQUEST, "cancelRequest", request.as_tuple(), deal_id=deal_id, trigger_at=trigger_at
        )

    async def offer(self, offer: Offer, trigger_at=None) -> tuple[SentTransaction, bytes]:
        signature = self.sign_offer(offer)
        sent = await self._market(
            Performative.OFFER, "offer", offer.as_tuple(), signature, deal_id=offer.deal_id, trigger_at=trigger_at
        )
        return sent, signature

    async def cancel_offer(self, offer: Offer, trigger_at=None):
        return await self._market(
            Performative.CANCEL_OFFER, "cancelOffer", offer.as_tuple(), deal_id=offer.deal_id, trigger_at=trigger_at
        )

    async def accept(self, request: Request, offer: Offer, signature: bytes, trigger_at=None):
        return await self._market(
            Performative.ACCEPT, "accept", request.as_tuple(), offer.as_tuple(), signature,
            deal_id=offer.deal_id, trigger_at=trigger_at,
        )

    async def fund(self, deal_id: bytes, trigger_at=None):
        return await self._market(Performative.FUND, "fund", deal_id, deal_id=deal_id, trigger_at=trigger_at)

    async def collateral_missing(self, deal_id: bytes, trigger_at=None):
        return await self._market(
            Performative.COLLATERAL_MISSING, "collateralMissing", deal_id, deal_id=deal_id, trigger_at=trigger_at
        )

    # --- termination --------------------------------------------------------------------------------

    async def settle(self, deal_id: bytes, trigger_at=None):
        return await self._market(Performative.SETTLE, "settle", deal_id, deal_id=deal_id, trigger_at=trigger_at)

    async def claim_timeout(self, deal_id: bytes, trigger_at=None):
        return await self._market(
            Performative.CLAIM_TIMEOUT, "claimTimeout", deal_id, deal_id=deal_id, trigger_at=trigger_at
        )

    async def abort(self, deal_id: bytes, trigger_at=None):
        return await self._market(Performative.ABORT, "abort", deal_id, deal_id=deal_id, trigger_at=trigger_at)

    # --- attestations (EAS; the market resolves them) ------------------------------------------------

    async def _attest(self, performative, schema, recipient, ref_uid, data, gas, deal_id, trigger_at):
        request = (schema, (recipient, 0, False, ref_uid, data, 0))
        calldata = self.eas_codec.encode_call("attest", request)
        return await self.outbox.send(
            self.eas, calldata, gas, kind=performative.value, deal_id=deal_id, trigger_at=trigger_at
        )

    async def commence(self, deal_id: bytes, client: str, trigger_at=None):
        data = encode(["bytes32"], [deal_id])
        return await self._attest(
            Performative.COMMENCE, self.commencement_schema, client, ZERO_BYTES32, data,
            GAS_LIMITS[Performative.COMMENCE], deal_id, trigger_at,
        )

    async def complete(self, deal_id, client, commencement_uid, result_hash, result_uri, trigger_at=None):
        data = encode(["bytes32", "bytes32", "string"], [deal_id, result_hash, result_uri])
        return await self._attest(
            Performative.COMPLETE, self.completion_schema, client, commencement_uid, data,
            completion_gas_limit(result_uri), deal_id, trigger_at,
        )

    async def validate(self, deal_id, provider, completion_uid, approved: bool, trigger_at=None):
        performative = Performative.APPROVE if approved else Performative.REJECT
        data = encode(["bytes32", "bool"], [deal_id, approved])
        return await self._attest(
            performative, self.validation_schema, provider, completion_uid, data,
            GAS_LIMITS[performative], deal_id, trigger_at,
        )
