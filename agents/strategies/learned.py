"""The learned provider: the deal lifecycle every provider shares (QuotingProvider), with its pricing decisions
(offer or not and at what markup, accept a counter-offer or counter back) taken by a trained policy over the
observation of agents.strategies.features; and the learned client, the baseline client's lifecycle with its
buying decisions taken by a policy over agents.strategies.client_features.

In a scenario: `strategy: learned` with `params: {policy: policies/provider.json}` (a path from the directory
the command runs in). The file is read when the scenario is loaded, so a missing file or one made for other
features is a one-line error before anything runs. In the learning environment (agents.learning.market_env)
the same provider hands each decision to the environment instead (`chooser`), so an agent trained there
decides on the same observation, with the same mask and the same decoding into a `Reply`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from agents.policy import Context, Notice, Reply
from agents.protocol import Message, Performative, Status
from agents.strategies.client import BudgetClient
from agents.strategies.client_features import (
    Standing,
    client_action_mask,
    client_decode,
    client_observe,
    standing,
    standing_offers,
)
from agents.strategies.features import DECLINE, Floor, action_mask, cost_floor, decode, observe
from agents.strategies.linear import LinearClientPolicy, LinearPolicy
from agents.strategies.provider import QuotingProvider


@dataclass(frozen=True)
class Decision:
    """One decision, as the policy sees it: a provider's pricing (with its cost floor) or a client's buying (with
    the offers standing; `context.dialogue` is the request's)."""

    observation: np.ndarray
    mask: np.ndarray
    context: Context
    floor: Floor | None = None
    offers: Standing | None = None


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


@dataclass
class LearnedClient(BudgetClient):
    """The baseline client's lifecycle (BudgetClient: its requests' terms, payments, checks of results), with its
    buying decisions (wait, take an offer, counter) taken by a trained policy over the observation of
    agents.strategies.client_features: when it is due to decide on a request's offers, and when a provider answers
    its counter-offer. In a scenario: `strategy: learned-client` with `params: {policy: policies/client.json}` and
    the baseline's parameters (budget, ...)."""

    policy: str = ""  # the policy file (agents.strategies.linear.LinearClientPolicy.save)
    chooser: Callable[[Decision], int] | None = field(init=False, default=None, repr=False)

    def __post_init__(self):
        super().__post_init__()
        self.model = LinearClientPolicy.load(self.policy)

    @staticmethod
    def check_params(params: dict[str, Any]) -> None:
        if not isinstance(params.get("policy"), str) or not params["policy"]:
            raise ValueError("learned-client needs params: {policy: PATH}, a client policy file "
                             "(e.g. policies/client.json)")
        LinearClientPolicy.load(params["policy"])

    def decide(self, dialogue, context: Context, counter_back=None) -> Reply | None:
        """The reply the policy picks on `dialogue`'s standing offers (None: wait). No decision when waiting is the
        only valid action."""
        if dialogue.request is None or Performative.ACCEPT in dialogue.in_flight:
            return None
        offers = standing(dialogue, context, self._unfunded, counter_back)
        if offers is None:
            return None
        mask = client_action_mask(dialogue, context, offers, self.max_rounds)
        if mask.sum() == 1:
            return None
        observation = client_observe(dialogue, context, offers, self.decision_delay)
        if self.chooser is not None:
            action = self.chooser(Decision(observation, mask, replace(context, dialogue=dialogue), offers=offers))
        else:
            action = self.model.act(observation, mask)
        take, counter = client_decode(action, dialogue, context, offers, self.max_rounds, self.counter_ttl)
        if take is not None:
            return self._accept(dialogue, take.signer, take)
        return counter

    def react(self, message: Message | Notice, context: Context) -> Reply | None:
        if (not isinstance(message, Notice) and message.performative == Performative.OFFER
                and message.sender != context.me and message.offer.round > 0):
            # A provider answered our counter-offer: a decision, where the baseline takes any answer within its max.
            dialogue = context.dialogue
            back = next((o for o in dialogue.offers if o.signer == message.sender
                         and o.offer.round == message.offer.round), None)
            return self.decide(dialogue, context, back)
        return super().react(message, context)

    def act(self, context: Context) -> list[Reply]:
        replies = []
        for dialogue in context.parallel:
            if dialogue.status != Status.NONE or dialogue.request is None:
                continue
            if not self.due(dialogue, standing_offers(dialogue, context.now, self._unfunded), context.now):
                continue
            reply = self.decide(dialogue, context)
            if reply is not None:
                replies.append(reply)
        return replies
