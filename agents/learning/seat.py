"""The seat under study in a training scenario (scenarios/train-provider.yaml, train-client.yaml): its provider
groups whose strategy is `learned`, or its client groups whose strategy is `learned-client`. Training puts each
candidate policy in the seat; evaluation puts the learned policy, Thompson sampling and cost-plus there in turn
(a client seat: the learned policy and the baseline client), on the same machines, against the same competitors
and clients.
This module fills the seat, runs the market (lean in memory for training, fully on either backend for
evaluation) and reads the seat's figures and the market's from the run."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd

from agents.simulation.scenario import Scenario

LEARNED = "learned"
# The learned strategy of each role whose seat can be trained and evaluated.
LEARNED_STRATEGIES = {"provider": LEARNED, "client": "learned-client"}
# The seat's figures, each the mean over the seat's agents (agents.simulation.report.agent_metrics): P&L in USD,
# per-step Sharpe and Sortino of trading returns, the mean differential Sharpe ratio (Moody and Saffell); a
# client's seat also its surplus (what the jobs it was delivered are worth to it, plus its trading P&L).
SEAT_FIGURES = ("pnl_usd", "trading_pnl_usd", "sharpe", "sortino", "differential_sharpe", "deals_done")
CLIENT_SEAT_FIGURES = ("client_surplus_usd", *SEAT_FIGURES)
RATIOS = ("sharpe", "sortino", "differential_sharpe")
# What the seat's strategy does to the market (a full run's summary and deals).
MARKET_FIGURES = ("allocative_efficiency", "price_per_core_hour", "seat_price_per_core_hour", "surplus_clients_usd",
                  "surplus_providers_usd", "deals_settled")


class SeatError(ValueError):
    """A scenario without a seat to train or evaluate (no group of the role with its learned strategy)."""


def learned_strategy(role: str) -> str:
    """The learned strategy's name for `role` ("provider" or "client"); ValueError (one line) for another."""
    if role not in LEARNED_STRATEGIES:
        raise ValueError(f"no learned seat for role {role!r}: choose {' or '.join(LEARNED_STRATEGIES)}")
    return LEARNED_STRATEGIES[role]


def _groups(scenario: Scenario, role: str) -> tuple:
    learned_strategy(role)
    return scenario.providers if role == "provider" else scenario.clients


def seat_groups(scenario: Scenario, role: str = "provider") -> tuple[str, ...]:
    """The names of the seat's groups: `role`'s groups whose strategy is the role's learned one."""
    strategy = learned_strategy(role)
    names = tuple(g.name for g in _groups(scenario, role) if g.strategy == strategy)
    if not names:
        raise SeatError(f"scenario {scenario.name!r} has no {role} group with strategy {strategy!r}: nothing to "
                        "train or evaluate")
    return names


def with_seat(scenario: Scenario, strategy: str, params: dict, seed: int, role: str = "provider") -> Scenario:
    """`scenario` at `seed` with `strategy` in the seat's groups (everything else as the file says). The seat's
    parameters are the group's own, but its policy file, overridden by `params` (a client seat keeps its budget
    and job stream whichever strategy fills it)."""
    seat = set(seat_groups(scenario, role))

    def filled(group):
        kept = {key: value for key, value in group.params.items() if key != "policy"}
        return replace(group, strategy=strategy, params={**kept, **params})

    groups = tuple(filled(g) if g.name in seat else g for g in _groups(scenario, role))
    return replace(scenario, **{"providers" if role == "provider" else "clients": groups}, seed=seed)


def seat_figures(agents: pd.DataFrame, groups: tuple[str, ...], role: str = "provider") -> dict[str, float]:
    """The mean of each seat figure (SEAT_FIGURES; CLIENT_SEAT_FIGURES for a client seat) over the seat's agents.
    A ratio a run leaves undefined (an agent that never traded, or never had a losing step) counts as 0: the seat
    gains nothing by making its ratio undefined, in training and evaluation alike."""
    seat = agents[agents["group"].isin(groups)]
    if seat.empty:
        raise SeatError(f"the run has no agent of the seat's groups {list(groups)}")
    columns = {"differential_sharpe": "mean_differential_sharpe"}
    figures = {}
    for figure in CLIENT_SEAT_FIGURES if role == "client" else SEAT_FIGURES:
        values = pd.to_numeric(seat[columns.get(figure, figure)], errors="coerce")
        if figure in RATIOS:
            values = values.where(values.map(lambda v: math.isfinite(v)), 0.0)
        figures[figure] = float(values.mean())
    return figures


def market_figures(summary: dict, deals: pd.DataFrame, seat_agents: set[str],
                   role: str = "provider") -> dict[str, float]:
    """Allocative efficiency, prices in tokens per core-hour (settled deals' prices over their declared
    core-hours: the market's and the seat's own, as seller or buyer), surplus to clients and providers (USD),
    deals settled."""
    settled = deals[deals["outcome"] == "SETTLED"]
    core_hours = settled["cores"] * settled["declared_hours"]
    mine = settled[role].isin(seat_agents)

    def per_core_hour(rows) -> float:
        hours = float(core_hours[rows].sum())
        return float(settled.loc[rows, "price"].sum()) / hours if hours else math.nan

    def number(key) -> float:
        value = summary.get(key)
        return float(value) if value is not None else math.nan

    return {"allocative_efficiency": number("allocative_efficiency"),
            "price_per_core_hour": per_core_hour(pd.Series(True, index=settled.index)),
            "seat_price_per_core_hour": per_core_hour(mine),
            "surplus_clients_usd": number("surplus_clients_usd"),
            "surplus_providers_usd": number("surplus_providers_usd"),
            "deals_settled": number("deals_settled")}


def lean_run(scenario: Scenario, groups: tuple[str, ...], out_dir: Path, role: str = "provider") -> dict[str, float]:
    """One lean memory-backend run of a filled scenario (the agents' figures only: what training needs); the
    figures of the seat (`groups`: seat_groups of the scenario before it was filled)."""
    from agents.simulation.run import simulate
    from agents.sweeps.backends import ANVIL_FIRST_KEY

    result = asyncio.run(simulate(scenario, funder_key=ANVIL_FIRST_KEY, out_dir=out_dir, backend="memory",
                                  lean=True))
    return seat_figures(result.agents, groups, role)


def full_run(scenario: Scenario, groups: tuple[str, ...], backend: str, out_dir: Path,
             role: str = "provider") -> dict[str, float]:
    """One full run of a filled scenario on `backend` (its report written under `out_dir`); the seat's figures and
    the market's."""
    from agents.sweeps.backends import run_on_backend

    summary = run_on_backend(backend, scenario, out_dir)
    run_dir = out_dir / f"{scenario.name}-seed{scenario.seed}"
    agents = pd.read_parquet(run_dir / "agents.parquet")
    deals = pd.read_parquet(run_dir / "deals.parquet")
    seat_agents = set(agents.loc[agents["group"].isin(groups), "agent"])
    return {**seat_figures(agents, groups, role), **market_figures(summary, deals, seat_agents, role)}
