"""Validator policies: the validator scheme's judge."""

from __future__ import annotations

from dataclasses import dataclass

from agents.policy import Context, Notice, NoticeKind, Reply
from agents.protocol import Message, Performative, Status


@dataclass
class HonestValidator:
    """A validator re-runs the job (the role does it) and attests match or mismatch."""

    def react(self, message: Message | Notice, context: Context) -> Reply | None:
        if isinstance(message, Notice) and message.kind == NoticeKind.VALIDATION_FINISHED:
            dialogue = context.dialogue
            if dialogue is None or dialogue.status != Status.COMPLETED:
                return None
            verdict = Performative.APPROVE if message.payload["match"] else Performative.REJECT
            return Reply(verdict, dialogue.deal_id)
        return None

    def act(self, context: Context) -> list[Reply]:
        return []
