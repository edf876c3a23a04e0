"""One account's handle on a deployed market: every scheme message as a method.

Attestations go to EAS directly (the agent is the attester; EAS calls the market as resolver), so this is
where the attestation payloads are encoded for the market's three schemas.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode

from agents.deploy.system import System
from agents.protocol import Domain, Offer, Request, Status, typed_hash, typed_message

ZERO_BYTES32 = b"\x00" * 32


@dataclass
class MarketClient:
    system: System
    account: object  # an Ape account

    @property
    def market(self):
        return self.system.market

    @property
    def domain(self) -> Domain:
        return Domain(chain_id=self.market.provider.chain_id, market=self.market.address)

    # --- escrow -------------------------------------------------------------------------------------

    def deposit(self, token, amount: int):
        token.approve(self.market.address, amount, sender=self.account)
        return self.market.deposit(token.address, amount, sender=self.account)

    def withdraw(self, token, amount: int):
        return self.market.withdraw(token.address, amount, sender=self.account)

    # --- negotiation --------------------------------------------------------------------------------

    def deal_id(self, request: Request) -> bytes:
        return typed_hash(self.domain, request)

    def request(self, request: Request, spec_uri: str, invited: tuple[str, ...] = ()):
        return self.market.request(request.as_tuple(), spec_uri, list(invited), sender=self.account)

    def cancel_request(self, request: Request):
        return self.market.cancelRequest(request.as_tuple(), sender=self.account)

    def sign(self, offer: Offer) -> bytes:
        signature = self.account.sign_message(typed_message(self.domain, offer))
        return signature.encode_rsv()

    def offer(self, offer: Offer, signature: bytes | None = None):
        signature = signature if signature is not None else self.sign(offer)
        return self.market.offer(offer.as_tuple(), signature, sender=self.account)

    def cancel_offer(self, offer: Offer):
        return self.market.cancelOffer(offer.as_tuple(), sender=self.account)

    def accept(self, request: Request, offer: Offer, signature: bytes):
        return self.market.accept(request.as_tuple(), offer.as_tuple(), signature, sender=self.account)

    def fund(self, deal_id: bytes):
        return self.market.fund(deal_id, sender=self.account)

    def collateral_missing(self, deal_id: bytes):
        return self.market.collateralMissing(deal_id, sender=self.account)

    # --- attestations (through EAS) -----------------------------------------------------------------

    def _attest(self, schema: bytes, recipient: str, ref_uid: bytes, data: bytes):
        request = (schema, (recipient, 0, False, ref_uid, data, 0))
        receipt = self.system.eas.attest(request, sender=self.account)
        uid = bytes(receipt.decode_logs(self.system.eas.Attested)[0].uid)
        return receipt, uid

    def attest_commencement(self, deal_id: bytes, client: str):
        data = encode(["bytes32"], [deal_id])
        return self._attest(self.market.commencementSchemaUID(), client, ZERO_BYTES32, data)

    def attest_completion(self, deal_id: bytes, client: str, ref_uid: bytes, result_hash: bytes, result_uri: str):
        data = encode(["bytes32", "bytes32", "string"], [deal_id, result_hash, result_uri])
        return self._attest(self.market.completionSchemaUID(), client, ref_uid, data)

    def attest_validation(self, deal_id: bytes, provider: str, ref_uid: bytes, approved: bool):
        data = encode(["bytes32", "bool"], [deal_id, approved])
        return self._attest(self.market.validationSchemaUID(), provider, ref_uid, data)

    # --- termination --------------------------------------------------------------------------------

    def settle(self, deal_id: bytes):
        return self.market.settle(deal_id, sender=self.account)

    def claim_timeout(self, deal_id: bytes):
        return self.market.claimTimeout(deal_id, sender=self.account)

    def abort(self, deal_id: bytes):
        return self.market.abort(deal_id, sender=self.account)

    # --- views --------------------------------------------------------------------------------------

    def status(self, deal_id: bytes) -> Status:
        return Status(self.market.getDeal(deal_id).status)
