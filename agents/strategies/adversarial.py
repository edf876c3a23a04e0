"""Misbehaving agents for adversarial scenarios: what each kind of misbehaviour costs, and whom."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak

from agents.policy import Context, Notice, NoticeKind, Reply
from agents.protocol import Message, Performative, ValidationScheme
from agents.strategies.client import BudgetClient
from agents.strategies.provider import CostPlusProvider


@dataclass
class NeverDeliverProvider(CostPlusProvider):
    """Wins deals and commences, then never attests completion: slashed at the completion deadline."""

    def react(self, message: Message | Notice, context: Context) -> Reply | None:
        if isinstance(message, Notice) and message.kind == NoticeKind.JOB_FINISHED:
            return None
        return super().react(message, context)


@dataclass
class WrongResultProvider(CostPlusProvider):
    """Attests completion with a hash that is not its result's (skipping the work it was paid for)."""

    def react(self, message: Message | Notice, context: Context) -> Reply | None:
        reply = super().react(message, context)
        if reply is not None and reply.performative == Performative.COMPLETE:
            reply.result_hash = keccak(b"not the result" + reply.result_hash)
        return reply


@dataclass
class AbandonProvider(CostPlusProvider):
    """Offers, gets accepted, then walks away before commencing: slashed at the commencement deadline."""

    def owed_move(self, context: Context) -> Reply | None:
        return None

    def react(self, message: Message | Notice, context: Context) -> Reply | None:
        if not isinstance(message, Notice) and message.performative in (Performative.ACCEPT, Performative.FUND):
            if context.dialogue.provider == context.me:
                self.on_outcome(context.dialogue.deal_id, True)
                return None
        return super().react(message, context)


@dataclass
class AlwaysRejectClient(BudgetClient):
    """Rejects every result it is the judge of (optimistic scheme), to recover payment and collateral."""

    def verdict(self, context: Context) -> Reply | None:
        if context.dialogue.request.scheme == ValidationScheme.OPTIMISTIC:
            return Reply(Performative.REJECT, context.dialogue.deal_id)
        return super().verdict(context)


@dataclass
class NeverConfirmClient(BudgetClient):
    """Never approves: the provider is paid only when the validation window has passed."""

    approve_early: bool = False
