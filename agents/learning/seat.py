"""The seat under study in a training scenario (scenarios/train-provider.yaml): its provider groups whose
strategy is `learned`. Training puts each candidate policy in the seat; evaluation puts the learned policy,
Thompson sampling and cost-plus there in turn, on the same machines, against the same competitors and clients.
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
# The seat's figures, each the mean over the seat's agents (agents.simulation.report.agent_metrics): P&L in USD,
# per-step Sharpe and Sortino of trading returns, the mean differential Sharpe ratio (Moody and Saffell).
SEAT_FIGURES = ("pnl_usd", "trading_pnl_usd", "sharpe", "sortino", "differential_sharpe", "deals_done")
RATIOS = ("sharpe", "sortino", "differential_sharpe")
# What the seat's strategy does to the market (a full run's summary and deals).
MARKET_FIGURES = ("allocative_efficiency", "price_per_core_hour", "seat_price_per_core_hour", "surplus_clients_usd",
                  "surplus_providers_usd", "deals_settled")


class SeatError(ValueError):
    """A scenario without a seat to train or evaluate (no provider group with strategy `learned`)."""


def seat_groups(scenario: Scenario) -> tuple[str, ...]:
    """The names of the seat's groups."""
    names = tuple(g.name for g in scenario.providers if g.strategy == LEARNED)
    if not names:
        raise SeatError(f"scenario {scenario.name!r} has no provider group with strategy {LEARNED!r}: nothing to "
                        "train or evaluate")
    return names


def with_seat(scenario: Scenario, strategy: str, params: dict, seed: int) -> Scenario:
    """`scenario` at `seed` with `strategy(**params)` in the seat's groups (everything else as the file says)."""
    seat = set(seat_groups(scenario))
    providers = tuple(replace(g, strategy=strategy, params=dict(params)) if g.name in seat else g
                      for g in scenario.providers)
    return replace(scenario, providers=providers, seed=seed)


def seat_figures(agents: pd.DataFrame, groups: tuple[str, ...]) -> dict[str, float]:
    """The mean of each SEAT_FIGURES over the seat's agents. A ratio a run leaves undefined (an agent that never
    traded, or never had a losing step) counts as 0: the seat gains nothing by making its ratio undefined, in
    training and evaluation alike."""
    seat = agents[agents["group"].isin(groups)]
    if seat.empty:
        raise SeatError(f"the run has no agent of the seat's groups {list(groups)}")
    columns = {"differential_sharpe": "mean_differential_sharpe"}
    figures = {}
    for figure in SEAT_FIGURES:
        values = pd.to_numeric(seat[columns.get(figure, figure)], errors="coerce")
        if figure in RATIOS:
            values = values.where(values.map(lambda v: math.isfinite(v)), 0.0)
        figures[figure] = float(values.mean())
    return figures


def market_figures(summary: dict, deals: pd.DataFrame, seat_agents: set[str]) -> dict[str, float]:
    """Allocative efficiency, prices in tokens per core-hour (settled deals' prices over their declared
    core-hours: the market's and the seat's own), surplus to clients and providers (USD), deals settled."""
    settled = deals[deals["outcome"] == "SETTLED"]
    core_hours = settled["cores"] * settled["declared_hours"]
    mine = settled["provider"].isin(seat_agents)

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


def lean_run(scenario: Scenario, groups: tuple[str, ...], out_dir: Path) -> dict[str, float]:
    """One lean memory-backend run of a filled scenario (the agents' figures only: what training needs); the
    figures of the seat (`groups`: seat_groups of the scenario before it was filled)."""
    from agents.simulation.run import simulate
    from agents.sweeps.backends import ANVIL_FIRST_KEY

    result = asyncio.run(simulate(scenario, funder_key=ANVIL_FIRST_KEY, out_dir=out_dir, backend="memory",
                                  lean=True))
    return seat_figures(result.agents, groups)


def full_run(scenario: Scenario, groups: tuple[str, ...], backend: str, out_dir: Path) -> dict[str, float]:
    """One full run of a filled scenario on `backend` (its report written under `out_dir`); the seat's figures and
    the market's."""
    from agents.sweeps.backends import run_on_backend

    summary = run_on_backend(backend, scenario, out_dir)
    run_dir = out_dir / f"{scenario.name}-seed{scenario.seed}"
    agents = pd.read_parquet(run_dir / "agents.parquet")
    deals = pd.read_parquet(run_dir / "deals.parquet")
    seat_agents = set(agents.loc[agents["group"].isin(groups), "agent"])
    return {**seat_figures(agents, groups), **market_figures(summary, deals, seat_agents)}
