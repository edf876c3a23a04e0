"""Misbehaving agents for adversarial scenarios: what each kind of misbehaviour costs, and whom.

Parameters (scenario `params`, on top of the honest strategy each one extends):
- never-deliver, wrong-result, abandon: those of cost-plus.
- false-dispute: those of budget, and `dispute_probability` (default 1.0): the chance that it disputes a
  result that passed its check (optimistic scheme) or appeals a validator's approval of it.
- never-confirm: those of budget.
- overbooking: those of budget, and `overcommit` (tokens, default 10): how much it signs for beyond its escrow.
- colluding-validator: `partner`, the agent it colludes with (a scenario gives the agent's name, e.g.
  "client-0" or "wrong-result-0"; the policy holds its address): it rejects every result delivered to a
  partner client and approves every result a partner provider delivers; other deals it judges honestly.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak

from agents.policy import Context, Notice, NoticeKind, Reply
from agents.protocol import Message, Offer, Performative, Status
from agents.strategies.client import BudgetClient
from agents.strategies.provider import CostPlusProvider
from agents.strategies.validator import HonestValidator


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
class FalseDisputeClient(BudgetClient):
    """Contests results it has no reason to, hoping to be refunded and paid the collateral: it disputes a
    result that passed its check (optimistic scheme), or appeals a validator's approval of it, with
    probability `dispute_probability`. The court re-runs the job and rules for the provider: the bond is lost."""

    dispute_probability: float = 1.0

    def assess(self, context: Context) -> Reply | None:
        dialogue = context.dialogue
        contest = self._rng.random() < self.dispute_probability
        if contest and dialogue.status == Status.COMPLETED and dialogue.validator is None:
            return Reply(Performative.DISPUTE, dialogue.deal_id)
        if contest and dialogue.status == Status.JUDGED and dialogue.verdict:
            return Reply(Performative.APPEAL, dialogue.deal_id)
        return super().assess(context)


@dataclass
class OverbookingClient(BudgetClient):
    """Shops for more than it can pay for: it requests and counters as if it held `overcommit` tokens more than
    its escrow account does. Providers that accept its counter-offers find its payment missing: the deal awaits
    it until the commencement deadline, and the provider takes its collateral back with collateral_missing. It
    pays the gas of requests and failed fundings and is delivered only the jobs its money covered; the unfunded
    deals mark its record, and providers stop serving it."""

    overcommit: float = 10.0
    target_fraction: float = 0.0  # it never accepts an offer itself (its own acceptance would have to pay) ...
    counter_discount: float = 0.03  # ... it counters a little below, which providers accept, signing for it

    def counter_price(self, offer: Offer, dialogue) -> int:
        return int(offer.price * (1 - self.counter_discount))

    @property
    def overcommit_units(self) -> int:
        """What the runtime's locks let it commit beyond its funds (`Locks.credit`)."""
        return int(self.overcommit * 10**self.cost_model.token_decimals)


@dataclass
class NeverConfirmClient(BudgetClient):
    """Never approves: the provider is paid only when the validation window has passed."""

    approve_early: bool = False


@dataclass
class ColludingValidator(HonestValidator):
    """Sides with its partner whatever the result: rejects what a partner client is delivered, approves what a
    partner provider delivers. The victim appeals to the court, which overturns the verdict: the validator's
    stake pays the court and its fee goes back to the client."""

    partner: str = ""

    def approves(self, finished: Notice, context: Context) -> bool:
        dialogue = context.dialogue
        if dialogue.client == self.partner:
            return False
        if dialogue.provider == self.partner:
            return True
        return super().approves(finished, context)
