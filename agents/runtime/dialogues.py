"""Dialogues: each negotiation is a dialogue (`agents.policy.Dialogue`) keyed by its on-chain deal id.

An agent's dialogues are built only from chain messages, each checked against the scheme's table of valid
replies, so a restarted agent rebuilds the same dialogues by replaying history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.policy import Arrival, Dialogue, Role
from agents.protocol import Domain, Message, Performative, Status


@dataclass
class Dialogues:
    """All of one agent's dialogues, and the counts a report or a test inspects."""

    role: Role
    domain: Domain
    by_id: dict[bytes, Dialogue] = field(default_factory=dict)
    counts: dict[Arrival, int] = field(default_factory=lambda: {a: 0 for a in Arrival})

    def open(self) -> list[Dialogue]:
        return [d for d in self.by_id.values() if d.is_open]

    def get(self, deal_id: bytes) -> Dialogue | None:
        return self.by_id.get(deal_id)

    def update(self, message: Message) -> tuple[Dialogue | None, Arrival]:
        dialogue = self.by_id.get(message.deal_id)
        if dialogue is None:
            if message.performative != Performative.REQUEST:
                self.counts[Arrival.UNIDENTIFIED] += 1
                return None, Arrival.UNIDENTIFIED
            dialogue = Dialogue(message.deal_id, self.role, self.domain)
            self.by_id[message.deal_id] = dialogue
            arrival = dialogue.apply(message)
            arrival = Arrival.NEW if arrival == Arrival.EXISTING else arrival
        else:
            arrival = dialogue.apply(message)
        self.counts[arrival] += 1
        return dialogue, arrival

    def drop_expired_requests(self, now: int) -> list[bytes]:
        """Requests nobody agreed on before their offer deadline are over: drop them, return their ids."""
        expired = [deal_id for deal_id, d in self.by_id.items()
                   if d.status == Status.NONE and d.request and now > d.request.offer_deadline]
        for deal_id in expired:
            del self.by_id[deal_id]
        return expired
