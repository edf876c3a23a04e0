"""Contract events turned into scheme messages."""

from __future__ import annotations

from agents.protocol import CLOSE_REASON_MESSAGE, CloseReason, Message, Performative

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
