"""The scheme: contracts/ComputeMarket.sol's deals, in memory.

Each external function of the contract is a method here, named after it and taking the caller (`sender`, the
contract's `msg.sender`) first. It runs the contract's checks in the contract's order, so that a refused call
raises the same named error with the same arguments (`Revert`), and otherwise applies the same transition and
escrow moves and returns the same events in the same order. Attestations reach the deals through the
resolver half (`MarketResolver`, resolver.py), as on chain through EAS.

The contract writes a deal before its last step, the pull of the caller's side from its wallet; a failing pull
reverts the whole call. Here every pull is checked before anything is written (`Escrow.check_lock_or_pull`).
"""

from __future__ import annotations

from dataclasses import replace

from agents.memory.deal import EMPTY_DEAL, Deal, check_offer_calldata, check_request_calldata, event_struct
from agents.memory.escrow import Escrow
from agents.memory.evm import ZERO_ADDRESS, ZERO_BYTES32, CallContext, Clock, Revert, checked_add
from agents.memory.payouts import Payouts
from agents.memory.resolver import MarketResolver
from agents.memory.signatures import is_valid_signature_now
from agents.protocol import CloseReason, Domain, Offer, Request, Status, ValidationScheme, typed_hash


class ComputeMarket(MarketResolver):
    """ComputeMarket's deals and the functions that move them; the escrow (`Escrow`) holds the funds."""

    def __init__(self, address: str, chain_id: int, court: str, court_window: int, escrow: Escrow,
                 calls: CallContext, clock: Clock, contracts: set[str]):
        if court == ZERO_ADDRESS:
            raise Revert("InvalidCourt")
        if court_window == 0:
            raise Revert("InvalidDuration")
        self.address = address
        self.domain = Domain(chain_id, address)
        self.court = court
        self.court_window = court_window
        self.escrow = escrow
        self._calls = calls
        self._clock = clock
        self._contracts = contracts
        self._deals: dict[bytes, Deal] = {}
        self._offer_cancelled: set[tuple[str, bytes]] = set()
        self._payouts = Payouts(escrow, court, self._emit)

    # ------------------------------------------------------------------------------------------------
    # Views
    # ------------------------------------------------------------------------------------------------

    def get_deal(self, deal_id: bytes) -> Deal:
        """getDeal (a copy: the caller cannot change the market's deal)."""
        deal = self._deals.get(deal_id, EMPTY_DEAL)
        return replace(deal)

    def status(self, deal_id: bytes) -> Status:
        return self._deals.get(deal_id, EMPTY_DEAL).status

    def deal_ids(self):
        """Every deal id with stored state (accepted or cancelled)."""
        return self._deals.keys()

    def hash_request(self, req: Request) -> bytes:
        """hashRequest: the request's EIP-712 hash, the deal id."""
        return typed_hash(self.domain, req)

    def hash_offer(self, terms: Offer) -> bytes:
        """hashOffer: what the offer's signer signs."""
        return typed_hash(self.domain, terms)

    def is_offer_cancelled(self, signer: str, offer_hash: bytes) -> bool:
        """isOfferCancelled."""
        return (signer, offer_hash) in self._offer_cancelled

    # The escrow's functions, which the contract inherits.

    def deposit(self, sender: str, token: str, amount: int) -> list:
        return self.escrow.deposit(sender, token, amount)

    def withdraw(self, sender: str, token: str, amount: int) -> list:
        return self.escrow.withdraw(sender, token, amount)

    def withdraw_to(self, sender: str, token: str, amount: int, to: str) -> list:
        return self.escrow.withdraw_to(sender, token, amount, to)

    def skim(self, sender: str, token: str, to: str) -> list:
        return self.escrow.skim(sender, token, to)

    def available(self, token: str, account: str) -> int:
        return self.escrow.available(token, account)

    def total_owed(self, token: str) -> int:
        return self.escrow.total_owed(token)

    # ------------------------------------------------------------------------------------------------
    # Negotiation
    # ------------------------------------------------------------------------------------------------

    def request(self, sender: str, req: Request, spec_uri: str, invited: list[str]) -> list:
        """request: nothing is stored; the event carries the terms."""
        with self._calls.call() as events:
            check_request_calldata(req)
            if sender != req.client:
                raise Revert("NotTheClient")
            self._check_terms(req)
            if req.offer_deadline <= self._clock.now:
                raise Revert("InvalidDeadline")
            deal_id = self.hash_request(req)
            self._expect_status(deal_id, self.status(deal_id), Status.NONE)
            self._emit("Requested", dealId=deal_id, client=sender, request=event_struct(req), specURI=spec_uri,
                       invited=list(invited))
        return events

    def cancel_request(self, sender: str, req: Request) -> list:
        """cancelRequest: only the client, only before an offer was accepted."""
        with self._calls.call() as events:
            check_request_calldata(req)
            if sender != req.client:
                raise Revert("NotTheClient")
            deal_id = self.hash_request(req)
            self._expect_status(deal_id, self.status(deal_id), Status.NONE)
            self._deals.setdefault(deal_id, Deal()).status = Status.CANCELLED
            self._emit("Closed", dealId=deal_id, outcome=Status.CANCELLED, reason=CloseReason.CANCELLED)
        return events

    def offer(self, sender: str, terms: Offer, signature: bytes) -> list:
        """offer: broadcasts an offer signed by the caller."""
        with self._calls.call() as events:
            check_offer_calldata(terms)
            if terms.price == 0:
                raise Revert("ZeroAmount")
            if terms.expiry < self._clock.now:  # the same boundary as accept
                raise Revert("OfferExpired")
            self._expect_status(terms.deal_id, self.status(terms.deal_id), Status.NONE)
            if not is_valid_signature_now(sender, self.hash_offer(terms), signature, self._contracts):
                raise Revert("InvalidSignature")
            self._emit("Offered", dealId=terms.deal_id, signer=sender, provider=terms.provider,
                       offer=event_struct(terms), signature=bytes(signature))
        return events

    def cancel_offer(self, sender: str, terms: Offer) -> list:
        """cancelOffer: the caller's signature on these terms can no longer be accepted."""
        with self._calls.call() as events:
            check_offer_calldata(terms)
            offer_hash = self.hash_offer(terms)
            self._offer_cancelled.add((sender, offer_hash))
            self._emit("OfferCancelled", offerHash=offer_hash, signer=sender)
        return events

    def accept(self, sender: str, req: Request, terms: Offer, signature: bytes) -> list:
        """accept: the signer's side is locked from its account if it can be, else awaited."""
        return self._accept(sender, req, terms, signature, signer_must_lock=False)

    def accept_funded(self, sender: str, req: Request, terms: Offer, signature: bytes) -> list:
        """acceptFunded: as accept, but the signer's side must lock now (UnfundedCounterparty otherwise)."""
        return self._accept(sender, req, terms, signature, signer_must_lock=True)

    def _accept(self, sender: str, req: Request, terms: Offer, signature: bytes, signer_must_lock: bool) -> list:
        """_accept: checks the offer against its request, locks both sides and the validator's stake, writes
        the deal."""
        with self._calls.call() as events:
            check_request_calldata(req)
            check_offer_calldata(terms)
            deal_id = self.hash_request(req)
            if terms.deal_id != deal_id:
                raise Revert("OfferForAnotherRequest")
            self._expect_status(deal_id, self.status(deal_id), Status.NONE)
            self._check_terms(req)
            now = self._clock.now
            if now > req.offer_deadline:
                raise Revert("RequestExpired")
            if now > terms.expiry:
                raise Revert("OfferExpired")
            if terms.provider in (req.client, req.validator, self.court):
                raise Revert("SelfDeal")
            if terms.price == 0:
                raise Revert("ZeroAmount")
            if terms.price > req.max_price:
                raise Revert("PriceAboveMaximum", price=terms.price, maxPrice=req.max_price)
            if terms.collateral < req.min_collateral:
                raise Revert("CollateralBelowMinimum", collateral=terms.collateral, minCollateral=req.min_collateral)

            # The client accepts a provider's offer; a provider accepts the client's counter-offer.
            caller_is_client = sender == req.client
            if not caller_is_client and sender != terms.provider:
                raise Revert("NotAParty")
            signer = terms.provider if caller_is_client else req.client
            offer_hash = self._check_signature(signer, terms, signature)

            # _lockSigner: every check before any lock, so that a refusal leaves the accounts untouched.
            token, escrow = req.token, self.escrow
            signer_side = terms.collateral if caller_is_client else terms.price + req.validator_fee
            signer_can_lock = escrow.available(token, signer) >= signer_side
            if not signer_can_lock and signer_must_lock:
                raise Revert("UnfundedCounterparty", party=signer, required=signer_side,
                             available=escrow.available(token, signer))
            validating = req.validator != ZERO_ADDRESS
            if validating and escrow.available(token, req.validator) < req.bond:
                raise Revert("UnfundedCounterparty", party=req.validator, required=req.bond,
                             available=escrow.available(token, req.validator))
            caller_side = terms.price + req.validator_fee if caller_is_client else terms.collateral
            deadline = checked_add(now, req.commence_within, 40)
            escrow.check_lock_or_pull(token, sender, caller_side)

            escrow.lock_from_account(token, signer, signer_side)
            if validating:
                escrow.lock_from_account(token, req.validator, req.bond)
            if signer_can_lock:
                status = Status.AGREED
            else:
                status = Status.AWAITING_COLLATERAL if caller_is_client else Status.AWAITING_PAYMENT
            deal = Deal(client=req.client, price=terms.price, provider=terms.provider, collateral=terms.collateral,
                        token=token, status=status, deadline=deadline, job_duration=req.job_duration,
                        validation_window=req.validation_window)
            if validating:
                deal.validator, deal.validator_fee, deal.bond = req.validator, req.validator_fee, req.bond
            if status != Status.AGREED:
                deal.commence_within = req.commence_within
            self._deals[deal_id] = deal
            escrow.lock_or_pull(token, sender, caller_side)
            self._emit("Accepted", dealId=deal_id, client=req.client, provider=terms.provider, offerHash=offer_hash,
                       status=status)
        return events

    def _check_signature(self, signer: str, terms: Offer, signature: bytes) -> bytes:
        """_checkSignature: `signer` signed `terms` and has not withdrawn them; returns the offer's hash."""
        offer_hash = self.hash_offer(terms)
        if (signer, offer_hash) in self._offer_cancelled:
            raise Revert("OfferIsCancelled")
        if not is_valid_signature_now(signer, offer_hash, signature, self._contracts):
            raise Revert("InvalidSignature")
        return offer_hash

    def fund(self, sender: str, deal_id: bytes) -> list:
        """fund: the awaited side locks; the provider gets its whole commencement window from now, so that a
        client funding at the last moment cannot leave it no time to commence and then claim its collateral."""
        with self._calls.call() as events:
            deal = self._deal(deal_id)
            status = deal.status
            if status == Status.AWAITING_COLLATERAL:
                if sender != deal.provider:
                    raise Revert("NotTheFundingParty")
            elif status == Status.AWAITING_PAYMENT:
                if sender != deal.client:
                    raise Revert("NotTheFundingParty")
            else:
                raise Revert("UnexpectedStatus", dealId=deal_id, status=status)
            now = self._clock.now
            if now > deal.deadline:
                raise Revert("DeadlinePassed", dealId=deal_id, deadline=deal.deadline)
            deadline = checked_add(now, deal.commence_within, 40)
            side = deal.collateral if status == Status.AWAITING_COLLATERAL else deal.client_side
            self.escrow.check_lock_or_pull(deal.token, sender, side)
            deal.status, deal.deadline = Status.AGREED, deadline
            self.escrow.lock_or_pull(deal.token, sender, side)
            self._emit("Funded", dealId=deal_id, account=sender)
        return events

    def collateral_missing(self, sender: str, deal_id: bytes) -> list:
        """collateralMissing: the waiting party (at any time) or anyone (after the deadline) gives up on the
        awaited side; only the waiting party's side and the validator's stake were locked, and go back."""
        with self._calls.call() as events:
            deal = self._deal(deal_id)
            status = deal.status
            if status == Status.AWAITING_COLLATERAL:
                waiting = deal.client
            elif status == Status.AWAITING_PAYMENT:
                waiting = deal.provider
            else:
                raise Revert("UnexpectedStatus", dealId=deal_id, status=status)
            if sender != waiting and self._clock.now <= deal.deadline:
                raise Revert("NotTheWaitingParty")
            self._payouts.return_unfunded(deal_id, deal, waiting)
        return events

    # ------------------------------------------------------------------------------------------------
    # Termination after agreement
    # ------------------------------------------------------------------------------------------------

    def settle(self, sender: str, deal_id: bytes) -> list:
        """settle: once the window passed, pays an unchallenged optimistic deal or carries out an unappealed
        verdict (the validator earned its fee and gets its stake back)."""
        with self._calls.call() as events:
            deal = self._deal(deal_id)
            if deal.status == Status.COMPLETED:
                if deal.validator != ZERO_ADDRESS:
                    raise Revert("VerdictMissing", dealId=deal_id)
                self._after_deadline(deal_id, deal)
                self._payouts.settle_unchallenged(deal_id, deal)
            elif deal.status == Status.JUDGED:
                self._after_deadline(deal_id, deal)
                self._payouts.carry_out_verdict(deal_id, deal)
            else:
                raise Revert("UnexpectedStatus", dealId=deal_id, status=deal.status)
        return events

    def claim_timeout(self, sender: str, deal_id: bytes) -> list:
        """claimTimeout: slashes a provider that missed its commencement or completion deadline, or unwinds a
        dispute the court did not rule on in time."""
        with self._calls.call() as events:
            deal = self._deal(deal_id)
            if deal.status == Status.DISPUTED:
                self._after_deadline(deal_id, deal)
                self._payouts.unwind(deal_id, deal)
            else:
                if deal.status == Status.AGREED:
                    reason = CloseReason.COMMENCEMENT_TIMEOUT
                elif deal.status == Status.COMMENCED:
                    reason = CloseReason.COMPLETION_TIMEOUT
                else:
                    raise Revert("UnexpectedStatus", dealId=deal_id, status=deal.status)
                self._after_deadline(deal_id, deal)
                self._payouts.slash_provider(deal_id, deal, reason)
        return events

    def abort(self, sender: str, deal_id: bytes) -> list:
        """abort: the provider reports it cannot complete the job, and is slashed."""
        with self._calls.call() as events:
            deal = self._deal(deal_id)
            if sender != deal.provider:
                raise Revert("NotTheProvider")
            if deal.status not in (Status.AGREED, Status.COMMENCED):
                raise Revert("UnexpectedStatus", dealId=deal_id, status=deal.status)
            self._payouts.slash_provider(deal_id, deal, CloseReason.PROVIDER_ABORTED)
        return events

    # ------------------------------------------------------------------------------------------------
    # Disputes
    # ------------------------------------------------------------------------------------------------

    def dispute(self, sender: str, req: Request) -> list:
        """dispute: the client of an optimistic deal rejects its result within the window, posting the bond."""
        with self._calls.call() as events:
            check_request_calldata(req)
            deal_id = self.hash_request(req)
            deal = self._deal(deal_id)
            self._expect_status(deal_id, deal.status, Status.COMPLETED)
            if deal.validator != ZERO_ADDRESS:
                raise Revert("InvalidValidationScheme")
            if sender != deal.client:
                raise Revert("NotTheClient")
            self._before_deadline(deal_id, deal)
            deadline = self._to_court(sender, deal, req.bond, set_bond=True)
            self._emit("Disputed", dealId=deal_id, client=sender, bond=req.bond, deadline=deadline)
        return events

    def appeal(self, sender: str, deal_id: bytes) -> list:
        """appeal: the party the validator's verdict went against takes it to the court, posting the bond."""
        with self._calls.call() as events:
            deal = self._deal(deal_id)
            self._expect_status(deal_id, deal.status, Status.JUDGED)
            appellant = deal.disputant()
            if sender != appellant:
                raise Revert("NotTheAppellant", expected=appellant, actual=sender)
            self._before_deadline(deal_id, deal)
            bond = deal.bond
            deadline = self._to_court(sender, deal, bond)
            self._emit("Appealed", dealId=deal_id, appellant=sender, bond=bond, deadline=deadline)
        return events

    def escalate(self, sender: str, deal_id: bytes) -> list:
        """escalate: a silent validator's deal goes to the court once the window passed (its stake pays)."""
        with self._calls.call() as events:
            deal = self._deal(deal_id)
            self._expect_status(deal_id, deal.status, Status.COMPLETED)
            if deal.validator == ZERO_ADDRESS:
                raise Revert("InvalidValidationScheme")
            self._after_deadline(deal_id, deal)
            deadline = self._to_court(sender, deal, 0)
            self._emit("Escalated", dealId=deal_id, deadline=deadline)
        return events

    def _to_court(self, sender: str, deal: Deal, bond: int, set_bond: bool = False) -> int:
        """_toCourt: the deal goes before the court, the caller posting `bond` (none for an escalation); returns
        the court's deadline. A dispute also records the bond it posted (`set_bond`)."""
        deadline = checked_add(self._clock.now, self.court_window, 40)
        if bond:
            self.escrow.check_lock_or_pull(deal.token, sender, bond)
        if set_bond:
            deal.bond = bond
        deal.status, deal.deadline = Status.DISPUTED, deadline
        if bond:
            self.escrow.lock_or_pull(deal.token, sender, bond)
        return deadline

    # ------------------------------------------------------------------------------------------------
    # Checks
    # ------------------------------------------------------------------------------------------------

    def _check_terms(self, req: Request) -> None:
        """_checkTerms: the request's terms that do not depend on time."""
        if req.token not in self._contracts:
            raise Revert("NotAToken", token=req.token)
        if req.max_price == 0:
            raise Revert("ZeroAmount")
        if req.commence_within == 0 or req.job_duration == 0 or req.validation_window == 0:
            raise Revert("InvalidDuration")
        if req.bond == 0:
            raise Revert("ZeroAmount")
        has_validator = req.validator != ZERO_ADDRESS
        if (req.scheme == ValidationScheme.VALIDATOR) != has_validator:
            raise Revert("InvalidValidationScheme")
        if not has_validator and req.validator_fee != 0:
            raise Revert("InvalidValidationScheme")
        if has_validator and req.validator == req.client:
            raise Revert("InvalidValidationScheme")
        if self.court in (req.client, req.validator):
            raise Revert("SelfDeal")
        if req.spec_hash == ZERO_BYTES32:
            raise Revert("ZeroSpecHash")

    def _deal(self, deal_id: bytes) -> Deal:
        """The stored deal, or a zero one (not stored: only a transition writes, and every transition out of
        NONE but cancelRequest and accept is refused)."""
        return self._deals.get(deal_id) or Deal()

    @staticmethod
    def _expect_status(deal_id: bytes, actual: Status, expected: Status) -> None:
        if actual != expected:
            raise Revert("UnexpectedStatus", dealId=deal_id, status=actual)

    def _before_deadline(self, deal_id: bytes, deal: Deal) -> int:
        """_beforeDeadline: refused once the deal's current deadline has passed; returns the time."""
        now = self._clock.now
        if now > deal.deadline:
            raise Revert("DeadlinePassed", dealId=deal_id, deadline=deal.deadline)
        return now

    def _after_deadline(self, deal_id: bytes, deal: Deal) -> None:
        """_afterDeadline: refused until the deal's current deadline has passed."""
        if self._clock.now <= deal.deadline:
            raise Revert("DeadlineNotReached", dealId=deal_id, deadline=deal.deadline)

    def _emit(self, name: str, **args) -> None:
        self._calls.emit(self.address, name, **args)
