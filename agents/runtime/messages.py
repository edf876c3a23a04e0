"""What reaches an agent's mailbox: contract events turned into scheme messages, and the agent's own
internal notices (a job finished, a transaction reverted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from agents.protocol import CLOSE_REASON_MESSAGE, CloseReason, Offer, Performative, Request, Status

# Market events that are scheme messages, and the message each one is.
EVENT_PERFORMATIVE = {
    "Requested": Performative.REQUEST,
    "Offered": Performative.OFFER,
    "OfferCancelled": Performative.CANCEL_OFFER,
    "Accepted": Performative.ACCEPT,
    "Funded": Performative.FUND,
    "Commenced": Performative.COMMENCE,
    "Completed": Performative.COMPLETE,
}


@dataclass(frozen=True)
class Message:
    """One scheme message seen on chain."""

    performative: Performative
    deal_id: bytes | None
    sender: str | None  # who sent the transaction's message, where the event says
    args: dict[str, Any]
    block: int
    time: int  # block timestamp
    log_key: tuple[int, int]  # (block, log index): unique, orders messages
    received_at: float  # perf_counter() when the feed delivered it

    # Parsed once per message: every agent the message reaches reads them, often several times.
    @cached_property
    def request(self) -> Request:
        return Request.from_tuple(tuple(self.args["request"].values()))

    @cached_property
    def offer(self) -> Offer:
        return Offer.from_tuple(tuple(self.args["offer"].values()))

    @property
    def status(self) -> Status:
        """The deal's status after this message."""
        if self.performative == Performative.ACCEPT:
            return Status(self.args["status"])
        if "outcome" in self.args:
            return Status(self.args["outcome"])
        return _STATUS_AFTER.get(self.performative, Status.NONE)


_STATUS_AFTER = {
    Performative.FUND: Status.AGREED,
    Performative.COMMENCE: Status.COMMENCED,
    Performative.COMPLETE: Status.COMPLETED,
}


def message_from_event(name: str, args: dict, log: dict, received_at: float) -> Message | None:
    block = int(log["blockNumber"], 16)
    key = (block, int(log["logIndex"], 16))
    time = int(log.get("blockTimestamp", "0x0"), 16)
    deal_id = args.get("dealId")
    if name == "Closed":
        performative = CLOSE_REASON_MESSAGE[CloseReason(args["reason"])]
        return Message(performative, deal_id, None, args, block, time, key, received_at)
    performative = EVENT_PERFORMATIVE.get(name)
    if performative is None:
        return None
    sender = args.get("client") if name == "Requested" else args.get("signer")
    return Message(performative, deal_id, sender, args, block, time, key, received_at)


@dataclass(frozen=True)
class Notice:
    """An internal message: something the agent itself set in motion has finished."""

    kind: str  # "job_finished", "tx_failed", "validation_finished", ...
    deal_id: bytes | None
    payload: dict[str, Any] = field(default_factory=dict)
    received_at: float = 0.0
