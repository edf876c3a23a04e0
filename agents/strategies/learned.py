"""The learned provider: the deal lifecycle every provider shares (QuotingProvider), with its pricing decisions
(offer or not and at what markup, accept a counter-offer or counter back) taken by a trained policy over the
observation of agents.strategies.features.

In a scenario: `strategy: learned` with `params: {policy: policies/provider.json}` (a path from the directory
the command runs in). The file is read when the scenario is loaded, so a missing file or one made for other
features is a one-line error before anything runs. In the learning environment (agents.learning.market_env)
the same provider hands each decision to the environment instead (`chooser`), so an agent trained there
decides on the same observation, with the same mask and the same decoding into a `Reply`.

The provider remembers what became of its own offers (`OfferRecord`, part of the observation): an offer it makes
(or a counter it accepts) is recorded when it decides, won when the deal is agreed with it (`on_outcome`, from
the shared lifecycle), and lost when the request is no longer open without it having won (found each `act`, as
Thompson sampling finds its losses)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.policy import Context, Reply
from agents.protocol import Message
from agents.strategies.features import DECLINE, Floor, OfferRecord, action_mask, cost_floor, decode, observe
from agents.strategies.linear import LinearPolicy
from agents.strategies.provider import QuotingProvider


@dataclass(frozen=True)
class Decision:
    """One pricing decision, as the policy sees it."""

    observation: np.ndarray
    mask: np.ndarray
    context: Context
    floor: Floor


@dataclass
class LearnedProvider(QuotingProvider):
    policy: str = ""  # the policy file (agents.strategies.linear.LinearPolicy.save)
    # Who decides instead of the policy file: the learning environment's hand-off (Decision -> action index).
    chooser: Callable[[Decision], int] | None = field(init=False, default=None, repr=False)
    record: OfferRecord = field(init=False, default_factory=OfferRecord, repr=False)

    def __post_init__(self):
        self.model = LinearPolicy.load(self.policy)

    @staticmethod
    def check_params(params: dict[str, Any]) -> None:
        """The scenario's check: the policy file is given and usable (PolicyFileError, a ValueError, if not)."""
        if not isinstance(params.get("policy"), str) or not params["policy"]:
            raise ValueError("learned needs params: {policy: PATH}, a policy file (e.g. policies/provider.json)")
        LinearPolicy.load(params["policy"])

    def decide(self, context: Context) -> Reply | None:
        """The reply the policy picks. A decision with nothing to choose (only declining is valid: the request's max
        price is below the floor, the rounds are spent) is no decision: the provider sends nothing."""
        floor = cost_floor(self.cost_model, context)
        mask = action_mask(context, floor, self.max_rounds)
        if mask.sum() == 1:
            return None
        observation = observe(context, floor, self.record)
        if self.chooser is not None:
            action = self.chooser(Decision(observation, mask, context, floor))
        else:
            action = self.model.act(observation, mask)
        if action == DECLINE:
            return None
        reply = decode(action, context, floor, self.offer_ttl, self.max_rounds)
        # An offer, a counter back or an accepted counter: the price this provider now stands by on the request.
        self.record.offered(context.dialogue.deal_id, reply.offer.price / max(floor.tokens, 1) - 1)
        return reply

    def on_outcome(self, deal_id: bytes, won: bool) -> None:
        self.record.resolve(deal_id, won)

    def act(self, context: Context) -> list[Reply]:
        self.record.resolve_closed(d.deal_id for d in context.parallel)
        return []

    def _first_offer(self, context: Context) -> Reply | None:
        return self.decide(context) if self.will_answer(context) else None

    def _answer_counter(self, message: Message, context: Context) -> Reply | None:
        return self.decide(context)
