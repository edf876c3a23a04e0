"""One simulation run, start to finish: set up the model, step it with a progress bar, check that funds
are conserved and every deal closed, and write the report."""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from agents.deploy.addresses import Deployment
from agents.simulation.capacity import (
    active_period,
    attach_job_sizes,
    busy_intervals,
    job_sizes,
    utilization,
    utilization_by_step,
)
from agents.simulation.collector import DataCollector
from agents.simulation.efficiency import measure, provider_context
from agents.simulation.equilibrium import price_band_by_window, run_band
from agents.simulation.faults import fault_costs, fault_summary, incentives, token_transfers
from agents.simulation.markets import CLOCK_START, market_for  # noqa: F401 - CLOCK_START: for the commands
from agents.simulation.model import TOKEN_SYMBOL, MarketModel
from agents.simulation.report import (
    agent_metrics,
    attach_job_values,
    deals_table,
    market_metrics,
    messages_table,
    per_strategy,
    return_convention,
    write_report,
)
from agents.simulation.scenario import Scenario
from agents.strategies.costs import CostModel


@dataclass(repr=False)
class RunResult:
    run_dir: Path
    summary: dict
    agents: pd.DataFrame
    deals: pd.DataFrame
    wall_seconds: float
    plots: list[str]
    html: Path | None  # None for a lean run

    def __repr__(self) -> str:
        # Short: asyncio.run formats the finished main task, result included, when it restores the SIGINT
        # handler; printing both tables cost a lean training run about a tenth of its time.
        return f"RunResult({str(self.run_dir)!r}, {len(self.deals)} deals, {self.wall_seconds:.2f} s)"


async def _token_totals(model: MarketModel) -> tuple[int, int, int]:
    """(sum of agents' wallet balances + the market's balance, the market's balance, what it owes)."""
    return await model.market.token_totals([s.key.address for s in model.specs])


def _lowest_cost_floor(model: MarketModel) -> tuple[float, float]:
    """The cost floor of the most frequent job on the cheapest provider's machine, in tokens, as cost-plus prices it (the
    job's share of the machine's cores for its declared duration, deal gas, electricity at the provider's region,
    amortisation, risk on the collateral): below it the most efficient provider loses money, so competitive prices
    approach it from above. Returns (the floor in tokens, the job's core-hours)."""
    scenario = model.scenario
    common = max(scenario.jobs, key=lambda e: e.weight)  # the job mix's most frequent job
    seconds, cores = common.spec.estimated_seconds(), common.spec.requirements.min_cores
    min_collateral = statistics.median(
        int(float(g.params.get("budget", 2.0)) * model.unit * 0.2) for g in scenario.clients
    )
    state = model.state_source.snapshot(model.start_time)
    floors = []
    for group in scenario.providers:
        cost = CostModel(token_symbol=TOKEN_SYMBOL, token_decimals=scenario.token_decimals,
                         hardware_usd_per_hour=group.hardware.usd_per_hour)
        floors.append(cost.job_cost(seconds, min_collateral, provider_context(group, state), cores=cores) / model.unit)
    return min(floors), cores * seconds / 3600


async def _chain_ceiling(model: MarketModel, snapshot: str, transactions: list) -> dict:
    """The rate at which this node takes the run's own transactions when nothing else runs: the chain is
    rewound to before the market and the same signed transactions are replayed, pre-signed, block by
    block as the market mined them (each block's transactions in one batch, then mined). What the market
    reaches against this is the agents' share of the cost: everything but the chain."""
    direct = model.market.direct
    await direct.call("evm_revert", [snapshot])
    blocks: dict[int, list] = {}
    for tx in transactions:
        if tx.receipt is not None:
            blocks.setdefault(int(tx.receipt["blockNumber"], 16), []).append(tx.raw)
    replayed = 0
    started = time.perf_counter()
    for number in sorted(blocks):
        raws = blocks[number]
        await direct.batch_raw([("eth_sendRawTransaction", [raw]) for raw in raws])
        await direct.call("evm_mine")
        replayed += len(raws)
    seconds = time.perf_counter() - started
    await direct.call("evm_setAutomine", [True])
    return {"transactions": replayed, "seconds": seconds, "tx_per_s": replayed / seconds if seconds else 0.0}


async def simulate(
    scenario: Scenario, *, node_url: str | None = None, deployment: Deployment | None = None, funder_key: str,
    out_dir: Path, progress=None, measure_ceiling: bool = False, backend: str = "chain",
    head: tuple[int, int] | None = None, lean: bool = False,
) -> RunResult:
    """One run on `backend`: "chain" (the node at `node_url`, contracts of `deployment`) or "memory" (the market in
    this process; `deployment` defaults to the addresses a fresh anvil gives, `head` to its latest block: a chain
    run's summary has both, `head_block` and `head_time`, for a memory run that replays it).

    `lean`: only the agents' figures (the `agents` table, `per_strategy`) and the summary's deal counts; none of the
    market-wide measures that cost seconds (the efficiency optimum, price bands) and no written report. Training
    runs thousands of these and reads one agent's P&L."""
    stepped = market_for(backend, node_url=node_url, deployment=deployment, funder_key=funder_key, head=head)
    if measure_ceiling and backend != "chain":
        raise ValueError("the chain's ceiling is measured on the chain backend only")
    started = time.perf_counter()
    # One directory per scenario and seed, rewritten by each run: paths end up in on-chain URIs, so a fixed
    # path keeps the same seed's chain identical, byte for byte.
    run_dir = out_dir / f"{scenario.name}-seed{scenario.seed}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    # Where the run's market is: market, EAS, schema registry, token, schema UIDs, court, chain id, first block.
    (run_dir / "deployment.json").write_text(stepped.deployment.to_json() + "\n")
    model = MarketModel(scenario, stepped, run_dir / "work")
    collector = DataCollector(model)
    await model.setup()
    try:
        total_before, _, _ = await _token_totals(model)
        await collector.collect()
        snapshot = await stepped.direct.call("evm_snapshot") if measure_ceiling else None
        market_started = time.perf_counter()
        await model.run(after_step=collector.collect, progress=progress)
        market_seconds = time.perf_counter() - market_started
        total_after, market_balance, owed = await _token_totals(model)
        messages = await model.connection.feed.history(model.first_block)
        names = {s.key.address: s.name for s in model.specs}
        gas_by_deal: dict[str, int] = {}
        transactions = []
        for name, agent in model.live.items():
            for tx in agent.outbox.sent:
                gas = tx.gas_used or 0
                if tx.deal_id:
                    gas_by_deal[tx.deal_id.hex()] = gas_by_deal.get(tx.deal_id.hex(), 0) + gas
                transactions.append({"agent": name, "kind": tx.kind, "deal_id": tx.deal_id.hex() if tx.deal_id else None,
                                     "gas_used": gas, "fee_wei": tx.fee_paid or 0, "succeeded": tx.succeeded})
        # The clients' private values of their jobs, where the model draws them, and the jobs' declared sizes.
        sizes = job_sizes(messages, scenario.jobs)
        deals = attach_job_sizes(attach_job_values(deals_table(messages, names, model.unit, gas_by_deal,
                                                               model.connection.domain),
                                                   getattr(model, "job_values", {})), sizes)
        messages_frame = messages_table(messages, names, model.unit)
        steps = pd.DataFrame(collector.rows)
        duration = model.time - model.start_time
        provider_cores = {spec.name: group.hardware.capacity.cores for spec, group in model._provider_groups()}
        intervals = busy_intervals(messages_frame, deals)
        period = active_period(intervals, model.start_time, model.start_time + scenario.steps * scenario.step_seconds)
        busy = utilization(intervals, provider_cores, period)
        agents = agent_metrics(steps, deals, busy)
        market = market_metrics(deals, messages_frame)
        transactions_frame = pd.DataFrame(transactions)
        transfers = token_transfers(deals, court=next((s.name for s in model.specs if s.role.value == "court"), "court"))
        last = steps[steps["step"] == steps["step"].max()].iloc[0]
        costs = fault_costs(deals, transfers, transactions_frame, dict(zip(agents["agent"], agents["strategy"])),
                            token_usd=float(last["token_usd"]), eth_usd=float(last["eth_usd"]))
        # Agreed deals that have not reached a terminal status (cancelled requests never agreed).
        deals_open = int((deals["agreed_at"].notna() & deals["closed_at"].isna()).sum())
        summary = {
            "scenario": scenario.name, "seed": scenario.seed, "agents": scenario.agent_count,
            **market,
            "deals_open": deals_open,
            "funds_conserved": total_before == total_after and market_balance == owed,
            "token_total_before": total_before, "token_total_after": total_after,
            "escrow_balance": market_balance, "escrow_owed": owed,
            "restarts": model.restarts, "rpc_requests_refused_in_outages": stepped.refused_in_outages,
            "failed_transactions": sum(len(a.failed_transactions) for a in model.live.values()),
            "chain_seconds": duration, "steps_run": model.step_index,
            "return_convention": return_convention(scenario.step_seconds),
            "per_strategy": per_strategy(agents),
            "events": model.events_log,
        }
        if lean:
            summary["market_seconds"] = round(market_seconds, 3)
            summary["wall_seconds"] = round(time.perf_counter() - started, 2)
            return RunResult(run_dir, summary, agents, deals, time.perf_counter() - started, [], None)
        efficiency, jobs, true_cost = measure(model, deals, sizes, transactions_frame,
                                              token_usd=float(last["token_usd"]), eth_usd=float(last["eth_usd"]))
        summary.update(efficiency)
        summary["provider_utilization"] = busy
        summary["provider_utilization_median"] = statistics.median(busy.values()) if busy else None
        summary["utilization_period_s"] = period[1] - period[0]
        bands = price_band_by_window(jobs, true_cost, provider_cores, scenario.step_seconds, scenario.steps,
                                     token_usd=float(last["token_usd"]))
        summary["equilibrium_price_band"] = run_band(bands)
        summary["equilibrium_price_band_unit"] = "tokens per core-hour"
        summary["defaults_applied"] = list(scenario.defaults_applied)
        adversaries = incentives(agents)
        if adversaries:
            summary["incentives"] = adversaries
        cost_floor, core_hours = _lowest_cost_floor(model)
        summary["lowest_cost_floor_tokens"] = cost_floor
        summary["lowest_cost_floor_tokens_per_core_hour"] = cost_floor / core_hours if core_hours else None
        await stepped.own.collect_receipts([agent.outbox for agent in model.live.values()])
        sent = sorted((tx for agent in model.live.values() for tx in agent.outbox.sent), key=lambda t: t.sent_at)
        summary["market_seconds"] = round(market_seconds, 3)
        summary["transactions"] = len(sent)
        summary["deals_settled_per_s"] = summary["deals_settled"] / market_seconds
        if measure_ceiling:
            ceiling = await _chain_ceiling(model, snapshot, sent)
            summary["chain_ceiling_tx_per_s"] = ceiling["tx_per_s"]
            summary["market_tx_per_s"] = ceiling["transactions"] / market_seconds
            if summary["deals_settled"]:
                tx_per_deal = ceiling["transactions"] / summary["deals_settled"]
                summary["chain_ceiling_deals_per_s"] = ceiling["tx_per_s"] / tx_per_deal
                summary["fraction_of_ceiling"] = summary["deals_settled_per_s"] / summary["chain_ceiling_deals_per_s"]
        summary["phase_seconds"] = {k: round(v, 2) for k, v in model.phase_seconds.items()}
        summary["backend"] = backend
        # Where the run started: the latest block before it (what a memory run needs to replay it exactly).
        summary["head_block"], summary["head_time"] = model.head_block, model.start_time - 1
        # Receipts on a chain; in memory, each operation's measured gas on the real contracts (`make gas`).
        summary["gas_source"] = "receipts" if backend == "chain" else "gas table (gas-snapshot.json)"
        summary["rpc_calls"] = stepped.request_counts(model.connection)
        summary["wall_seconds"] = round(time.perf_counter() - started, 2)
        tables = {"messages": messages_frame, "deals": deals, "agent_steps": steps, "agents": agents,
                  "transactions": transactions_frame, "transfers": transfers, "fault_costs": costs,
                  "fault_summary": fault_summary(costs),
                  "demand": pd.DataFrame(model.demand_log, columns=["step", "time", "demand_factor", "burst",
                                                                   "jobs_arrived"]),
                  "utilization": utilization_by_step(intervals, provider_cores, period, scenario.step_seconds),
                  "price_band": bands.assign(start_time=model.start_time + bands["start_step"] * scenario.step_seconds,
                                             end_time=model.start_time + bands["end_step"] * scenario.step_seconds)}
        written = write_report(run_dir, tables=tables, summary=summary)
        return RunResult(run_dir, summary, agents, deals, time.perf_counter() - started, written["plots"],
                         written["html"])
    finally:
        await model.close()


def run_blocking(*args, **kwargs) -> RunResult:
    return asyncio.run(simulate(*args, **kwargs))
