"""The runtime's bookkeeping on its own: locks never commit capacity or funds twice, dialogues accept
exactly the scheme's valid replies (new, existing, duplicate, unidentified and invalid arrivals), and the
escrow book debits and credits what the market does."""

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from agents.policy import Arrival, Capacity, Dialogue, Reply, Role
from agents.protocol import (
    SCHEME,
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
        if old == new or new in self.model:
            return
        self.locks.move(old, new)
        if old in self.model:
            self.model[new] = self.model.pop(old)

    @invariant()
    def never_over_committed(self):
        free = self.locks.free_capacity
        assert free.cores >= 0 and free.ram_bytes >= 0 and free.gpus >= 0 and self.locks.free_funds >= 0
        assert self.locks.free_funds == FUNDS - sum(f for _, f in self.model.values())
        assert self.locks.free_capacity.cores == TOTAL.cores - sum(c.cores for c, _ in self.model.values())


TestLockBook = LockBook.TestCase
TestLockBook.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)


DOMAIN = Domain(31337, "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0")
CLIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PROVIDER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
STRANGER = "0x90F79bf6EB2c4f870365E96eaCe21AC8fE6C1DD4"
REQUEST = Request(CLIENT, DOMAIN.market, 10, 1, 1_000, 60, 60, 60, ValidationScheme.OPTIMISTIC, "0x" + "00" * 20,
                  b"\x11" * 32, 1)
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

PRICE, COLLATERAL = 9, 1


def _agreed(me_role: Role, me: str, status: Status) -> tuple[EscrowBook, Dialogue]:
    """A book of `me` that holds its side of an agreed deal, and the deal moved on to `status`."""
    book = EscrowBook(me, me_role, Locks(capacity=TOTAL, funds=FUNDS))
    dialogue = Dialogue(DEAL, me_role, DOMAIN, request=REQUEST, provider=PROVIDER, price=PRICE, collateral=COLLATERAL,
                        status=Status.AGREED)
    assert book.apply(dialogue, _message(Performative.ACCEPT, 1, {"status": int(Status.AGREED)}))
    dialogue.status = status
    return book, dialogue


@pytest.mark.parametrize("status, client_gets, provider_gets", [
    (Status.SETTLED, 0, PRICE + COLLATERAL),  # approved, or the validation window passed: the provider
    (Status.SLASHED, PRICE + COLLATERAL, 0),  # rejected, timed out or aborted: the client
])
def test_escrow_book_credits_the_party_a_closing_favours(status, client_gets, provider_gets):
    for role, me, gets, side in ((Role.CLIENT, CLIENT, client_gets, PRICE),
                                 (Role.PROVIDER, PROVIDER, provider_gets, COLLATERAL)):
        book, dialogue = _agreed(role, me, status)
        assert book.locks.funds == FUNDS - side and dialogue.my_locked == side  # agreeing debits its side
        assert book.apply(dialogue, _message(Performative.SETTLE, 2, {"outcome": int(status)}))
        assert book.locks.funds == FUNDS - side + gets
        assert not book.locks.keys  # nothing stays held for a closed deal


def test_escrow_book_refunds_whoever_funded_an_unfunded_deal():
    # The provider accepted a counter-offer it could not cover: only the client's payment is locked.
    for role, me, locked in ((Role.CLIENT, CLIENT, PRICE), (Role.PROVIDER, PROVIDER, 0)):
        book = EscrowBook(me, role, Locks(capacity=TOTAL, funds=FUNDS))
        dialogue = Dialogue(DEAL, role, DOMAIN, request=REQUEST, provider=PROVIDER, price=PRICE,
                            collateral=COLLATERAL, status=Status.AWAITING_COLLATERAL)
        assert book.apply(dialogue, _message(Performative.ACCEPT, 1, {"status": int(dialogue.status)}))
        assert book.locks.funds == FUNDS - locked
        dialogue.status = Status.UNFUNDED
        book.apply(dialogue, _message(Performative.COLLATERAL_MISSING, 2, {"outcome": int(Status.UNFUNDED)}))
        assert book.locks.funds == FUNDS


def test_escrow_book_holds_for_replies_and_forgets_deals_won_by_others():
    book = EscrowBook(PROVIDER, Role.PROVIDER, Locks(capacity=TOTAL, funds=FUNDS))
    offer = Offer(DEAL, PROVIDER, PRICE, COLLATERAL, 500, 0)
    book.hold_for(Reply(Performative.OFFER, DEAL, offer=offer, capacity=Capacity(cores=2)))
    assert book.locks.free_funds == FUNDS - COLLATERAL and book.locks.free_capacity.cores == TOTAL.cores - 2
    with pytest.raises(LockUnavailable):
        book.hold_for(Reply(Performative.OFFER, KEYS[1], offer=offer, capacity=Capacity(cores=7)))
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


def test_deadline_duties_go_to_the_party_that_gains():
    def duties(me, status):
        dialogue = Dialogue(DEAL, Role.CLIENT, DOMAIN, request=REQUEST, provider=PROVIDER, status=status,
                            deadline=100)
        assert deadline_duties(me, [dialogue], now=101) == []  # one second of margin
        return [reply.performative for reply in deadline_duties(me, [dialogue], now=102)]

    assert duties(CLIENT, Status.AGREED) == duties(CLIENT, Status.COMMENCED) == [Performative.CLAIM_TIMEOUT]
    assert duties(PROVIDER, Status.COMPLETED) == [Performative.SETTLE]
    assert duties(CLIENT, Status.AWAITING_COLLATERAL) == [Performative.COLLATERAL_MISSING]
    assert duties(PROVIDER, Status.AWAITING_PAYMENT) == [Performative.COLLATERAL_MISSING]
    assert duties(PROVIDER, Status.AGREED) == duties(CLIENT, Status.COMPLETED) == []
