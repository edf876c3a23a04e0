"""The escrow book: an agent's mirror of its escrow account at the market, kept in its locks.

The market holds each party's side of a deal (the client's price, the provider's collateral) from
agreement until the deal closes, then pays both out to whoever the closing favours. The book follows
that from the chain messages an agent sees, so the funds the locks offer to new deals are what the escrow
really has free: a negotiation holds funds, an agreed deal debits them, a closed deal credits what it paid
back. It also knows who gains from each deadline passing, hence who moves the deal on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agents.policy import Capacity, Dialogue, Reply, Role
from agents.protocol import Message, Performative, Status
from agents.runtime.locks import Locks


@dataclass
class EscrowBook:
    me: str  # the agent's address
    role: Role
    locks: Locks

    def hold_for(self, reply: Reply) -> None:
        """Reserve what a reply commits (funds, capacity), before it is sent; raises LockUnavailable."""
        p, locks = reply.performative, self.locks
        if p == Performative.REQUEST:
            locks.hold(reply.deal_id, funds=reply.request.max_price)
        elif p == Performative.OFFER and reply.offer.provider == self.me:
            locks.hold(reply.deal_id, capacity=reply.capacity, funds=reply.offer.collateral)
        elif p == Performative.ACCEPT and self.role == Role.CLIENT:
            locks.hold(reply.deal_id, funds=reply.offer.price)
        elif p == Performative.ACCEPT and self.role == Role.PROVIDER:
            locks.hold(reply.deal_id, capacity=reply.capacity, funds=reply.offer.collateral)

    def release_unsent(self, performative: Performative, deal_id: bytes) -> None:
        """A request or offer that never reached the chain (refused, or not sent) holds nothing any more."""
        if performative in (Performative.REQUEST, Performative.OFFER):
            self.locks.release(deal_id)

    def apply(self, dialogue: Dialogue, message: Message) -> bool:
        """Mirror the escrow movement of a message the dialogue just applied. False when the deal went to
        another provider: nothing of this agent's is committed to it any more, and it is not its deal."""
        if message.performative in (Performative.ACCEPT, Performative.FUND):
            if self.role == Role.PROVIDER and self.me != dialogue.provider:
                self.locks.release(dialogue.deal_id)
                return False
            self._settle(dialogue)
        if dialogue.status.is_terminal:
            self.locks.funds += self._credit_on_close(dialogue)
            self.locks.release(dialogue.deal_id)
        return True

    def rebuild(self, balance: int, open_dialogues: Iterable[Dialogue]) -> None:
        """After a restart: the available escrow balance read from the market, and the open deals replayed
        from history (the balance already excludes what they hold)."""
        self.locks.funds = balance
        for dialogue in open_dialogues:
            self._settle(dialogue, already_debited=True)

    def _settle(self, dialogue: Dialogue, already_debited: bool = False) -> None:
        """Once a deal exists on chain, its funds sit in the deal rather than in the agent's available
        balance: the negotiation's funds hold becomes a debit, and only capacity stays held."""
        self.locks.release(dialogue.deal_id)
        locked = self._locked_side(dialogue)
        if locked > dialogue.my_locked:
            if not already_debited:
                self.locks.funds -= locked - dialogue.my_locked
            dialogue.my_locked = locked
        if self.me == dialogue.provider and dialogue.capacity != Capacity():
            self.locks.hold(dialogue.deal_id, capacity=dialogue.capacity)

    def _locked_side(self, dialogue: Dialogue) -> int:
        """What the deal holds of this agent's funds in its current status."""
        status = dialogue.status
        if status == Status.NONE or status.is_terminal:
            return dialogue.my_locked
        if self.me == dialogue.client and status != Status.AWAITING_PAYMENT:
            return dialogue.price or 0
        if self.me == dialogue.provider and status != Status.AWAITING_COLLATERAL:
            return dialogue.collateral or 0
        return 0

    def _credit_on_close(self, dialogue: Dialogue) -> int:
        """What closing the deal returned to this agent's available balance: a settled deal pays price and
        collateral to the provider, a slashed one to the client; an unfunded one refunds whoever funded."""
        status = dialogue.status
        both = (dialogue.price or 0) + (dialogue.collateral or 0)
        if status == Status.SETTLED:
            return both if self.me == dialogue.provider else 0
        if status == Status.SLASHED:
            return both if self.me == dialogue.client else 0
        if status == Status.UNFUNDED:
            return dialogue.my_locked
        return 0


def deadline_duties(me: str, open_dialogues: Iterable[Dialogue], now: int) -> list[Reply]:
    """After a deadline anyone may move a deal on; an agent does it when it is the party that gains: the
    client reclaims its payment from a provider that did not work or fund, the provider collects after an
    unanswered delivery or frees itself from a client that did not pay."""
    replies = []
    for dialogue in open_dialogues:
        # One second of margin: the transaction's block must be strictly after the deadline.
        if dialogue.deadline is None or now <= dialogue.deadline + 1:
            continue
        status = dialogue.status
        if status in (Status.AGREED, Status.COMMENCED) and me == dialogue.client:
            replies.append(Reply(Performative.CLAIM_TIMEOUT, dialogue.deal_id))
        elif status == Status.COMPLETED and me == dialogue.provider:
            replies.append(Reply(Performative.SETTLE, dialogue.deal_id))
        elif status == Status.AWAITING_COLLATERAL and me == dialogue.client:
            replies.append(Reply(Performative.COLLATERAL_MISSING, dialogue.deal_id))
        elif status == Status.AWAITING_PAYMENT and me == dialogue.provider:
            replies.append(Reply(Performative.COLLATERAL_MISSING, dialogue.deal_id))
    return replies
