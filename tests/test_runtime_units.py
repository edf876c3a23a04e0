"""The runtime's bookkeeping on its own: locks never commit capacity or funds twice, dialogues accept
exactly the scheme's valid replies (new, existing, duplicate, unidentified and invalid arrivals), and the
escrow book debits and credits what the market does."""

from dataclasses import replace

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from agents.policy import Arrival, Capacity, Dialogue, Reply, Role
from agents.protocol import (
    SCHEME,
    CloseReason,
    Domain,
    Message,
    Offer,
    Performative,
    Request,
    Status,
    ValidationScheme,
    valid_replies,
)
from agents.runtime.dialogues import Dialogues
from agents.runtime.escrow import EscrowBook, deadline_duties
from agents.runtime.locks import Locks, LockUnavailable
from agents.runtime.outbox import FeeSchedule, Outbox, SentTransaction

TOTAL = Capacity(cores=8, ram_bytes=64, gpus=1)
FUNDS = 100
KEYS = [bytes([i]) * 32 for i in range(6)]


class LockBook(RuleBasedStateMachine):
    """Random holds, moves and releases: what is held never exceeds what there is, and a refused hold
    changes nothing."""

    def __init__(self):
        super().__init__()
        self.locks = Locks(capacity=TOTAL, funds=FUNDS)
        self.model: dict[bytes, tuple[Capacity, int]] = {}

    @rule(key=st.sampled_from(KEYS), cores=st.integers(0, 9), ram=st.integers(0, 70), gpus=st.integers(0, 1),
          funds=st.integers(0, 120))
    def hold(self, key, cores, ram, gpus, funds):
        wanted = Capacity(cores, ram, gpus)
        others = [v for k, v in self.model.items() if k != key]
        held = Capacity(sum(c.cores for c, _ in others), sum(c.ram_bytes for c, _ in others),
                        sum(c.gpus for c, _ in others))
        fits = (wanted + held).fits_within(TOTAL) and funds + sum(f for _, f in others) <= FUNDS
        before = (self.locks.free_capacity, self.locks.free_funds)
        if fits:
            self.locks.hold(key, capacity=wanted, funds=funds)
            self.model[key] = (wanted, funds)
        else:
            with pytest.raises(LockUnavailable):
                self.locks.hold(key, capacity=wanted, funds=funds)
            assert (self.locks.free_capacity, self.locks.free_funds) == before

    @rule(key=st.sampled_from(KEYS))
    def release(self, key):
        self.locks.release(key)
        self.model.pop(key, None)

    @rule(old=st.sampled_from(KEYS), new=st.sampled_from(KEYS))
    def move(self, old, new):
        self.locks.move(old, new)
        if old in self.model and old != new:
            # Each part held under `old` (capacity, funds) replaces that part under `new`.
            (capacity, funds), (kept_capacity, kept_funds) = self.model.pop(old), self.model.get(new, (Capacity(), 0))
            self.model[new] = (capacity if capacity != Capacity() else kept_capacity, funds or kept_funds)

    @invariant()
    def never_over_committed(self):
        free = self.locks.free_capacity
        assert free.cores >= 0 and free.ram_bytes >= 0 and free.gpus >= 0 and self.locks.free_funds >= 0
        assert self.locks.free_funds == FUNDS - sum(f for _, f in self.model.values())
        held = list(self.model.values())
        assert free == Capacity(TOTAL.cores - sum(c.cores for c, _ in held),
                                TOTAL.ram_bytes - sum(c.ram_bytes for c, _ in held),
                                TOTAL.gpus - sum(c.gpus for c, _ in held))


TestLockBook = LockBook.TestCase
TestLockBook.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)


DOMAIN = Domain(31337, "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0")
CLIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PROVIDER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
STRANGER = "0x90F79bf6EB2c4f870365E96eaCe21AC8fE6C1DD4"
REQUEST = Request(CLIENT, DOMAIN.market, 10, 1, 1_000, 60, 60, 60, ValidationScheme.OPTIMISTIC, "0x" + "00" * 20,
                  0, 2, b"\x11" * 32, 1)
DEAL = b"\xde" * 32


def _message(performative, block, args, sender=None, time=100):
    return Message(performative, DEAL, sender, args, block, time, (block, 0), 0.0)


def _request_message(block=1):
    values = dict(zip([f.name for f in Request.FIELDS], REQUEST.as_tuple()))
    return _message(Performative.REQUEST, block, {"request": values, "specURI": "file:///spec", "invited": []}, CLIENT)


def _offer_message(block, signer, provider=PROVIDER):
    offer = Offer(DEAL, provider, 9, 1, 500, 0)
    values = dict(zip([f.name for f in Offer.FIELDS], offer.as_tuple()))
    return _message(Performative.OFFER, block, {"offer": values, "signer": signer, "signature": b"\x00" * 65}, signer)


def test_dialogue_arrivals():
    dialogues = Dialogues(Role.CLIENT, DOMAIN)
    # A message for a deal nobody opened is unidentified.
    assert dialogues.update(_offer_message(1, PROVIDER))[1] == Arrival.UNIDENTIFIED
    dialogue, arrival = dialogues.update(_request_message(2))
    assert arrival == Arrival.NEW and dialogue.request == REQUEST and dialogue.deadline == REQUEST.offer_deadline
    assert dialogues.open() == [dialogue] and dialogues.open_deals() == 0  # open, still a request
    assert dialogues.update(_request_message(2))[1] == Arrival.DUPLICATE  # the same log twice
    assert dialogues.update(_offer_message(3, PROVIDER))[1] == Arrival.EXISTING
    # Offers signed by a third party are noise: the market only checks that the caller signed.
    assert dialogues.update(_offer_message(4, STRANGER))[1] == Arrival.INVALID
    assert len(dialogue.offers) == 1
    # Commencement before any agreement is not a valid reply in the dialogue's state.
    commenced = _message(Performative.COMMENCE, 5, {"attestation": b"\x01" * 32})
    assert dialogues.update(commenced)[1] == Arrival.INVALID and dialogue.status == Status.NONE
    accepted = _message(Performative.ACCEPT, 6, {"offerHash": dialogue.offers[0].offer_hash, "provider": PROVIDER,
                                                 "status": int(Status.AGREED)}, time=200)
    assert dialogues.update(accepted)[1] == Arrival.EXISTING
    assert dialogue.status == Status.AGREED and (dialogue.price, dialogue.collateral) == (9, 1)
    assert dialogue.deadline == 200 + REQUEST.commence_within
    assert dialogues.open() == [dialogue] and dialogues.open_deals() == 1  # now a deal
    closed = _message(Performative.CLAIM_TIMEOUT, 7, {"dealId": DEAL, "outcome": int(Status.SLASHED),
                                                      "reason": int(CloseReason.COMMENCEMENT_TIMEOUT)}, time=500)
    assert dialogues.update(closed)[1] == Arrival.EXISTING and not dialogue.is_open
    assert dialogues.open() == [] and dialogues.open_deals() == 0 and dialogues.get(DEAL) is dialogue


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.just("send"), st.integers(0, 40)), max_size=60))
def test_gas_spent_is_the_fees_of_every_transaction_with_a_receipt(moves):
    """Receipts arrive in any order (an integer: the receipt of that sent transaction, if it has none yet); the
    running sum always equals the plain sum of the fees of transactions with a receipt."""
    outbox = Outbox(rpc=None, account=Account.create(), chain_id=1, fees=FeeSchedule())
    for move in moves:
        if move == "send":
            outbox.sent.append(SentTransaction(f"0x{len(outbox.sent):x}", "offer", None, len(outbox.sent), 0.0, None))
        elif move < len(outbox.sent) and outbox.sent[move].receipt is None:
            outbox.sent[move].receipt = {"status": "0x1", "gasUsed": hex(21_000 + move), "effectiveGasPrice": hex(7)}
        assert outbox.gas_spent_wei == sum(tx.fee_paid for tx in outbox.sent if tx.receipt is not None)


def test_scheme_table_is_complete_and_consistent():
    # Every non-terminal status has a way out, and only through a deadline-free or deadline-bound move.
    for status in Status:
        replies = valid_replies(status)
        if status.is_terminal:
            assert not replies, status
        elif status != Status.NONE:
            assert any(t.timing.value == "after" for t in replies), f"{status} has no move after its deadline"
    # Every transition's targets are statuses the contract has.
    assert all(target in Status for t in SCHEME for target in t.targets)


# --- the escrow book ------------------------------------------------------------------------------------
# Each party keeps its own dialogue and book of the same deal, fed the same chain messages; what the books say
# each party gets back is checked against the contract's payouts, party by party, and money is conserved.

PRICE, COLLATERAL, FEE, BOND = 9, 3, 2, 4
VALIDATOR = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"
COURT = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
PARTIES = {CLIENT: Role.CLIENT, PROVIDER: Role.PROVIDER, VALIDATOR: Role.VALIDATOR, COURT: Role.COURT}
VALIDATED = replace(REQUEST, scheme=ValidationScheme.VALIDATOR, validator=VALIDATOR, validator_fee=FEE, bond=BOND)
OPTIMISTIC = replace(REQUEST, bond=BOND)
A, B = 1, 2  # two attestation uids


class Deal:
    """One deal as every party's runtime sees it: a dialogue and an escrow book per party."""

    def __init__(self, request: Request):
        self.request = request
        self.books = {me: EscrowBook(me, role, Locks(capacity=TOTAL, funds=FUNDS)) for me, role in PARTIES.items()}
        self.dialogues = {me: Dialogue(DEAL, role, DOMAIN) for me, role in PARTIES.items()}
        self.block = 0

    def send(self, performative, args=None, sender=None, time=100) -> "Deal":
        self.block += 1
        message = _message(performative, self.block, {"dealId": DEAL, **(args or {})}, sender, time)
        for me, dialogue in self.dialogues.items():
            assert dialogue.apply(message) in (Arrival.EXISTING,), (performative, dialogue.status)
            assert self.books[me].apply(dialogue, message)
        return self

    def agreed(self, status=Status.AGREED) -> "Deal":
        values = dict(zip([f.name for f in Request.FIELDS], self.request.as_tuple()))
        self.send(Performative.REQUEST, {"request": values, "specURI": "file:///spec", "invited": []}, CLIENT)
        offer = Offer(DEAL, PROVIDER, PRICE, COLLATERAL, 500, 0)
        offer_args = {"offer": dict(zip([f.name for f in Offer.FIELDS], offer.as_tuple())), "signer": PROVIDER,
                      "signature": b"\x00" * 65}
        self.send(Performative.OFFER, offer_args, PROVIDER)
        offer_hash = self.dialogues[CLIENT].offers[0].offer_hash
        return self.send(Performative.ACCEPT, {"offerHash": offer_hash, "provider": PROVIDER, "status": int(status)})

    def completed(self) -> "Deal":
        self.agreed().send(Performative.COMMENCE, {"attestation": bytes([A]) * 32})
        return self.send(Performative.COMPLETE, {"attestation": bytes([B]) * 32, "resultHash": b"\x01" * 32,
                                                 "resultURI": "file:///r"}, time=200)

    def verdict(self, approved: bool) -> "Deal":
        return self.send(Performative.VERDICT, {"attestation": b"\x07" * 32, "approved": approved}, time=210)

    def to_court(self, performative, sender=None) -> "Deal":
        field = {Performative.DISPUTE: "client", Performative.APPEAL: "appellant"}.get(performative)
        args = {"bond": BOND, "deadline": 999} if field else {"deadline": 999}
        if field:
            args[field] = sender
        return self.send(performative, args, sender)

    def closed(self, outcome: Status, reason: CloseReason, performative=Performative.SETTLE) -> "Deal":
        return self.send(performative, {"outcome": int(outcome), "reason": int(reason)}, time=300)

    def net(self) -> dict[str, int]:
        """Each party's gain (+) or loss (-) once the deal closed."""
        return {me: book.locks.funds - FUNDS for me, book in self.books.items()}


C, P, V, J = CLIENT, PROVIDER, VALIDATOR, COURT
R, S = CloseReason, Status


@pytest.mark.parametrize("name, run, expected", [
    ("optimistic, approved by the client", lambda d: d.completed().closed(S.SETTLED, R.APPROVED, Performative.APPROVE),
     {C: -PRICE, P: PRICE}),
    ("optimistic, unanswered", lambda d: d.completed().closed(S.SETTLED, R.VALIDATION_WINDOW_PASSED),
     {C: -PRICE, P: PRICE}),
    ("optimistic, wrong result disputed", lambda d: d.completed().to_court(Performative.DISPUTE, C)
     .closed(S.SLASHED, R.COURT_REJECTED, Performative.RULING),
     {C: COLLATERAL - BOND, P: -COLLATERAL, J: BOND}),  # the dispute bond pays the court, win or lose
    ("optimistic, false dispute", lambda d: d.completed().to_court(Performative.DISPUTE, C)
     .closed(S.SETTLED, R.COURT_APPROVED, Performative.RULING),
     {C: -PRICE - BOND, P: PRICE, J: BOND}),
    ("optimistic, the court never ruled", lambda d: d.completed().to_court(Performative.DISPUTE, C)
     .closed(S.UNWOUND, R.COURT_TIMEOUT, Performative.CLAIM_TIMEOUT), {}),
    ("optimistic, provider timed out", lambda d: d.agreed().closed(S.SLASHED, R.COMMENCEMENT_TIMEOUT,
                                                                   Performative.CLAIM_TIMEOUT),
     {C: COLLATERAL, P: -COLLATERAL}),
])
def test_escrow_books_follow_optimistic_payouts(name, run, expected):
    deal = run(Deal(OPTIMISTIC))
    assert deal.net() == {party: expected.get(party, 0) for party in PARTIES}, name
    assert sum(deal.net().values()) == 0
    assert all(not book.locks.keys for book in deal.books.values())  # nothing stays held once closed


@pytest.mark.parametrize("name, run, expected", [
    ("verdict approved, stood", lambda d: d.completed().verdict(True).closed(S.SETTLED, R.VERDICT_APPROVED),
     {C: -PRICE - FEE, P: PRICE, V: FEE}),
    ("verdict rejected, stood", lambda d: d.completed().verdict(False).closed(S.SLASHED, R.VERDICT_REJECTED),
     {C: COLLATERAL - FEE, P: -COLLATERAL, V: FEE}),
    ("client approved before the verdict", lambda d: d.completed().closed(S.SETTLED, R.APPROVED, Performative.APPROVE),
     {C: -PRICE - FEE, P: PRICE, V: FEE}),  # the client bought the check: approving first still pays it
    ("wrong rejection appealed by the provider", lambda d: d.completed().verdict(False)
     .to_court(Performative.APPEAL, P).closed(S.SETTLED, R.COURT_APPROVED, Performative.RULING),
     {C: -PRICE, P: PRICE, V: -BOND, J: BOND}),
    ("wrong approval appealed by the client", lambda d: d.completed().verdict(True)
     .to_court(Performative.APPEAL, C).closed(S.SLASHED, R.COURT_REJECTED, Performative.RULING),
     {C: COLLATERAL, P: -COLLATERAL, V: -BOND, J: BOND}),
    ("right approval appealed by the client", lambda d: d.completed().verdict(True)
     .to_court(Performative.APPEAL, C).closed(S.SETTLED, R.COURT_APPROVED, Performative.RULING),
     {C: -PRICE - FEE - BOND, P: PRICE, V: FEE, J: BOND}),
    ("silent validator escalated", lambda d: d.completed().to_court(Performative.ESCALATE)
     .closed(S.SETTLED, R.COURT_APPROVED, Performative.RULING),
     {C: -PRICE, P: PRICE, V: -BOND, J: BOND}),
    ("appeal the court never ruled on", lambda d: d.completed().verdict(False).to_court(Performative.APPEAL, P)
     .closed(S.UNWOUND, R.COURT_TIMEOUT, Performative.CLAIM_TIMEOUT), {}),
    ("provider aborted", lambda d: d.agreed().closed(S.SLASHED, R.PROVIDER_ABORTED, Performative.ABORT),
     {C: COLLATERAL, P: -COLLATERAL}),
    ("provider never locked its collateral", lambda d: d.agreed(S.AWAITING_COLLATERAL)
     .closed(S.UNFUNDED, R.COLLATERAL_MISSING, Performative.COLLATERAL_MISSING), {}),
    ("client never paid", lambda d: d.agreed(S.AWAITING_PAYMENT)
     .closed(S.UNFUNDED, R.COLLATERAL_MISSING, Performative.COLLATERAL_MISSING), {}),
])
def test_escrow_books_follow_validator_payouts(name, run, expected):
    deal = run(Deal(VALIDATED))
    assert deal.net() == {party: expected.get(party, 0) for party in PARTIES}, name
    assert sum(deal.net().values()) == 0
    assert all(not book.locks.keys for book in deal.books.values())


def test_escrow_books_debit_each_side_while_the_deal_is_open():
    deal = Deal(VALIDATED).completed()
    # The client locks price and fee, the provider its collateral, the validator its stake.
    assert deal.net() == {C: -PRICE - FEE, P: -COLLATERAL, V: -BOND, J: 0}
    deal.verdict(False).to_court(Performative.APPEAL, P)
    assert deal.net()[P] == -COLLATERAL - BOND  # and the appellant its bond
    assert deal.dialogues[P].disputant == P and deal.dialogues[C].deadline == 999


def test_a_bond_is_held_before_its_dispute_is_sent_and_released_if_unsent():
    deal = Deal(OPTIMISTIC).completed()
    book, dialogue = deal.books[C], deal.dialogues[C]
    free = book.locks.free_funds
    book.hold_for(Reply(Performative.DISPUTE, DEAL), dialogue)
    assert book.locks.free_funds == free - BOND
    book.release_unsent(Performative.DISPUTE, DEAL)
    assert book.locks.free_funds == free
    with pytest.raises(LockUnavailable):
        poor = EscrowBook(C, Role.CLIENT, Locks(funds=BOND - 1))
        poor.hold_for(Reply(Performative.DISPUTE, DEAL), dialogue)
    # A request holds its most expensive outcome: the maximum price and the validator's fee.
    client = EscrowBook(C, Role.CLIENT, Locks(funds=FUNDS))
    client.hold_for(Reply(Performative.REQUEST, DEAL, request=VALIDATED), None)
    assert client.locks.free_funds == FUNDS - VALIDATED.max_price - FEE


def test_escrow_book_holds_for_replies_and_forgets_deals_won_by_others():
    book = EscrowBook(PROVIDER, Role.PROVIDER, Locks(capacity=TOTAL, funds=FUNDS))
    offer = Offer(DEAL, PROVIDER, PRICE, COLLATERAL, 500, 0)
    book.hold_for(Reply(Performative.OFFER, DEAL, offer=offer, capacity=Capacity(cores=2)), None)
    assert book.locks.free_funds == FUNDS - COLLATERAL and book.locks.free_capacity.cores == TOTAL.cores - 2
    with pytest.raises(LockUnavailable):
        book.hold_for(Reply(Performative.OFFER, KEYS[1], offer=offer, capacity=Capacity(cores=7)), None)
    # Another provider's offer was accepted: the hold goes and the deal is not this agent's.
    dialogue = Dialogue(DEAL, Role.PROVIDER, DOMAIN, request=REQUEST, provider=STRANGER, price=PRICE,
                        collateral=COLLATERAL, status=Status.AGREED)
    assert not book.apply(dialogue, _message(Performative.ACCEPT, 1, {"status": int(Status.AGREED)}))
    assert book.locks.free_funds == FUNDS and not book.locks.keys


def test_escrow_book_rebuilds_from_the_balance_and_open_deals():
    book = EscrowBook(PROVIDER, Role.PROVIDER, Locks(capacity=TOTAL, funds=0))
    dialogue = Dialogue(DEAL, Role.PROVIDER, DOMAIN, request=REQUEST, provider=PROVIDER, price=PRICE,
                        collateral=COLLATERAL, status=Status.COMMENCED, capacity=Capacity(cores=3))
    book.rebuild(FUNDS - COLLATERAL, [dialogue])
    # The balance read already excludes the collateral: not debited twice; the job's cores stay held.
    assert book.locks.free_funds == FUNDS - COLLATERAL and dialogue.my_locked == COLLATERAL
    assert book.locks.free_capacity.cores == TOTAL.cores - 3


# --- deadline duties ------------------------------------------------------------------------------------


def _duties(me, status, request=REQUEST, now=102, **facts):
    dialogue = Dialogue(DEAL, Role.CLIENT, DOMAIN, request=request, provider=PROVIDER, status=status, deadline=100,
                        **facts)
    assert deadline_duties(me, [dialogue], now=101) == []  # one second of margin
    return [reply.performative for reply in deadline_duties(me, [dialogue], now=now)]


def test_deadline_duties_go_to_the_party_that_gains():
    assert _duties(CLIENT, Status.AGREED) == _duties(CLIENT, Status.COMMENCED) == [Performative.CLAIM_TIMEOUT]
    assert _duties(PROVIDER, Status.COMPLETED) == [Performative.SETTLE]
    assert _duties(CLIENT, Status.AWAITING_COLLATERAL) == [Performative.COLLATERAL_MISSING]
    assert _duties(PROVIDER, Status.AWAITING_PAYMENT) == [Performative.COLLATERAL_MISSING]
    assert _duties(PROVIDER, Status.AGREED) == _duties(CLIENT, Status.COMPLETED) == []


def test_deadline_duties_carry_out_a_verdict_once_its_appeal_window_passed():
    # The verdict's winner settles: the provider an approval, the client a rejection.
    assert _duties(PROVIDER, Status.JUDGED, VALIDATED, verdict=True) == [Performative.SETTLE]
    assert _duties(CLIENT, Status.JUDGED, VALIDATED, verdict=True) == []
    assert _duties(CLIENT, Status.JUDGED, VALIDATED, verdict=False) == [Performative.SETTLE]
    assert _duties(PROVIDER, Status.JUDGED, VALIDATED, verdict=False) == []
    assert _duties(VALIDATOR, Status.JUDGED, VALIDATED, verdict=True) == []


def test_deadline_duties_take_a_silent_validators_deal_to_the_court():
    # A validator deal cannot settle without a verdict: the provider escalates it, and so does the client whose
    # check failed; a client whose check passed waits one more window for the provider to do it.
    assert _duties(PROVIDER, Status.COMPLETED, VALIDATED) == [Performative.ESCALATE]
    assert _duties(PROVIDER, Status.COMPLETED, VALIDATED, result_ok=False) == []
    assert _duties(CLIENT, Status.COMPLETED, VALIDATED, result_ok=False) == [Performative.ESCALATE]
    assert _duties(CLIENT, Status.COMPLETED, VALIDATED, result_ok=True) == []
    later = 100 + VALIDATED.validation_window + 1
    assert _duties(CLIENT, Status.COMPLETED, VALIDATED, now=later, result_ok=True) == [Performative.ESCALATE]


def test_deadline_duties_unwind_a_dispute_the_court_left_unruled():
    assert _duties(CLIENT, Status.DISPUTED, VALIDATED) == [Performative.CLAIM_TIMEOUT]
    assert _duties(PROVIDER, Status.DISPUTED, VALIDATED) == _duties(COURT, Status.DISPUTED, VALIDATED) == []
