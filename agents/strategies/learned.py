"""The learned provider: the deal lifecycle every provider shares (QuotingProvider), with its pricing decisions
(offer or not and at what markup, accept a counter-offer or counter back) taken by a trained policy over the
observation of agents.strategies.features.

In a scenario: `strategy: learned` with `params: {policy: policies/provider.json}` (a path from the directory
the command runs in). The file is read when the scenario is loaded, so a missing file or one made for other
features is a one-line error before anything runs. In the learning environment (agents.learning.market_env)
the same provider hands each decision to the environment instead (`chooser`), so an agent trained there
decides on the same observation, with the same mask and the same decoding into a `Reply`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.policy import Context, Reply
from agents.protocol import Message
from agents.strategies.features import DECLINE, Floor, action_mask, cost_floor, decode, observe
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
        observation = observe(context, floor)
        if self.chooser is not None:
            action = self.chooser(Decision(observation, mask, context, floor))
        else:
            action = self.model.act(observation, mask)
        if action == DECLINE:
            return None
        return decode(action, context, floor, self.offer_ttl, self.max_rounds)

    def _first_offer(self, context: Context) -> Reply | None:
        return self.decide(context) if self.will_answer(context) else None

    def _answer_counter(self, message: Message, context: Context) -> Reply | None:
        return self.decide(context)
