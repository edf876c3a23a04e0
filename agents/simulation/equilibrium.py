"""The competitive equilibrium price band implied by the run's supply and demand, per core-hour.

In each window of the run (a few steps), demand is the jobs requested in it: each brings its core-hours at
the most its client would pay per core-hour (its value less its own gas on the deal, over its core-hours). Supply
is each provider's cores over the window at its marginal cost per core-hour (the true cost of the run's jobs on its
machine, over their core-hours: gas, electricity, amortisation; the median over the jobs). Sorting demand down and
supply up gives the textbook step curves; every price at which the quantity demanded equals the quantity supplied
clears the window's market, and those prices form the band [low, high]:

    low  = max(cost of the last unit supplied, value of the first unit left unserved)
    high = min(value of the last unit served, cost of the first unit left unsupplied)

With spare capacity the band runs from the cheapest provider's cost to the next cost or to the lowest value
served (competition between providers); when demand exceeds supply it rises to the values of the marginal jobs
(scarcity). The run's band is the union of its windows' bands. A windowed band ignores that jobs span windows
and may wait: it is the benchmark a competitive market would price near, not an allocation.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

WINDOW_STEPS = 4  # steps per window: long enough to hold a job of the default mix, short enough to see the day


def clearing_band(demand: list[tuple[float, float]], supply: list[tuple[float, float]]) -> tuple[float, float] | None:
    """The band of prices that clear a market of `demand` units (value per unit, quantity) and `supply` units
    (cost per unit, quantity), or None when no unit trades (every value below every cost)."""
    demand = sorted(demand, key=lambda u: -u[0])
    supply = sorted(supply, key=lambda u: u[0])
    if not demand or not supply or demand[0][0] < supply[0][0]:
        return None
    # Walk both curves: trade while the next buyer values a unit at least at the next seller's cost.
    d, s = 0, 0
    d_left, s_left = demand[0][1], supply[0][1]
    last_value, last_cost = demand[0][0], supply[0][0]
    while d < len(demand) and s < len(supply) and demand[d][0] >= supply[s][0]:
        last_value, last_cost = demand[d][0], supply[s][0]
        traded = min(d_left, s_left)
        d_left -= traded
        s_left -= traded
        if d_left <= 1e-12:
            d += 1
            d_left = demand[d][1] if d < len(demand) else 0.0
        if s_left <= 1e-12:
            s += 1
            s_left = supply[s][1] if s < len(supply) else 0.0
    # The first unit left out on each side (a buyer or seller partly served is its own next unit: with spare
    # capacity the price cannot exceed that seller's cost, nor fall below a partly served buyer's value).
    next_value = demand[d][0] if d < len(demand) else 0.0
    next_cost = supply[s][0] if s < len(supply) else math.inf
    return max(last_cost, next_value), min(last_value, next_cost)


def price_band_by_window(jobs: pd.DataFrame, true_cost: pd.DataFrame, provider_cores: dict[str, int],
                         step_seconds: float, steps: int, token_usd: float) -> pd.DataFrame:
    """The band per window, in tokens per core-hour: columns `window`, `start_step`, `end_step`, `low`, `high`,
    `demand_core_hours`, `supply_core_hours`.

    jobs: the requested jobs with values (efficiency.requested_jobs: `value_usd`, `cores`, `seconds`,
    `start_step`) and `client_gas_usd`; true_cost: USD, index the jobs, one column per provider."""
    core_hours = jobs["cores"] * jobs["seconds"] / 3600
    willing = (jobs["value_usd"] - jobs["client_gas_usd"]) / core_hours / token_usd
    unit_cost = true_cost.div(core_hours, axis=0).median() / token_usd  # per provider, tokens per core-hour
    hours = WINDOW_STEPS * step_seconds / 3600
    rows = []
    for window, first in enumerate(range(0, steps, WINDOW_STEPS)):
        inside = (jobs["start_step"] >= first) & (jobs["start_step"] < first + WINDOW_STEPS)
        demand = list(zip(willing[inside], core_hours[inside]))
        supply = [(float(unit_cost[name]), cores * hours) for name, cores in provider_cores.items()]
        band = clearing_band(demand, supply)
        rows.append({"window": window, "start_step": first, "end_step": min(first + WINDOW_STEPS, steps),
                     "low": band[0] if band else np.nan, "high": band[1] if band else np.nan,
                     "demand_core_hours": float(core_hours[inside].sum()),
                     "supply_core_hours": float(sum(q for _, q in supply))})
    return pd.DataFrame(rows)


def run_band(windows: pd.DataFrame) -> list[float] | None:
    """The run's band: from the lowest low to the highest high of its windows (tokens per core-hour)."""
    traded = windows.dropna(subset=["low", "high"])
    if not len(traded):
        return None
    return [float(traded["low"].min()), float(traded["high"].max())]
