"""Dialogues: each negotiation is a dialogue (`agents.policy.Dialogue`) keyed by its on-chain deal id.

An agent's dialogues are built only from chain messages, each checked against the scheme's table of valid
replies, so a restarted agent rebuilds the same dialogues by replaying history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.policy import Arrival, Dialogue, Role
from agents.protocol import Domain, Message, Performative, Status


class WatchedDialogues(dict):
    """Dialogues by deal id that tell a watcher (the event feed's index of who follows which deal) every id that
    comes and goes, so that a deal's messages reach its parties without asking every agent in the market; and
    that find the open ones without looking at every closed one again (a closed deal never reopens), nor at any
    while none came, went or closed: every message and act asks for them, and a provider's are every open request
    in the market. A dialogue closes only through `Dialogues.update`, which says so (`status_changed`)."""

    def __init__(self):
        super().__init__()
        self.watchers: list = []  # objects with added(deal_id) and removed(deal_id)
        self._not_seen_closed: dict = {}  # the same ids in the same order, less those found closed
        self._open: list | None = None  # the open dialogues found last, until one comes, goes or closes

    def open_dialogues(self) -> list:
        """The open dialogues, in the order they were added (a new list: callers may change dialogues meanwhile)."""
        if self._open is None:
            candidates = self._not_seen_closed
            self._open = [dialogue for dialogue in candidates.values() if dialogue.is_open]
            if len(self._open) < len(candidates):  # some closed since: never look at them again
                self._not_seen_closed = {deal_id: d for deal_id, d in candidates.items() if d.is_open}
        return list(self._open)

    def status_changed(self) -> None:
        """A dialogue moved on (it may have closed): the open ones are looked for again."""
        self._open = None

    def __setitem__(self, deal_id, dialogue):
        new = deal_id not in self
        if new:
            for watcher in self.watchers:
                watcher.added(deal_id)
        super().__setitem__(deal_id, dialogue)
        self._open = None
        if new:
            self._not_seen_closed[deal_id] = dialogue
        else:  # a replaced dialogue: back in its place, open or not
            self._not_seen_closed = dict(self)

    def __delitem__(self, deal_id):
        super().__delitem__(deal_id)
        self._open = None
        self._not_seen_closed.pop(deal_id, None)
        for watcher in self.watchers:
            watcher.removed(deal_id)

    def pop(self, deal_id, *default):
        present = deal_id in self
        value = super().pop(deal_id, *default)
        if present:
            self._open = None
            self._not_seen_closed.pop(deal_id, None)
            for watcher in self.watchers:
                watcher.removed(deal_id)
        return value

    def setdefault(self, deal_id, default=None):
        if deal_id not in self:
            self[deal_id] = default
        return self[deal_id]

    def update(self, *args, **kwargs):
        for deal_id, dialogue in dict(*args, **kwargs).items():
            self[deal_id] = dialogue

    def clear(self):
        for deal_id in list(self):
            del self[deal_id]


@dataclass
class Dialogues:
    """All of one agent's dialogues, and the counts a report or a test inspects."""

    role: Role
    domain: Domain
    by_id: WatchedDialogues = field(default_factory=WatchedDialogues)
    counts: dict[Arrival, int] = field(default_factory=lambda: {a: 0 for a in Arrival})

    def open(self) -> list[Dialogue]:
        return self.by_id.open_dialogues()

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
        if arrival in (Arrival.NEW, Arrival.EXISTING) and not dialogue.is_open:
            self.by_id.status_changed()
        self.counts[arrival] += 1
        return dialogue, arrival

    def drop_expired_requests(self, now: int) -> list[bytes]:
        """Requests nobody agreed on before their offer deadline are over: drop them, return their ids."""
        # Only open dialogues can be requests still open: the closed ones, which accumulate, are not looked at.
        expired = [d.deal_id for d in self.open()
                   if d.status == Status.NONE and d.request and now > d.request.offer_deadline]
        for deal_id in expired:
            del self.by_id[deal_id]
        return expired
