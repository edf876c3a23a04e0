"""The strategy registry: every strategy name a scenario, the command line or a benchmark can give, with
the role it plays and the policy class that implements it. The one list of names; everything that turns
a name into a policy reads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.policy import Role
from agents.strategies.adversarial import (
    AbandonProvider,
    AlwaysRejectClient,
    NeverConfirmClient,
    NeverDeliverProvider,
    WrongResultProvider,
)
from agents.strategies.client import BudgetClient
from agents.strategies.provider import CostPlusProvider, ThompsonPricingProvider
from agents.strategies.validator import HonestValidator


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


# In the order scenario errors list them.
STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("cost-plus", Role.PROVIDER, CostPlusProvider),
    Strategy("thompson", Role.PROVIDER, ThompsonPricingProvider, seeded=True),
    Strategy("never-deliver", Role.PROVIDER, NeverDeliverProvider, adversarial=True),
    Strategy("wrong-result", Role.PROVIDER, WrongResultProvider, adversarial=True),
    Strategy("abandon", Role.PROVIDER, AbandonProvider, adversarial=True),
    Strategy("budget", Role.CLIENT, BudgetClient, seeded=True),
    Strategy("always-reject", Role.CLIENT, AlwaysRejectClient, seeded=True, adversarial=True),
    Strategy("never-confirm", Role.CLIENT, NeverConfirmClient, seeded=True, adversarial=True),
    Strategy("validator", Role.VALIDATOR, HonestValidator),
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
