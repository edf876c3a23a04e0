"""The strategy registry: every strategy name a scenario, the command line or a benchmark can give, with
the role it plays and the policy class that implements it. The one list of names; everything that turns
a name into a policy reads it.

A strategy's parameters are its policy class's dataclass fields (a scenario gives them as `params`): see
`CostPlusProvider` and `ThompsonPricingProvider` (agents.strategies.provider), `LearnedProvider`
(agents.strategies.learned: policy, a policy file), `BudgetClient`
(agents.strategies.client: budget, bond_fraction, validator_fee_fraction, ...), `LearnedClient` (the same and
policy), and the adversaries'
module docstring (agents.strategies.adversarial: dispute_probability, partner)."""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from agents.policy import Role
from agents.strategies.adversarial import (
    AbandonProvider,
    ColludingValidator,
    FalseDisputeClient,
    NeverConfirmClient,
    NeverDeliverProvider,
    OverbookingClient,
    WrongResultProvider,
)
from agents.strategies.client import BudgetClient
from agents.strategies.learned import LearnedClient, LearnedProvider
from agents.strategies.provider import CostPlusProvider, ThompsonPricingProvider
from agents.strategies.validator import HonestCourt, HonestValidator


@dataclass(frozen=True)
class Strategy:
    """A named strategy: the policy class is built from keyword parameters (its dataclass fields)."""

    name: str
    role: Role
    policy: type
    seeded: bool = False  # takes a `seed`: builders give each agent its own, so runs repeat
    adversarial: bool = False  # misbehaves on purpose: for simulations and tests, not for real trading

    def build(self, **params: Any):
        return self.policy(**params)

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """`params` if every one is a parameter of this strategy, of its kind (a number where the policy class
        declares an int or float, a boolean where it declares a bool) and not negative; else ValueError naming
        the parameter. Scenarios and `ape run agent --param` both check through here, before anything is
        deployed or sent."""
        if not is_dataclass(self.policy):
            return params
        declared = {f.name: f for f in fields(self.policy) if f.init and not f.name.startswith("_")}
        hints = typing.get_type_hints(self.policy)
        for key, value in params.items():
            if key not in declared:
                known = ", ".join(sorted(declared)) or "none"
                raise ValueError(f"{self.name} has no parameter {key!r} (its parameters: {known})")
            kind = hints.get(key)
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if kind in (int, float) and not (is_number and math.isfinite(value)):
                raise ValueError(f"{key} must be a number, got {value!r}")
            if kind is bool and not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false, got {value!r}")
            if is_number and value < 0:
                raise ValueError(f"{key} must not be negative, got {value}")
        own_check = getattr(self.policy, "check_params", None)  # what only the strategy knows (a file it reads)
        if own_check is not None:
            own_check(params)
        return params


# In the order scenario errors list them.
STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("cost-plus", Role.PROVIDER, CostPlusProvider),
    Strategy("thompson", Role.PROVIDER, ThompsonPricingProvider, seeded=True),
    Strategy("learned", Role.PROVIDER, LearnedProvider),
    Strategy("never-deliver", Role.PROVIDER, NeverDeliverProvider, adversarial=True),
    Strategy("wrong-result", Role.PROVIDER, WrongResultProvider, adversarial=True),
    Strategy("abandon", Role.PROVIDER, AbandonProvider, adversarial=True),
    Strategy("budget", Role.CLIENT, BudgetClient, seeded=True),
    Strategy("learned-client", Role.CLIENT, LearnedClient, seeded=True),
    Strategy("false-dispute", Role.CLIENT, FalseDisputeClient, seeded=True, adversarial=True),
    Strategy("never-confirm", Role.CLIENT, NeverConfirmClient, seeded=True, adversarial=True),
    Strategy("overbooking", Role.CLIENT, OverbookingClient, seeded=True, adversarial=True),
    Strategy("validator", Role.VALIDATOR, HonestValidator),
    Strategy("colluding-validator", Role.VALIDATOR, ColludingValidator, adversarial=True),
    Strategy("court", Role.COURT, HonestCourt),
)}


def strategy_names(role: Role, *, adversarial: bool = True) -> tuple[str, ...]:
    """The names of `role`'s strategies, in registry order; without the adversarial ones if asked."""
    return tuple(s.name for s in STRATEGIES.values() if s.role == role and (adversarial or not s.adversarial))


def strategy(name: str, role: Role) -> Strategy:
    """The strategy called `name`, which must be one of `role`'s (ValueError naming the choices if not)."""
    found = STRATEGIES.get(name)
    if found is None or found.role != role:
        raise ValueError(f"no {role.value} strategy {name!r}; choose one of {', '.join(strategy_names(role))}")
    return found
