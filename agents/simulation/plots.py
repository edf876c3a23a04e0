"""The report's plots, one PNG each in the run directory: price discovery, P&L by strategy (trading and
revaluation apart), deals won per provider, and what faults cost whom."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: simulations run headless
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from agents.metrics import pnl_decomposition  # noqa: E402
from agents.protocol import Performative  # noqa: E402

DPI = 110


def _save(fig, run_dir: Path, name: str, written: list[str]) -> None:
    fig.tight_layout()
    fig.savefig(run_dir / name, dpi=DPI)
    plt.close(fig)
    written.append(name)


def plot_all(run_dir: Path, tables: dict[str, pd.DataFrame], cost_floor: float | None) -> list[str]:
    written: list[str] = []
    deals, messages, steps = tables["deals"], tables["messages"], tables["agent_steps"]
    t0 = steps["time"].min()
    _price_discovery(run_dir, deals, messages, t0, cost_floor, written)
    _pnl_by_strategy(run_dir, steps, t0, written)
    _deals_by_provider(run_dir, deals, written)
    _fault_costs(run_dir, tables["fault_costs"], written)
    return written


def _price_discovery(run_dir, deals, messages, t0, cost_floor, written) -> None:
    agreed = deals[deals["price"].notna()]
    if not len(agreed):
        return
    fig, ax = plt.subplots(figsize=(8, 4.5))
    offers = messages[(messages["message"] == Performative.OFFER.value) & messages["price"].notna()]
    own = offers["sender"] == offers["provider"]
    for frame, label, color in ((offers[own], "offers (provider-signed)", "lightgray"),
                                (offers[~own], "counter-offers (client-signed)", "tan")):
        if len(frame):
            ax.scatter((frame["time"] - t0) / 60, frame["price"], s=10, color=color, label=label, zorder=1)
    for outcome, frame in agreed.groupby("outcome"):
        ax.scatter((frame["agreed_at"] - t0) / 60, frame["price"], label=f"accepted, {outcome.lower()}", s=22,
                   zorder=2)
    if cost_floor:
        ax.axhline(cost_floor, color="black", linestyle="--", linewidth=1, label="cost floor of the most frequent job, cheapest provider")
    ax.set(xlabel="chain time into the run (minutes)", ylabel="price per job (tokens)",
           title="Price discovery: offers and accepted prices")
    ax.legend(fontsize=8)
    _save(fig, run_dir, "price_discovery.png", written)


def strategy_pnl_by_step(steps: pd.DataFrame) -> pd.DataFrame:
    """Cumulative trading P&L and revaluation in USD per strategy (summed over its agents) at each step."""
    parts = []
    for _, frame in steps.groupby("agent", sort=False):
        frame = frame.sort_values("step")
        pnl = pnl_decomposition(frame["holdings_tokens"], frame["token_usd"], frame["gas_usd"] + frame["electricity_usd"])
        parts.append(pd.DataFrame({
            "time": frame["time"].iloc[1:].to_numpy(), "strategy": frame["strategy"].iloc[0],
            "trading": pnl["trading"].cumsum().to_numpy(), "revaluation": pnl["revaluation"].cumsum().to_numpy(),
        }))
    return pd.concat(parts).groupby(["time", "strategy"]).sum().reset_index()


def _pnl_by_strategy(run_dir, steps, t0, written) -> None:
    pnl = strategy_pnl_by_step(steps)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for strategy, frame in pnl.groupby("strategy"):
        minutes = (frame["time"] - t0) / 60
        left.plot(minutes, frame["trading"], label=strategy, drawstyle="steps-post")
        right.plot(minutes, frame["revaluation"], label=strategy)
    left.axhline(0, color="gray", linewidth=0.6)
    right.axhline(0, color="gray", linewidth=0.6)
    left.set(xlabel="chain time into the run (minutes)", ylabel="cumulative USD, summed over the strategy's agents",
             title="Trading P&L (deals, fees, bonds, gas, electricity)")
    right.set(xlabel="chain time into the run (minutes)", ylabel="cumulative USD",
              title="Revaluation (token price moves on holdings)")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    _save(fig, run_dir, "pnl_by_strategy.png", written)


def _deals_by_provider(run_dir, deals, written) -> None:
    providers = deals[deals["provider"].notna()]
    if not len(providers):
        return
    counts = providers.groupby("provider")["outcome"].value_counts().unstack(fill_value=0)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    counts.plot.bar(stacked=True, ax=ax, rot=0)
    ax.set(xlabel="provider", ylabel="deals won (count)", title="Deals won per provider, by how they ended")
    ax.legend(title="outcome", fontsize=8)
    _save(fig, run_dir, "provider_utilization.png", written)


def _fault_costs(run_dir, costs, written) -> None:
    if not len(costs):
        return
    flows = costs.assign(flow=costs["payer_strategy"].fillna(costs["payer"]) + " → " + costs["payee_strategy"])
    table = flows.groupby(["fault", "flow", "kind"])["usd"].sum().unstack("kind", fill_value=0.0)
    # Flows too small to see as a bar (gas on a chain without a base fee) are left out, and said so.
    shown = table[table.sum(axis=1) >= 0.01 * table.to_numpy().sum()]
    hidden = table.sum(axis=1).sum() - shown.sum(axis=1).sum()
    if not len(shown):
        return
    shown = shown.loc[:, shown.sum() > 0]
    shown.index = [f"{fault.lower().replace('_', ' ')}: {flow}" for fault, flow in shown.index]
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(shown) + 2.0))
    shown.plot.barh(stacked=True, ax=ax)
    ax.invert_yaxis()
    note = f"\n{len(table) - len(shown)} smaller flows (each under 1% of the total; {hidden:.2g} USD in all) not shown" \
        if len(shown) < len(table) else ""
    ax.set(xlabel=f"USD paid, per fault (the deal's close reason): payer strategy → payee strategy{note}", ylabel="",
           title="What each fault cost, and who was paid")
    ax.legend(title="kind", fontsize=8)
    _save(fig, run_dir, "fault_costs.png", written)
