"""Reputation of counterparties, scored from the market's closed deals (see `agents.knowledge.history`).

Providers: a Beta posterior of "delivers". Each closed deal is a Bernoulli trial: SETTLED counts as
delivered; SLASHED for a reason in `ReputationParams.provider_failures` (commencement or completion
timeout, provider abort, a result the validator or the court found wrong) counts as failed. Posterior:
alpha = prior_alpha + sum of the delivered weights, beta = prior_beta + sum of the failed weights; the score
is its mean alpha/(alpha+beta).

Clients: a Beta posterior of "honours its deals", with the same prior and weighting. A client defaults when
it takes a correct result to the court and loses (it disputed an optimistic result, or appealed a validator's
approval, and the court approved the result: a false dispute, which also cost it its bond) or leaves an
accepted deal unfunded (the deal closed UNFUNDED while awaiting its payment). Every other closed accepted
deal honours it.

Validators: a Beta posterior of "judges right". A verdict that stood (nobody appealed it, or the court
confirmed it) counts for it; one the court overturned, or a verdict never given (the deal was escalated),
counts against it. The parties its overturned verdicts favoured (the client, for a wrong rejection; the
provider, for a wrong approval) are recorded: a validator that sided with a party against the court is
linked to it, and that party's counterparties should not accept it as judge.

Recency: a deal closed `age` seconds before `now` weighs 0.5 ** (age / half_life), so old behaviour
fades; half_life=None weighs every deal 1. Deals still open, cancelled requests, and deals closed after
`now` (the book is "as of now", so histories can be replayed) are not scored.

Unknown parties get the prior: score prior_alpha / (prior_alpha + prior_beta), 0.5 by default, i.e. a
newcomer ranks level with a party whose record is evenly mixed and below any with a good record. A
cautious agent can pick a pessimistic prior (prior_beta > prior_alpha).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from agents import settlement
from agents.protocol import CloseReason, Status, to_checksum_address

DAY = 86_400

PROVIDER_FAILURES = frozenset(
    {
        CloseReason.COMMENCEMENT_TIMEOUT.name,
        CloseReason.COMPLETION_TIMEOUT.name,
        CloseReason.PROVIDER_ABORTED.name,
        CloseReason.VERDICT_REJECTED.name,
        CloseReason.COURT_REJECTED.name,
    }
)
COURT_RULINGS = tuple(reason.name for reason in settlement.COURT_RULINGS)
VERDICTS_THAT_STOOD = tuple(reason.name for reason in settlement.VERDICTS_THAT_STOOD)
# Closings of a deal whose result was delivered: the client could have contested it.
DELIVERED = (
    CloseReason.APPROVED.name, CloseReason.VALIDATION_WINDOW_PASSED.name, *VERDICTS_THAT_STOOD, *COURT_RULINGS,
)


@dataclass(frozen=True)
class ReputationParams:
    prior_alpha: float = 1.0
    prior_beta: float = 1.0
    half_life: float | None = 30 * DAY  # seconds; None: no decay
    provider_failures: frozenset[str] = field(default=PROVIDER_FAILURES)  # CloseReason names

    def __post_init__(self):
        if self.prior_alpha <= 0 or self.prior_beta <= 0:
            raise ValueError(f"the Beta prior needs alpha, beta > 0, got ({self.prior_alpha}, {self.prior_beta})")
        if self.half_life is not None and self.half_life <= 0:
            raise ValueError(f"half_life must be positive seconds or None, got {self.half_life}")

    def weight(self, age: float) -> float:
        """The weight of an event `age` seconds old."""
        if self.half_life is None:
            return 1.0
        return 0.5 ** (max(age, 0.0) / self.half_life)


@dataclass(frozen=True)
class _Posterior:
    address: str
    alpha: float
    beta: float

    @property
    def score(self) -> float:
        """The posterior mean of good behaviour, in (0, 1)."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def std(self) -> float:
        """The posterior standard deviation: how much the score may still move."""
        total = self.alpha + self.beta
        return math.sqrt(self.alpha * self.beta / (total * total * (total + 1)))


@dataclass(frozen=True)
class ProviderReputation(_Posterior):
    delivered: int = 0  # unweighted counts of the scored deals
    failed: int = 0
    unfunded: int = 0  # deals it left without collateral: reported, not scored
    last_closed: int | None = None


@dataclass(frozen=True)
class ClientReputation(_Posterior):
    honoured: int = 0
    disputes_lost: int = 0  # correct results it took to the court (dispute or appeal) and lost
    unfunded: int = 0  # accepted deals it never paid into
    delivered: int = 0  # results delivered to it, which it could have contested
    false_dispute_rate: float | None = None  # recency-weighted disputes_lost / delivered; None if none delivered
    last_closed: int | None = None


@dataclass(frozen=True)
class ValidatorReputation(_Posterior):
    upheld: int = 0  # verdicts that stood: unappealed, or confirmed by the court
    overturned: int = 0  # verdicts the court overturned
    silent: int = 0  # deals it never judged, escalated to the court
    favoured: frozenset[str] = frozenset()  # the parties its overturned verdicts sided with
    last_closed: int | None = None


class ReputationBook:
    """Scores of every provider and client seen in a history, as of one moment."""

    def __init__(
        self,
        providers: dict[str, ProviderReputation],
        clients: dict[str, ClientReputation],
        params: ReputationParams,
        now: int,
        validators: dict[str, ValidatorReputation] | None = None,
    ):
        self.providers = providers
        self.clients = clients
        self.validators = validators or {}
        self.params = params
        self.now = now

    @classmethod
    def from_history(cls, history, now: int, params: ReputationParams | None = None) -> "ReputationBook":
        """Score a `ChainHistory` (the closed deals of its `deal_table()`) or a deal table with at least the
        columns client, provider, status_at_acceptance, outcome, reason, closed_time (and, to tell who took a
        result to the court and what the validator said, scheme, validator and verdict: the validator's verdict,
        None if it gave none; a table without a verdict column gives validation_attester and approved of the
        deal's first validation attestation instead, which is the validator's verdict when it gave one)."""
        params = params or ReputationParams()
        if isinstance(history, pd.DataFrame):
            table = history
            closed = table[table["provider"].notna() & table["outcome"].notna() & table["closed_time"].notna()]
            closed = closed[closed["closed_time"].astype("int64") <= now].to_dict("records")
        else:  # the deal table's closed rows, without building the table
            closed = [deal for deal in history.closed_deals() if deal["closed_time"] <= now]

        provider_tally: dict[str, dict] = {}
        client_tally: dict[str, dict] = {}
        validator_tally: dict[str, dict] = {}
        for deal in closed:
            weight = params.weight(now - int(deal["closed_time"]))
            _tally_provider(provider_tally, deal, weight, params)
            _tally_client(client_tally, deal, weight)
            _tally_validator(validator_tally, deal, weight)

        providers = {
            address: ProviderReputation(
                address, params.prior_alpha + t["good"], params.prior_beta + t["bad"],
                delivered=t["delivered"], failed=t["failed"], unfunded=t["unfunded"], last_closed=t["last"],
            )
            for address, t in provider_tally.items()
        }
        clients = {
            address: ClientReputation(
                address, params.prior_alpha + t["good"], params.prior_beta + t["bad"],
                honoured=t["honoured"], disputes_lost=t["disputes_lost"], unfunded=t["unfunded"],
                delivered=t["delivered"],
                false_dispute_rate=t["lost_weight"] / t["delivered_weight"] if t["delivered"] else None,
                last_closed=t["last"],
            )
            for address, t in client_tally.items()
        }
        validators = {
            address: ValidatorReputation(
                address, params.prior_alpha + t["good"], params.prior_beta + t["bad"],
                upheld=t["upheld"], overturned=t["overturned"], silent=t["silent"],
                favoured=frozenset(t["favoured"]), last_closed=t["last"],
            )
            for address, t in validator_tally.items()
        }
        return cls(providers, clients, params, now, validators)

    # --- lookups ------------------------------------------------------------------------------------

    def provider(self, address: str) -> ProviderReputation:
        """The provider's record; the prior alone for a provider never seen."""
        address = to_checksum_address(address)
        if address in self.providers:
            return self.providers[address]
        return ProviderReputation(address, self.params.prior_alpha, self.params.prior_beta)

    def client(self, address: str) -> ClientReputation:
        """The client's record; the prior alone for a client never seen."""
        address = to_checksum_address(address)
        if address in self.clients:
            return self.clients[address]
        return ClientReputation(address, self.params.prior_alpha, self.params.prior_beta)

    def validator(self, address: str) -> ValidatorReputation:
        """The validator's record; the prior alone for a validator never seen."""
        address = to_checksum_address(address)
        if address in self.validators:
            return self.validators[address]
        return ValidatorReputation(address, self.params.prior_alpha, self.params.prior_beta)

    def provider_score(self, address: str) -> float:
        return self.provider(address).score

    def client_score(self, address: str) -> float:
        return self.client(address).score

    @property
    def default_score(self) -> float:
        """The score of a party with no record: the prior mean."""
        return self.params.prior_alpha / (self.params.prior_alpha + self.params.prior_beta)

    def rank_providers(self, addresses) -> list[str]:
        """The addresses best provider first (ties: the more certain score first, then given order)."""
        records = [self.provider(address) for address in addresses]
        return [r.address for r in sorted(records, key=lambda r: (-r.score, r.std))]

    def to_frame(self) -> pd.DataFrame:
        """One row per (role, address): score, std, the posterior, and the counts behind it."""
        rows = [{"role": "provider", **_record(r)} for r in self.providers.values()]
        rows += [{"role": "client", **_record(r)} for r in self.clients.values()]
        rows += [{"role": "validator", **_record(r)} for r in self.validators.values()]
        columns = [
            "role", "address", "score", "std", "alpha", "beta", "delivered", "failed", "honoured", "disputes_lost",
            "unfunded", "false_dispute_rate", "upheld", "overturned", "silent", "last_closed",
        ]
        frame = pd.DataFrame(rows, columns=columns)
        frame = frame.sort_values(["role", "score"], ascending=[False, False], kind="stable")
        return frame.set_index(["role", "address"])


def _record(reputation: _Posterior) -> dict:
    return {**reputation.__dict__, "score": reputation.score, "std": reputation.std}


def _empty_tally(**counts) -> dict:
    return {"good": 0.0, "bad": 0.0, "last": None, **counts}


def _touch(tally: dict, deal: dict) -> None:
    closed = int(deal["closed_time"])
    tally["last"] = closed if tally["last"] is None else max(tally["last"], closed)


def _tally_provider(tallies: dict, deal: dict, weight: float, params: ReputationParams) -> None:
    tally = tallies.setdefault(deal["provider"], _empty_tally(delivered=0, failed=0, unfunded=0))
    _touch(tally, deal)
    outcome = deal["outcome"]
    if outcome == Status.SETTLED.name:
        tally["good"] += weight
        tally["delivered"] += 1
    elif outcome == Status.SLASHED.name and deal["reason"] in params.provider_failures:
        tally["bad"] += weight
        tally["failed"] += 1
    elif outcome == Status.UNFUNDED.name and deal["status_at_acceptance"] == Status.AWAITING_COLLATERAL.name:
        tally["unfunded"] += 1


def _tally_client(tallies: dict, deal: dict, weight: float) -> None:
    tally = tallies.setdefault(
        deal["client"],
        _empty_tally(honoured=0, disputes_lost=0, unfunded=0, delivered=0, lost_weight=0.0, delivered_weight=0.0),
    )
    _touch(tally, deal)
    if deal["outcome"] == Status.UNFUNDED.name and deal["status_at_acceptance"] == Status.AWAITING_PAYMENT.name:
        tally["bad"] += weight
        tally["unfunded"] += 1
        return
    if deal["reason"] in DELIVERED:
        tally["delivered"] += 1
        tally["delivered_weight"] += weight
    if _client_lost_a_dispute(deal):
        tally["bad"] += weight
        tally["disputes_lost"] += 1
        tally["lost_weight"] += weight
    else:
        tally["good"] += weight
        tally["honoured"] += 1


def _verdict(deal: dict) -> bool | None:
    """The validator's verdict on the deal's result, if it gave one."""
    if deal.get("scheme") != "VALIDATOR":
        return None
    if "verdict" in deal:
        verdict = deal["verdict"]
        return bool(verdict) if isinstance(verdict, (bool, np.bool_)) else None
    validator, attester = deal.get("validator"), deal.get("validation_attester")
    return bool(deal.get("approved")) if isinstance(attester, str) and attester == validator else None


def _client_lost_a_dispute(deal: dict) -> bool:
    """The court approved a result the client had taken to it: an optimistic dispute, or an appeal against
    the validator's approval (an approval is appealed only by the client)."""
    if deal["reason"] != CloseReason.COURT_APPROVED.name:
        return False
    return deal.get("scheme") == "OPTIMISTIC" or _verdict(deal) is True


def _tally_validator(tallies: dict, deal: dict, weight: float) -> None:
    validator, reason = deal.get("validator"), deal["reason"]
    if deal.get("scheme") != "VALIDATOR" or not isinstance(validator, str):
        return
    if reason not in VERDICTS_THAT_STOOD and reason not in COURT_RULINGS:
        return  # no verdict was needed: the client approved, or the provider failed before delivering
    tally = tallies.setdefault(validator, _empty_tally(upheld=0, overturned=0, silent=0, favoured=set()))
    _touch(tally, deal)
    verdict = _verdict(deal)
    if reason in VERDICTS_THAT_STOOD or verdict == (reason == CloseReason.COURT_APPROVED.name):
        tally["good"] += weight
        tally["upheld"] += 1
    elif verdict is None:
        tally["bad"] += weight
        tally["silent"] += 1
    else:
        tally["bad"] += weight
        tally["overturned"] += 1
        tally["favoured"].add(deal["provider"] if verdict else deal["client"])


__all__ = [
    "ClientReputation", "PROVIDER_FAILURES", "ProviderReputation", "ReputationBook", "ReputationParams",
    "ValidatorReputation",
]
