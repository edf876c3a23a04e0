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
    that keep the open ones, and how many of those are deals (past the request), up to date as messages move
    them on, so that no message or act looks at every dialogue: the court's are every deal in the market. A
    dialogue moves only through `Dialogues.update`, which says so (`moved`)."""

    def __init__(self):
        super().__init__()
        self.watchers: list = []  # objects with added(deal_id) and removed(deal_id)
        self._open: dict = {}  # deal id -> dialogue: the open ones, in the order they were added
        self._deals: set = set()  # ids of the open dialogues past the request (agreed, running, judged)

    def open_dialogues(self) -> list:
        """The open dialogues, in the order they were added (a new list: callers may change dialogues meanwhile)."""
        return list(self._open.values())

    def open_deals(self) -> int:
        """How many open dialogues are deals, not requests still negotiated."""
        return len(self._deals)

    def moved(self, dialogue) -> None:
        """A message moved a dialogue on: it may have become a deal, or closed (a closed deal never reopens)."""
        deal_id = dialogue.deal_id
        if not dialogue.is_open:
            self._open.pop(deal_id, None)
            self._deals.discard(deal_id)
        elif dialogue.status != Status.NONE:
            self._deals.add(deal_id)

    def __setitem__(self, deal_id, dialogue):
        new = deal_id not in self
        if new:
            for watcher in self.watchers:
                watcher.added(deal_id)
        super().__setitem__(deal_id, dialogue)
        if new:
            self._open[deal_id] = dialogue
            self.moved(dialogue)  # out again if it came in closed
        else:  # a replaced dialogue: back in its place, open or not
            self._open = {i: d for i, d in self.items() if d.is_open}
            self._deals = {i for i, d in self._open.items() if d.status != Status.NONE}

    def __delitem__(self, deal_id):
        super().__delitem__(deal_id)
        self._forget(deal_id)

    def pop(self, deal_id, *default):
        present = deal_id in self
        value = super().pop(deal_id, *default)
        if present:
            self._forget(deal_id)
        return value

    def _forget(self, deal_id) -> None:
        self._open.pop(deal_id, None)
        self._deals.discard(deal_id)
        for watcher in self.watchers:
            watcher.removed(deal_id)

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

    def open_deals(self) -> int:
        return self.by_id.open_deals()

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
        if arrival in (Arrival.NEW, Arrival.EXISTING):
            self.by_id.moved(dialogue)
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
