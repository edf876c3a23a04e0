"""The escrow book: an agent's mirror of its escrow account at the market, kept in its locks.

The market holds each party's side of a deal from agreement until the deal closes (the client's price and
the validator's fee, the provider's collateral, the validator's stake, the bond of whoever takes the result
to the court), then pays them out as the closing says (`closing_credits`: agents.settlement's rules). The
book follows that from the chain messages an agent sees, so the funds the locks offer to new deals are what
the escrow really has free: a negotiation or a dispute about to be sent holds funds, a deal debits them, a
closed deal credits what it paid back. It also knows who gains from each deadline passing, hence who moves
the deal on (`deadline_duties`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agents.policy import Capacity, Dialogue, Reply, Role
from agents.protocol import Message, Performative, Status
from agents.runtime.locks import Locks
from agents.settlement import Closing, credits

BONDED = (Performative.DISPUTE, Performative.APPEAL)  # the sender posts the deal's bond


def bond_key(deal_id: bytes) -> bytes:
    """The lock key of a bond about to be posted: apart from the deal's own hold (a provider's capacity)."""
    return b"bond:" + deal_id


@dataclass
class EscrowBook:
    me: str  # the agent's address
    role: Role
    locks: Locks

    @property
    def court(self) -> str | None:
        """The court's address as far as this book needs it: its own, if it is the court."""
        return self.me if self.role == Role.COURT else None

    def hold_for(self, reply: Reply, dialogue: Dialogue | None) -> None:
        """Reserve what a reply commits (funds, capacity), before it is sent; raises LockUnavailable."""
        p, locks = reply.performative, self.locks
        if p == Performative.REQUEST:
            locks.hold(reply.deal_id, funds=reply.request.max_price + reply.request.validator_fee)
        elif p == Performative.OFFER and reply.offer.provider == self.me:
            locks.hold(reply.deal_id, capacity=reply.capacity, funds=reply.offer.collateral)
        elif p == Performative.ACCEPT and self.role == Role.CLIENT:
            fee = dialogue.request.validator_fee if dialogue is not None and dialogue.request else 0
            locks.hold(reply.deal_id, funds=reply.offer.price + fee)
        elif p == Performative.ACCEPT and self.role == Role.PROVIDER:
            locks.hold(reply.deal_id, capacity=reply.capacity, funds=reply.offer.collateral)
        elif p in BONDED and dialogue is not None and dialogue.request is not None:
            locks.hold(bond_key(reply.deal_id), funds=dialogue.request.bond)

    def release_unsent(self, performative: Performative, deal_id: bytes) -> None:
        """A reply that never reached the chain (refused, or not sent) holds nothing any more."""
        if performative in (Performative.REQUEST, Performative.OFFER):
            self.locks.release(deal_id)
        elif performative in BONDED:
            self.locks.release(bond_key(deal_id))

    def apply(self, dialogue: Dialogue, message: Message) -> bool:
        """Mirror the escrow movement of a message the dialogue just applied. False when the deal went to
        another provider: nothing of this agent's is committed to it any more, and it is not its deal."""
        if message.performative in (Performative.ACCEPT, Performative.FUND):
            if self.role == Role.PROVIDER and self.me != dialogue.provider:
                self.locks.release(dialogue.deal_id)
                return False
        if dialogue.status.is_terminal:
            self.locks.funds += closing_credits(dialogue, self.court).get(self.me, 0)
            self.locks.release(dialogue.deal_id)
            self.locks.release(bond_key(dialogue.deal_id))
        elif dialogue.status != Status.NONE:
            self._settle(dialogue)
        return True

    def rebuild(self, balance: int, open_dialogues: Iterable[Dialogue]) -> None:
        """After a restart: the available escrow balance read from the market, and the open deals replayed
        from history (the balance already excludes what they hold)."""
        self.locks.funds = balance
        for dialogue in open_dialogues:
            self._settle(dialogue, already_debited=True)

    def _settle(self, dialogue: Dialogue, already_debited: bool = False) -> None:
        """Once a deal exists on chain, what this agent locked sits in the deal rather than in its available
        balance: a hold becomes a debit, and only a provider's capacity stays held."""
        locked = locked_side(dialogue, self.me)
        if locked > dialogue.my_locked:
            if not already_debited:
                self.locks.funds -= locked - dialogue.my_locked
            dialogue.my_locked = locked
        self.locks.release(dialogue.deal_id)
        self.locks.release(bond_key(dialogue.deal_id))
        if self.me == dialogue.provider and dialogue.capacity != Capacity() and dialogue.status in MACHINE_HELD:
            self.locks.hold(dialogue.deal_id, capacity=dialogue.capacity)


# The statuses in which a deal holds its provider's machine: from agreement until the result is delivered. Once it
# is, the machine is free for other jobs while the result is judged.
MACHINE_HELD = frozenset({Status.AWAITING_COLLATERAL, Status.AWAITING_PAYMENT, Status.AGREED, Status.COMMENCED})


def locked_side(dialogue: Dialogue, party: str) -> int:
    """What an open deal holds of `party`'s funds in its current status (for a closed deal: what it held)."""
    status = dialogue.status
    if status == Status.NONE or status.is_terminal:
        return dialogue.my_locked
    locked = 0
    if party == dialogue.client and status != Status.AWAITING_PAYMENT:
        locked += dialogue.client_side
    if party == dialogue.provider and status != Status.AWAITING_COLLATERAL:
        locked += dialogue.collateral or 0
    if party == dialogue.validator:
        locked += dialogue.request.bond  # its stake, locked at acceptance whatever side is awaited
    if party == dialogue.disputant and status == Status.DISPUTED:
        locked += dialogue.request.bond
    return locked


def closing_credits(dialogue: Dialogue, court: str | None = None) -> dict[str, int]:
    """Who the market credits what when the deal closes (agents.settlement's rules, on this agent's dialogue). The
    court's share is keyed by `court`, or by "court" when its address is not known."""
    return credits(closing_of(dialogue), court or "court")


def closing_of(dialogue: Dialogue) -> Closing:
    request = dialogue.request
    return Closing(
        outcome=dialogue.status, reason=dialogue.close_reason, client=dialogue.client, provider=dialogue.provider,
        price=dialogue.price or 0, collateral=dialogue.collateral or 0, validator_fee=dialogue.validator_fee,
        bond=request.bond if request is not None else 0, validator=dialogue.validator,
        verdict_approved=dialogue.verdict, disputant=dialogue.disputant,
        client_side_locked=dialogue.accepted_status == Status.AWAITING_COLLATERAL,
    )


def deadline_duties(me: str, open_dialogues: Iterable[Dialogue], now: int) -> list[Reply]:
    """After a deadline anyone may move a deal on; an agent does it when it is the party that gains, so that
    no deal is ever left stuck:
    - the client reclaims its payment from a provider that did not work or fund, and unwinds a dispute the
      court left unruled (everyone gets back what it locked);
    - the provider collects after an unanswered delivery, frees itself from a client that did not pay, and
      takes a result its validator never judged to the court; the client does that too when its own check
      failed, or when a whole further window passed without the provider doing it;
    - after the appeal window the party the verdict favours carries it out."""
    replies = []
    for d in open_dialogues:
        # One second of margin: the transaction's block must be strictly after the deadline.
        if d.deadline is None or now <= d.deadline + 1:
            continue
        move = _duty(me, d, now)
        if move is not None:
            replies.append(Reply(move, d.deal_id))
    return replies


def _duty(me: str, d: Dialogue, now: int) -> Performative | None:
    status, client, provider = d.status, d.client, d.provider
    if status in (Status.AGREED, Status.COMMENCED, Status.DISPUTED) and me == client:
        return Performative.CLAIM_TIMEOUT
    if status == Status.AWAITING_COLLATERAL and me == client:
        return Performative.COLLATERAL_MISSING
    if status == Status.AWAITING_PAYMENT and me == provider:
        return Performative.COLLATERAL_MISSING
    if status == Status.COMPLETED and d.validator is None:
        return Performative.SETTLE if me == provider else None
    if status == Status.COMPLETED:  # the validator stayed silent
        if me == provider and d.result_ok is not False:
            return Performative.ESCALATE
        if me == client and (d.result_ok is False or now > d.deadline + d.request.validation_window):
            return Performative.ESCALATE
        return None
    if status == Status.JUDGED and me == (provider if d.verdict else client):
        return Performative.SETTLE
    return None
