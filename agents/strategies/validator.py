"""Validator and court policies: the judges. Each re-runs the job (its role does it) and attests whether the
result matched: the validator's VERDICT, appealable, earns its fee and returns its stake if it stands; the
court's RULING is final and earns it one bond."""

from __future__ import annotations

from dataclasses import dataclass

from agents.policy import Context, Notice, NoticeKind, Reply
from agents.protocol import Message, Performative, Status


@dataclass
class HonestValidator:
    """Attests what its re-run of the job showed: approved if the result matched."""

    def react(self, message: Message | Notice, context: Context) -> Reply | None:
        if isinstance(message, Notice) and message.kind == NoticeKind.VALIDATION_FINISHED:
            dialogue = context.dialogue
            if dialogue is None or dialogue.status != Status.COMPLETED:
                return None
            return Reply(Performative.VERDICT, dialogue.deal_id, approved=self.approves(message, context))
        return None

    def approves(self, finished: Notice, context: Context) -> bool:
        return bool(finished.payload["match"])

    def act(self, context: Context) -> list[Reply]:
        return []


@dataclass
class HonestCourt:
    """Rules what its re-run of a disputed job showed: for the provider if the result matched. The market
    assumes its court honest and live; this is that court."""

    def react(self, message: Message | Notice, context: Context) -> Reply | None:
        if isinstance(message, Notice) and message.kind == NoticeKind.VALIDATION_FINISHED:
            dialogue = context.dialogue
            if dialogue is None or dialogue.status != Status.DISPUTED:
                return None
            return Reply(Performative.RULING, dialogue.deal_id, approved=bool(message.payload["match"]))
        return None

    def act(self, context: Context) -> list[Reply]:
        return []
