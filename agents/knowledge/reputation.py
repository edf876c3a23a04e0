"""Reputation of counterparties, scored from the market's closed deals (see `agents.knowledge.history`).

Providers: a Beta posterior of "delivers". Each closed deal is a Bernoulli trial: SETTLED counts as
delivered; SLASHED for a reason in `ReputationParams.provider_failures` (commencement or completion
timeout, provider abort, rejected result) counts as failed. Posterior: alpha = prior_alpha + sum of the
delivered weights, beta = prior_beta + sum of the failed weights; the score is its mean alpha/(alpha+beta).

Clients: a Beta posterior of "honours its deals", with the same prior and weighting. A client defaults
when it rejects a result itself (only possible in the optimistic scheme, where the client is the judge:
a client that rejects often is suspected of rejecting good work to be refunded plus the collateral) or
leaves an accepted deal unfunded (the deal closed UNFUNDED while awaiting its payment). Every other
closed accepted deal honours it.

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

import pandas as pd
from eth_utils import to_checksum_address

from agents.protocol import CloseReason, Status

DAY = 86_400

PROVIDER_FAILURES = frozenset(
    {
        CloseReason.COMMENCEMENT_TIMEOUT.name,
        CloseReason.COMPLETION_TIMEOUT.name,
        CloseReason.PROVIDER_ABORTED.name,
        CloseReason.REJECTED.name,
    }
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
    rejected: int = 0  # results it rejected itself
    unfunded: int = 0  # accepted deals it never paid into
    verdicts: int = 0  # results it judged (approved explicitly, let pass, or rejected)
    rejection_rate: float | None = None  # recency-weighted rejected / verdicts; None without verdicts
    last_closed: int | None = None


class ReputationBook:
    """Scores of every provider and client seen in a history, as of one moment."""

    def __init__(
        self,
        providers: dict[str, ProviderReputation],
        clients: dict[str, ClientReputation],
        params: ReputationParams,
        now: int,
    ):
        self.providers = providers
        self.clients = clients
        self.params = params
        self.now = now

    @classmethod
    def from_history(cls, history, now: int, params: ReputationParams | None = None) -> "ReputationBook":
        """Score a `ChainHistory` (its `deal_table()`) or a deal table with at least the columns client,
        provider, status_at_acceptance, outcome, reason, closed_time (and, to tell who rejected a result,
        validation_attester or else scheme)."""
        params = params or ReputationParams()
        table = history if isinstance(history, pd.DataFrame) else history.deal_table()
        closed = table[table["provider"].notna() & table["outcome"].notna() & table["closed_time"].notna()]
        closed = closed[closed["closed_time"].astype("int64") <= now]

        provider_tally: dict[str, dict] = {}
        client_tally: dict[str, dict] = {}
        for deal in closed.to_dict("records"):
            weight = params.weight(now - int(deal["closed_time"]))
            _tally_provider(provider_tally, deal, weight, params)
            _tally_client(client_tally, deal, weight)

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
                honoured=t["honoured"], rejected=t["rejected"], unfunded=t["unfunded"], verdicts=t["verdicts"],
                rejection_rate=t["rejected_weight"] / t["verdict_weight"] if t["verdicts"] else None,
                last_closed=t["last"],
            )
            for address, t in client_tally.items()
        }
        return cls(providers, clients, params, now)

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
        columns = [
            "role", "address", "score", "std", "alpha", "beta", "delivered", "failed", "honoured", "rejected",
            "unfunded", "verdicts", "rejection_rate", "last_closed",
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
        _empty_tally(honoured=0, rejected=0, unfunded=0, verdicts=0, rejected_weight=0.0, verdict_weight=0.0),
    )
    _touch(tally, deal)
    if deal["outcome"] == Status.UNFUNDED.name and deal["status_at_acceptance"] == Status.AWAITING_PAYMENT.name:
        tally["bad"] += weight
        tally["unfunded"] += 1
        return
    rejected = _client_rejected(deal)
    if _client_judged(deal):
        tally["verdicts"] += 1
        tally["verdict_weight"] += weight
    if rejected:
        tally["bad"] += weight
        tally["rejected"] += 1
        tally["rejected_weight"] += weight
    else:
        tally["good"] += weight
        tally["honoured"] += 1


def _client_rejected(deal: dict) -> bool:
    if deal["reason"] != CloseReason.REJECTED.name:
        return False
    attester = deal.get("validation_attester")
    if isinstance(attester, str):
        return attester == deal["client"]
    return deal.get("scheme") == "OPTIMISTIC"  # the client is the only judge of an optimistic deal


def _client_judged(deal: dict) -> bool:
    """Whether the client was the judge of a completed result: an optimistic deal that reached a verdict."""
    if deal["reason"] not in (
        CloseReason.APPROVED.name, CloseReason.VALIDATION_WINDOW_PASSED.name, CloseReason.REJECTED.name
    ):
        return False
    scheme = deal.get("scheme")
    if isinstance(scheme, str):
        return scheme == "OPTIMISTIC"
    # Request outside the history: judged by the client if it attested the verdict or nobody did.
    attester = deal.get("validation_attester")
    return not isinstance(attester, str) or attester == deal["client"]


__all__ = [
    "ClientReputation", "PROVIDER_FAILURES", "ProviderReputation", "ReputationBook", "ReputationParams",
]
