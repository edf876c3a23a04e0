"""Allocative efficiency: the surplus the market realised over the largest surplus the same jobs could have
brought on the same machines.

A job's surplus on a provider is its value to its client (USD, drawn by the model) minus the provider's true
cost of running it: deal gas, electricity and amortisation of the share of the machine it holds for its
declared duration, priced at the state of the world when the job was requested (the cost floor without the
risk premium: collateral at risk is a transfer, not a cost of the job).

Realised: the jobs served, that is settled with a result that stood (approved by the client, unchallenged
through the validation window, or approved by the validator or the court), each on the provider that served
it. Split: the client keeps value - price - its own transaction fees on the deal - the validator's fee; the
provider keeps price - true cost. The rest of the realised surplus went to the chain and the validators.

Optimum: every requested job of the run with a value (served or not), assigned to at most one provider, or
none, to maximise total surplus (an integer program solved exactly with HiGHS). Capacity is held per window
of one simulation step: a job started at step s holds its cores on its provider for the steps s to
s + ceil(duration / step) - 1 (its declared duration, the size it is priced and valued at), and a provider
never holds more cores at once than its machine has. A job may start at any step from the one it was
requested in, as long as it ends by the run's last step plus the longest job's steps (the drain that
finishes what starts at the last step). The simulated providers hold a job's cores for the same declared
duration (they deliver only once it has passed in chain time), so the optimum and the run share one capacity.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from agents.policy import Role
from agents.simulation.builders import TOKEN_SYMBOL
from agents.strategies.costs import CLIENT_GAS_PER_DEAL, CostModel

# How a deal ends with its result standing (deals table `reason` column, CloseReason names).
RESULT_STOOD = ("APPROVED", "VALIDATION_WINDOW_PASSED", "VERDICT_APPROVED", "COURT_APPROVED")


def true_cost_usd(cost: CostModel, seconds: float, cores: int, context) -> float:
    """What a job costs its provider, in USD: gas, electricity and hardware of the cost floor, no risk premium."""
    parts = cost.breakdown(seconds, 0, context, cores=cores)
    return parts.gas_usd + parts.electricity_usd + parts.hardware_usd


def optimum(jobs: pd.DataFrame, providers: pd.DataFrame, surplus: pd.DataFrame, horizon: int
            ) -> tuple[float, pd.DataFrame]:
    """The largest total surplus of assigning `jobs` to `providers`, and one assignment that reaches it.

    jobs: one row per job, index the job id, columns `cores`, `start_step` (the earliest), `steps` (windows held).
    providers: index the provider, column `cores`. surplus: USD, index the jobs, one column per provider.
    horizon: the number of windows; a job must end within them. Returns (total, rows job, provider, start_step).
    """
    variables = []  # (job, provider, start step, surplus)
    for job, row in jobs.iterrows():
        last_start = horizon - int(row["steps"])
        for provider, machine in providers.iterrows():
            gain = float(surplus.at[job, provider])
            if gain <= 0 or int(row["cores"]) > int(machine["cores"]):
                continue  # a loss, or a job the machine cannot hold: never part of an optimum
            for start in range(int(row["start_step"]), last_start + 1):
                variables.append((job, provider, start, gain))
    empty = pd.DataFrame(columns=["job", "provider", "start_step"])
    if not variables:
        return 0.0, empty
    rows, cols, data, upper = [], [], [], []
    job_row = {job: i for i, job in enumerate(jobs.index)}  # each job at most once
    upper += [1.0] * len(job_row)
    window_row: dict[tuple, int] = {}  # (provider, window): cores held at once
    for k, (job, provider, start, _) in enumerate(variables):
        rows.append(job_row[job]), cols.append(k), data.append(1.0)
        for window in range(start, start + int(jobs.at[job, "steps"])):
            key = (provider, window)
            if key not in window_row:
                window_row[key] = len(upper)
                upper.append(float(providers.at[provider, "cores"]))
            rows.append(window_row[key]), cols.append(k), data.append(float(jobs.at[job, "cores"]))
    matrix = coo_matrix((data, (rows, cols)), shape=(len(upper), len(variables))).tocsr()
    gains = np.array([v[3] for v in variables])
    result = milp(-gains, constraints=LinearConstraint(matrix, -np.inf, np.array(upper)),
                  integrality=np.ones(len(variables)), bounds=Bounds(0, 1))
    if not result.success:
        raise RuntimeError(f"the surplus optimum could not be solved: {result.message}")
    chosen = [v[:3] for v, x in zip(variables, result.x) if x > 0.5]
    return float(gains @ np.round(result.x)), pd.DataFrame(chosen, columns=["job", "provider", "start_step"])


def realised(served: pd.DataFrame) -> dict:
    """Surplus of the served jobs, in USD, by side. served: `value_usd`, `true_cost_usd`, `price_usd`,
    `client_costs_usd` (its fees on the deal and the validator's fee), one row per job served."""
    total = float((served["value_usd"] - served["true_cost_usd"]).sum())
    clients = float((served["value_usd"] - served["price_usd"] - served["client_costs_usd"]).sum())
    providers = float((served["price_usd"] - served["true_cost_usd"]).sum())
    return {"total": total, "clients": clients, "providers": providers}


def efficiency_summary(served: pd.DataFrame, best: float) -> dict:
    """summary.json's efficiency keys: realised over optimum (None when nothing could be gained), surplus by side."""
    got = realised(served)
    pair = got["clients"] + got["providers"]
    return {
        "allocative_efficiency": got["total"] / best if best > 0 else None,
        "surplus_realised_usd": got["total"],
        "surplus_optimum_usd": best,
        "surplus_clients_usd": got["clients"],
        "surplus_providers_usd": got["providers"],
        # What clients keep of what clients and providers keep together; the rest went to fees and validators.
        "surplus_client_share": got["clients"] / pair if pair > 0 else None,
        "surplus_to_fees_usd": got["total"] - pair,
        "jobs_served": len(served),
    }


def requested_jobs(deals: pd.DataFrame, sizes: dict[str, tuple[int, float]], start_time: float,
                   step_seconds: float) -> pd.DataFrame:
    """The requests of the run that have a value, one row per deal id: `value_usd`, `cores`, `seconds`,
    `start_step` (the step it was requested in), `steps` (windows its duration holds), `served` (its
    result stood). sizes: deal id -> (cores, declared seconds)."""
    valued = deals[deals["value_usd"].notna()] if "value_usd" in deals else deals.iloc[0:0]
    frame = valued.set_index("deal_id")
    frame = frame.assign(
        cores=[sizes[d][0] for d in frame.index], seconds=[sizes[d][1] for d in frame.index],
        start_step=((frame["requested_at"] - start_time) // step_seconds).astype(int),
        served=(frame["outcome"] == "SETTLED") & frame["reason"].isin(RESULT_STOOD),
    )
    return frame.assign(steps=[max(1, math.ceil(s / step_seconds)) for s in frame["seconds"]])


def provider_context(group, state) -> SimpleNamespace:
    """The context a provider of scenario `group` prices in: its machine, its region, the world's `state`."""
    machine = group.hardware
    return SimpleNamespace(
        local=SimpleNamespace(hardware=SimpleNamespace(power_full_watts=machine.power_watts,
                                                       logical_cores=machine.capacity.cores),
                              region=group.region),
        global_state=state,
    )


def measure(model, deals: pd.DataFrame, sizes: dict[str, tuple[int, float]], transactions: pd.DataFrame, *,
            token_usd: float, eth_usd: float) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """The efficiency keys of a run of `model` (a `MarketModel`): its deals table, the jobs' sizes
    (capacity.job_sizes) and its transactions table. Prices, fees and validator fees are in USD at the run's last
    token and ETH prices. Also returns the requested jobs (requested_jobs, with `client_gas_usd`: the client's own
    gas on a deal at the fees of the time it asked) and their true cost on every provider (USD, a column each)."""
    scenario = model.scenario
    jobs = requested_jobs(deals[deals["deal_id"].isin(sizes)], sizes, model.start_time, scenario.step_seconds)
    groups = {g.name: g for g in scenario.providers}
    machines = {s.name: groups[s.group] for s in model.specs if s.role == Role.PROVIDER}
    providers = pd.DataFrame({"cores": [g.hardware.capacity.cores for g in machines.values()]}, index=list(machines))
    costs = {group.name: CostModel(token_symbol=TOKEN_SYMBOL, token_decimals=scenario.token_decimals,
                                   hardware_usd_per_hour=group.hardware.usd_per_hour) for group in groups.values()}
    true_cost = pd.DataFrame(index=jobs.index, columns=list(machines), dtype=float)
    client_gas = pd.Series(0.0, index=jobs.index)
    for job, row in jobs.iterrows():
        state = model.state_source.snapshot(row["requested_at"])
        if state.gas is not None:
            client_gas[job] = CLIENT_GAS_PER_DEAL * state.gas.fee_per_gas_wei / 1e18 * state.token_prices["ETH"]
        for name, group in machines.items():
            true_cost.at[job, name] = true_cost_usd(costs[group.name], row["seconds"], row["cores"],
                                                    provider_context(group, state))
    jobs = jobs.assign(client_gas_usd=client_gas)
    # The run's steps, then as many as its longest job holds: the drain a market needs to finish what it
    # starts at its last step.
    horizon = model.step_index + int(jobs["steps"].max() if len(jobs) else 0)
    best, _ = optimum(jobs, providers, true_cost.rsub(jobs["value_usd"], axis=0), horizon=horizon)
    served = jobs[jobs["served"]]
    fees = transactions[transactions["agent"].notna()] if len(transactions) else transactions
    client_fee_wei = {d: fees[(fees["deal_id"] == d) & (fees["agent"] == served.at[d, "client"])]["fee_wei"].sum()
                      for d in served.index} if len(fees) else {}
    served = served.assign(
        true_cost_usd=[true_cost.at[d, p] for d, p in zip(served.index, served["provider"])],
        price_usd=served["price"] * token_usd,
        client_costs_usd=[client_fee_wei.get(d, 0) / 1e18 * eth_usd for d in served.index]
        + served["validator_fee"].fillna(0) * token_usd * (served["scheme"] == "validator"),
    )
    return efficiency_summary(served, best), jobs, true_cost
