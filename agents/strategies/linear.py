"""A small numpy policy over a provider's pricing decision (agents.strategies.features; LinearClientPolicy: a
client's buying decision, agents.strategies.client_features): one linear score per action, the best valid one
taken. Small enough for a black-box optimiser (CMA-ES over `to_vector()`), saved as
a JSON file that names the observation fields and actions it was trained on, so that a file made for another
version of the features is refused instead of silently misread.
Like the features, it lives with the strategies (the learned strategy decides with it); `agents.learning.policy`
is its name for the training."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from agents.strategies.client_features import (
    ACCEPT_BEST,
    CLIENT_ACTIONS,
    CLIENT_OBSERVATION_NAMES,
    CUTS,
    FIRST_COUNTER,
    WAIT,
)
from agents.strategies.features import ACCEPT, ACTIONS, DECLINE, FIRST_OFFER, MARKUPS, OBSERVATION_NAMES

POLICY_KIND = "linear"
# `initial()`'s margin: the cost-plus baseline's neighbourhood, where training starts.
INITIAL_MARGIN = 0.30
# `initial()` accepts a counter-offer at or above this multiple of the floor (QuotingProvider's min_margin).
INITIAL_ACCEPT_RATIO = 1.05
# `LinearClientPolicy.initial()` takes an offer at once at or below this share of the max price (BudgetClient's).
INITIAL_CLIENT_TARGET = 0.7


class PolicyFileError(ValueError):
    """A policy file that cannot be used: missing, unreadable, or made for other features."""


@dataclass
class LinearPolicy:
    """scores = weights @ observation + bias, one per action in `ACTIONS`; the action taken is the highest
    score among those the mask allows (the lowest index on ties)."""

    weights: np.ndarray  # (len(actions), len(observation_names))
    bias: np.ndarray  # (len(actions),)

    # The decision it is made for: a provider's pricing (LinearClientPolicy: a client's buying).
    observation_names: ClassVar[tuple[str, ...]] = OBSERVATION_NAMES
    actions: ClassVar[tuple[str, ...]] = ACTIONS

    def __post_init__(self):
        self.weights = np.asarray(self.weights, dtype=np.float64)
        self.bias = np.asarray(self.bias, dtype=np.float64)
        if self.weights.shape != self.shape() or self.bias.shape != (len(self.actions),):
            raise ValueError(f"a linear policy needs weights {self.shape()} and bias ({len(self.actions)},), got "
                             f"{self.weights.shape} and {self.bias.shape}")

    @classmethod
    def shape(cls) -> tuple[int, int]:
        return len(cls.actions), len(cls.observation_names)

    @classmethod
    def size(cls) -> int:
        """How many numbers `to_vector()` holds."""
        actions, fields = cls.shape()
        return actions * fields + actions

    # --- deciding -----------------------------------------------------------------------------------

    def scores(self, observation: np.ndarray) -> np.ndarray:
        return self.weights @ observation + self.bias

    def act(self, observation: np.ndarray, mask: np.ndarray) -> int:
        """The index in `actions` of the best action `mask` allows."""
        scores = np.where(np.asarray(mask, dtype=bool), self.scores(observation), -np.inf)
        return int(np.argmax(scores))

    # --- for optimisers -----------------------------------------------------------------------------

    def to_vector(self) -> np.ndarray:
        return np.concatenate([self.weights.ravel(), self.bias])

    @classmethod
    def from_vector(cls, vector) -> "LinearPolicy":
        vector = np.asarray(vector, dtype=np.float64)
        if vector.shape != (cls.size(),):
            raise ValueError(f"a linear policy vector has {cls.size()} numbers, got shape {vector.shape}")
        actions, fields = cls.shape()
        return cls(vector[: actions * fields].reshape(actions, fields), vector[actions * fields:])

    @classmethod
    def searched_indices(cls, actions=(), fields=()) -> list[int]:
        """Where the numbers a confined search moves sit in `to_vector()`: the weights and biases of `actions`
        (names in `ACTIONS`), every action's weights on `fields` (names in `OBSERVATION_NAMES`), or, given both,
        those actions' weights on those fields only. ValueError (one line) for a name that is neither."""
        for names, known, kind in ((actions, cls.actions, "an action"), (fields, cls.observation_names, "a field")):
            unknown = [name for name in names if name not in known]
            if unknown:
                raise ValueError(f"not {kind}: {', '.join(map(repr, unknown))} (they are: {', '.join(known)})")
        rows, width = cls.shape()
        chosen_rows = sorted({cls.actions.index(name) for name in actions}) or range(rows)
        columns = sorted({cls.observation_names.index(name) for name in fields}) or range(width)
        indices = [row * width + column for row in chosen_rows for column in columns]
        if actions and not fields:
            indices += [rows * width + row for row in chosen_rows]
        return sorted(indices)

    @classmethod
    def initial(cls) -> "LinearPolicy":
        """Cost-plus at a 30% margin: offer at +30% when the request's max price allows it, else decline; accept a
        counter-offer worth at least 1.05 times the floor, else counter back at +30%."""
        weights, bias = np.zeros(cls.shape()), np.full(len(ACTIONS), -1.0)
        bias[DECLINE] = 0.0
        bias[FIRST_OFFER + MARKUPS.index(INITIAL_MARGIN)] = 1.0
        # accept's score 20 * (counter / floor - 1.05) + 1 beats the +30% offer's 1 exactly above the ratio.
        weights[ACCEPT, OBSERVATION_NAMES.index("counter_over_floor")] = 20.0
        bias[ACCEPT] = 1.0 - 20.0 * INITIAL_ACCEPT_RATIO
        return cls(weights, bias)

    # --- files --------------------------------------------------------------------------------------

    def to_json(self) -> dict:
        return {"kind": POLICY_KIND, "observation": list(self.observation_names), "actions": list(self.actions),
                "weights": self.weights.tolist(), "bias": self.bias.tolist()}

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.to_json()
        # One line per field name, action and row of weights: small diffs between two trained policies.
        parts = [f' "kind": {json.dumps(data["kind"])}',
                 ' "observation": [\n  ' + ",\n  ".join(json.dumps(n) for n in data["observation"]) + "\n ]",
                 ' "actions": [\n  ' + ",\n  ".join(json.dumps(n) for n in data["actions"]) + "\n ]",
                 ' "weights": [\n  ' + ",\n  ".join(json.dumps(row) for row in data["weights"]) + "\n ]",
                 f' "bias": {json.dumps(data["bias"])}']
        path.write_text("{\n" + ",\n".join(parts) + "\n}\n")
        return path

    @classmethod
    def load(cls, path: Path | str) -> "LinearPolicy":
        """The policy in `path`; PolicyFileError (one line) if it is missing, not a linear policy file, or made for
        other observation fields or actions than this code's."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise PolicyFileError(f"policy file {path} does not exist") from None
        except (OSError, ValueError) as error:
            raise PolicyFileError(f"policy file {path} is not readable JSON: {error}") from None
        if not isinstance(data, dict) or data.get("kind") != POLICY_KIND:
            raise PolicyFileError(f"policy file {path} is not a {POLICY_KIND} policy (no \"kind\": \"{POLICY_KIND}\")")
        for key, expected in (("observation", cls.observation_names), ("actions", cls.actions)):
            found = tuple(data.get(key) or ())
            if found != expected:
                raise PolicyFileError(f"policy file {path} was made for other {key}: {_first_difference(found, expected)}")
        try:
            return cls(np.array(data["weights"], dtype=np.float64), np.array(data["bias"], dtype=np.float64))
        except (KeyError, TypeError, ValueError) as error:
            raise PolicyFileError(f"policy file {path} has unusable weights: {error}") from None


class LinearClientPolicy(LinearPolicy):
    """The same linear policy over a client's buying decision (agents.strategies.client_features)."""

    observation_names: ClassVar[tuple[str, ...]] = CLIENT_OBSERVATION_NAMES
    actions: ClassVar[tuple[str, ...]] = CLIENT_ACTIONS

    @classmethod
    def initial(cls) -> "LinearClientPolicy":
        """Near the baseline client (BudgetClient): take the best offer at or below 70% of the max price, as the
        offer window closes, or when a provider answers its counter-offer; otherwise counter the best offer at
        -10% (the baseline counters halfway to 70% of the max price) or, with no counter left, wait."""
        weights, bias = np.zeros(cls.shape()), np.full(len(CLIENT_ACTIONS), -1.0)
        bias[WAIT] = 0.0
        bias[FIRST_COUNTER + CUTS.index(0.10)] = 1.0
        # accept's score 1 + 20 (0.7 - best / max) beats the counter's 1 below 0.7, and waiting's 0 below 0.75.
        name = CLIENT_OBSERVATION_NAMES.index
        weights[ACCEPT_BEST, name("best_over_max")] = -20.0
        weights[ACCEPT_BEST, name("closing")] = 40.0
        weights[ACCEPT_BEST, name("is_counter_back")] = 40.0
        bias[ACCEPT_BEST] = 1.0 + 20.0 * INITIAL_CLIENT_TARGET
        return cls(weights, bias)


def policy_class(role: str) -> type[LinearPolicy]:
    """The linear policy of a role's decision: "provider" or "client"."""
    try:
        return {"provider": LinearPolicy, "client": LinearClientPolicy}[role]
    except KeyError:
        raise ValueError(f"no learned policy for role {role!r}: provider or client") from None


def _first_difference(found: tuple, expected: tuple) -> str:
    for index, (a, b) in enumerate(zip(found, expected)):
        if a != b:
            return f"#{index} is {a!r} in the file, {b!r} in the code"
    return f"the file has {len(found)}, the code {len(expected)}"
