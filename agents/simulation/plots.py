"""The report's plots, one PNG each in the run directory: price discovery (per core-hour, against the cost floor
and the competitive equilibrium band), P&L by strategy (trading and revaluation apart), utilization over time
with the demand that drove it, deals won per provider, the split of surplus, and what faults cost whom."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: simulations run headless
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from agents.metrics import pnl_decomposition  # noqa: E402
from agents.protocol import Performative  # noqa: E402

DPI = 110
# Beyond this many providers, one line or bar each is unreadable: the plots show each provider group instead (its
# mean and spread), as a market of thousands is read.
MAX_PROVIDER_SERIES = 12


def _save(fig, run_dir: Path, name: str, written: list[str]) -> None:
    fig.tight_layout()
    fig.savefig(run_dir / name, dpi=DPI)
    plt.close(fig)
    written.append(name)


def plot_all(run_dir: Path, tables: dict[str, pd.DataFrame], summary: dict) -> list[str]:
    written: list[str] = []
    deals, messages, steps = tables["deals"], tables["messages"], tables["agent_steps"]
    t0 = steps["time"].min()
    _price_discovery(run_dir, deals, messages, tables["price_band"], t0, summary, written)
    _pnl_by_strategy(run_dir, steps, t0, written)
    agents = tables.get("agents")
    providers = {} if agents is None or not len(agents) else dict(
        agents.loc[agents["role"] == "provider", ["agent", "group"]].itertuples(index=False))
    _utilization(run_dir, tables["utilization"], tables["demand"], t0, providers, written)
    _deals_by_provider(run_dir, deals, providers, written)
    _surplus_split(run_dir, summary, written)
    _fault_costs(run_dir, tables["fault_costs"], written)
    return written


def _hours(times, t0):
    return (times - t0) / 3600


def _price_discovery(run_dir, deals, messages, band, t0, summary, written) -> None:
    """Prices per core-hour of each job's declared size, so that jobs of different sizes compare."""
    agreed = deals[deals["price"].notna() & deals["cores"].notna()]
    if not len(agreed):
        return
    core_hours = (deals["cores"] * deals["declared_hours"]).set_axis(deals["deal_id"])
    fig, ax = plt.subplots(figsize=(9, 4.8))
    offers = messages[(messages["message"] == Performative.OFFER.value) & messages["price"].notna()]
    offers = offers.assign(per_core_hour=offers["price"] / offers["deal_id"].map(core_hours)).dropna(
        subset=["per_core_hour"])
    own = offers["sender"] == offers["provider"]
    for frame, label, color, marker in ((offers[own], "offers (provider-signed)", "silver", "."),
                                        (offers[~own], "counter-offers (client-signed)", "darkorange", "x")):
        if len(frame):
            ax.scatter(_hours(frame["time"], t0), frame["per_core_hour"], s=14, color=color, marker=marker,
                       label=label, zorder=1)
    for outcome, frame in agreed.groupby("outcome"):
        ax.scatter(_hours(frame["agreed_at"], t0), frame["price"] / (frame["cores"] * frame["declared_hours"]),
                   label=f"accepted, {outcome.lower()}", s=26, zorder=3)
    windows = band.dropna(subset=["low", "high"])
    if len(windows):
        for i, (_, w) in enumerate(windows.iterrows()):
            span = [_hours(w["start_time"], t0), _hours(w["end_time"], t0)]
            label = "competitive equilibrium price band (per window; a line: one clearing price)" if i == 0 else None
            ax.fill_between(span, w["low"], w["high"], color="tab:green", alpha=0.2, zorder=0)
            ax.plot(span, [w["low"]] * 2, color="tab:green", linewidth=2.5, zorder=0, label=label)
            ax.plot(span, [w["high"]] * 2, color="tab:green", linewidth=2.5, zorder=0)
    floor = summary.get("lowest_cost_floor_tokens_per_core_hour")
    if floor:
        ax.axhline(floor, color="black", linestyle="--", linewidth=1,
                   label="cost floor: most frequent job, cheapest provider")
    ax.set(xlabel="chain time into the run (hours)", ylabel="price (tokens per core-hour of the job's size)",
           title="Price discovery: offers and accepted prices against costs and the equilibrium band")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="upper left")
    _save(fig, run_dir, "price_discovery.png", written)


def _utilization(run_dir, busy, demand, t0, providers, written) -> None:
    """`providers`: provider name -> its group, for a market too large to draw each provider."""
    if not len(busy):
        return
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    if busy["provider"].nunique() <= MAX_PROVIDER_SERIES:
        for provider, frame in busy.groupby("provider"):
            top.plot(_hours(frame["time"], t0), 100 * frame["busy_share"], label=provider, drawstyle="steps-post")
        title = "Provider utilization over time, and the demand behind it"
    else:
        by_group = busy.assign(group=busy["provider"].map(providers).fillna(busy["provider"]))
        for group, frame in by_group.groupby("group"):
            shares = frame.groupby("time")["busy_share"]
            hours = _hours(shares.mean().index.to_series(), t0)
            line, = top.plot(hours, 100 * shares.mean(), drawstyle="steps-post",
                             label=f"{group} ({frame['provider'].nunique()} providers)")
            top.fill_between(hours, 100 * shares.quantile(0.1), 100 * shares.quantile(0.9), step="post", alpha=0.2,
                             color=line.get_color(), linewidth=0)
        title = "Provider utilization by group: mean, and 10th to 90th percentile of its providers"
    top.set(ylabel="cores busy (% of the machine)", title=title, ylim=(0, 105))
    top.legend(fontsize=8, ncol=2)
    if len(demand):
        bursts = demand["burst"].astype(bool)
        step_hours = demand["time"].diff().median() / 3600 if len(demand) > 1 else 0.5
        bottom.bar(_hours(demand["time"], t0), demand["jobs_arrived"], width=0.8 * step_hours, align="edge",
                   color=["tab:red" if b else "tab:blue" for b in bursts])
        bottom.plot(_hours(demand["time"], t0), demand["demand_factor"] * demand["jobs_arrived"].mean()
                    / max(demand["demand_factor"].mean(), 1e-9), color="black", linewidth=1,
                    label="expected arrivals (daily cycle x bursts)")
        bottom.legend(fontsize=8, title="bars: jobs arrived per step (red: a burst)", title_fontsize=8)
    bottom.set(xlabel="chain time into the run (hours)", ylabel="jobs per step")
    _save(fig, run_dir, "provider_utilization.png", written)


def _surplus_split(run_dir, summary, written) -> None:
    """Where the surplus went (clients, providers, fees and validators) against what was possible."""
    best = summary.get("surplus_optimum_usd")
    if not best:
        return
    parts = {"clients": summary.get("surplus_clients_usd") or 0.0,
             "providers": summary.get("surplus_providers_usd") or 0.0,
             "gas, fees, validators": summary.get("surplus_to_fees_usd") or 0.0}
    fig, ax = plt.subplots(figsize=(8, 3.4))
    left = 0.0
    for (label, value), color in zip(parts.items(), ("tab:blue", "tab:orange", "tab:gray")):
        ax.barh(["realised"], [value], left=left, color=color, label=f"{label}: {value:.2f} USD")
        left += value
    ax.barh(["optimum"], [best], color="tab:green", label=f"largest possible: {best:.2f} USD")
    efficiency = summary.get("allocative_efficiency")
    ax.set(xlabel="surplus (USD): clients' values minus providers' true costs of the jobs served",
           title=f"Surplus split (allocative efficiency {efficiency:.2f})" if efficiency is not None else "Surplus split")
    ax.set_xlim(0, max(best, left) * 1.02)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=2)
    _save(fig, run_dir, "surplus_split.png", written)


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


def _deals_by_provider(run_dir, deals, providers, written) -> None:
    """`providers`: provider name -> its group, for a market too large to draw each provider."""
    won = deals[deals["provider"].notna()]
    if not len(won):
        return
    counts = won.groupby("provider")["outcome"].value_counts().unstack(fill_value=0)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if len(counts) <= MAX_PROVIDER_SERIES:
        counts.plot.bar(stacked=True, ax=ax, rot=0)
        ax.set(xlabel="provider", ylabel="deals won (count)", title="Deals won per provider, by how they ended")
        ax.legend(title="outcome", fontsize=8)
    else:  # how many providers won how many deals, per group, those that won none included
        per_provider = counts.sum(axis=1).reindex(sorted(set(providers) | set(counts.index)), fill_value=0)
        bins = range(0, int(per_provider.max()) + 2)
        for group, wins in per_provider.groupby(per_provider.index.map(lambda name: providers.get(name, name))):
            ax.hist(wins, bins=bins, histtype="step", linewidth=1.5, label=f"{group} ({len(wins)} providers)")
        ax.set(xlabel="deals won by a provider", ylabel="providers",
               title=f"Deals won per provider, by group ({len(per_provider)} providers, {len(won)} deals)")
        ax.legend(fontsize=8)
    _save(fig, run_dir, "deals_by_provider.png", written)


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
