"""One account's handle on a deployed market, through Ape: every scheme message as a method, for tests.

Function names, call arguments and attestation payloads come from the scheme's message table
(`agents.chain.scheme.MESSAGES`), as the agents' own transactions do. Attestations go to EAS directly
(the account is the attester; EAS calls the market as resolver).
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.chain.scheme import MESSAGES
from agents.deploy.system import System
from agents.policy import Reply
from agents.protocol import Domain, Offer, Performative, Request, Status, typed_hash, typed_message


@dataclass(frozen=True)
class DealFacts:
    """What a message's payload reads from its deal (`agents.chain.scheme.Deal`), as a test knows it."""

    request: Request | None = None
    client: str | None = None
    provider: str | None = None
    commencement_uid: bytes | None = None
    completion_uid: bytes | None = None
    verdict_uid: bytes | None = None


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

    def _call(self, reply: Reply, deal: DealFacts | None = None, function: str | None = None):
        """Send a market message; `function` names another market function taking the same payload."""
        spec = MESSAGES[reply.performative]
        return getattr(self.market, function or spec.function)(*spec.payload(reply, deal), sender=self.account)

    def _attest(self, reply: Reply, deal: DealFacts):
        """(receipt, attestation uid)."""
        spec = MESSAGES[reply.performative]
        schema_uid = getattr(self.market, spec.schema.uid_view)()
        receipt = self.system.eas.attest(spec.attestation(reply, deal, schema_uid), sender=self.account)
        uid = bytes(receipt.decode_logs(self.system.eas.Attested)[0].uid)
        return receipt, uid

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
        return self._call(Reply(Performative.REQUEST, request=request, spec_uri=spec_uri, invited=tuple(invited)))

    def cancel_request(self, request: Request):
        return self._call(Reply(Performative.CANCEL_REQUEST, self.deal_id(request)), DealFacts(request=request))

    def sign(self, offer: Offer) -> bytes:
        signature = self.account.sign_message(typed_message(self.domain, offer))
        return signature.encode_rsv()

    def offer(self, offer: Offer, signature: bytes | None = None):
        signature = signature if signature is not None else self.sign(offer)
        return self._call(Reply(Performative.OFFER, offer.deal_id, offer=offer, signature=signature))

    def cancel_offer(self, offer: Offer):
        return self._call(Reply(Performative.CANCEL_OFFER, offer.deal_id, offer=offer))

    def accept(self, request: Request, offer: Offer, signature: bytes):
        """Plain `accept`: the deal waits for the signer's side if its account cannot cover it."""
        reply = Reply(Performative.ACCEPT, offer.deal_id, offer=offer, signature=signature)
        return self._call(reply, DealFacts(request=request), function="accept")

    def accept_funded(self, request: Request, offer: Offer, signature: bytes):
        """`acceptFunded`, as agents accept: reverts unless the signer's side can be locked now."""
        reply = Reply(Performative.ACCEPT, offer.deal_id, offer=offer, signature=signature)
        return self._call(reply, DealFacts(request=request))

    def fund(self, deal_id: bytes):
        return self._call(Reply(Performative.FUND, deal_id))

    def collateral_missing(self, deal_id: bytes):
        return self._call(Reply(Performative.COLLATERAL_MISSING, deal_id))

    # --- attestations (through EAS) -----------------------------------------------------------------

    def attest_commencement(self, deal_id: bytes, client: str):
        return self._attest(Reply(Performative.COMMENCE, deal_id), DealFacts(client=client))

    def attest_completion(self, deal_id: bytes, client: str, ref_uid: bytes, result_hash: bytes, result_uri: str):
        reply = Reply(Performative.COMPLETE, deal_id, result_hash=result_hash, result_uri=result_uri)
        return self._attest(reply, DealFacts(client=client, commencement_uid=ref_uid))

    def approve(self, deal_id: bytes, provider: str, completion_uid: bytes):
        """The client's approval (a validation attestation that pays the provider at once)."""
        return self._attest(Reply(Performative.APPROVE, deal_id), DealFacts(provider=provider, completion_uid=completion_uid))

    def verdict(self, deal_id: bytes, provider: str, completion_uid: bytes, approved: bool):
        """The validator's verdict (appealable): (receipt, attestation uid)."""
        reply = Reply(Performative.VERDICT, deal_id, approved=approved)
        return self._attest(reply, DealFacts(provider=provider, completion_uid=completion_uid))

    def ruling(self, deal_id: bytes, provider: str, ref_uid: bytes, approved: bool):
        """The court's ruling, referencing the deal's latest attestation (the verdict, else the completion)."""
        reply = Reply(Performative.RULING, deal_id, approved=approved)
        return self._attest(reply, DealFacts(provider=provider, completion_uid=ref_uid))

    def attest_validation(self, deal_id: bytes, provider: str, ref_uid: bytes, approved: bool):
        """A raw validation attestation from this account, whatever its role (for tests of who may attest)."""
        reply = Reply(Performative.VERDICT, deal_id, approved=approved)
        return self._attest(reply, DealFacts(provider=provider, completion_uid=ref_uid))

    # --- disputes -----------------------------------------------------------------------------------

    def dispute(self, request: Request):
        return self._call(Reply(Performative.DISPUTE, self.deal_id(request)), DealFacts(request=request))

    def appeal(self, deal_id: bytes):
        return self._call(Reply(Performative.APPEAL, deal_id))

    def escalate(self, deal_id: bytes):
        return self._call(Reply(Performative.ESCALATE, deal_id))

    # --- termination --------------------------------------------------------------------------------

    def settle(self, deal_id: bytes):
        return self._call(Reply(Performative.SETTLE, deal_id))

    def claim_timeout(self, deal_id: bytes):
        return self._call(Reply(Performative.CLAIM_TIMEOUT, deal_id))

    def abort(self, deal_id: bytes):
        return self._call(Reply(Performative.ABORT, deal_id))

    # --- views --------------------------------------------------------------------------------------

    def status(self, deal_id: bytes) -> Status:
        return Status(self.market.getDeal(deal_id).status)
