"""Jobs of real size, demand that moves, utilization and the equilibrium band: hand-computed cases for each
measure, and the shipped default market reaching its targets on a real chain."""

from __future__ import annotations

import asyncio
import math

import pandas as pd
import pytest

from agents.simulation.capacity import active_period, busy_intervals, utilization, utilization_by_step
from agents.simulation.equilibrium import clearing_band, run_band
from agents.simulation.run import simulate
from agents.sweeps.backends import ANVIL_FIRST_KEY
from agents.simulation.scenario import Demand, ScenarioError, load_scenario, parse_scenario

DAY = 86_400


# --- the equilibrium band ---------------------------------------------------------------------------------

def test_two_units_trade_and_the_band_lies_between_the_marginal_values_and_costs():
    # Values 10, 8, 3 against costs 2, 5, 9: two units trade; 5..8 clears (3 and 9 stay out).
    assert clearing_band([(10, 1), (8, 1), (3, 1)], [(2, 1), (5, 1), (9, 1)]) == (5, 8)


def test_with_spare_capacity_the_price_is_the_cheapest_sellers_cost():
    assert clearing_band([(10, 1), (7, 2)], [(2, 5), (4, 5)]) == (2, 2)


def test_when_demand_exceeds_supply_the_price_rises_to_the_marginal_value():
    # 5 units wanted at 10 or 6, 2 supplied at 1: the buyer at 6 is left out, so the price is 6..10.
    assert clearing_band([(10, 2), (6, 3)], [(1, 2)]) == (6, 10)


def test_no_band_when_every_value_is_below_every_cost():
    assert clearing_band([(1, 1)], [(2, 1)]) is None
    assert run_band(pd.DataFrame({"low": [float("nan")], "high": [float("nan")]})) is None
    assert run_band(pd.DataFrame({"low": [2.0, 3.0], "high": [2.5, 4.0]})) == [2.0, 4.0]


# --- utilization --------------------------------------------------------------------------------------------

def _messages(rows):
    return pd.DataFrame(rows, columns=["time", "message", "deal_id"])


def test_a_job_is_busy_from_commencement_to_delivery_on_the_cores_it_declared():
    deals = pd.DataFrame({"deal_id": ["a", "b", "c"], "provider": ["p", "p", "q"], "cores": [4, 8, 4],
                          "closed_at": [900.0, 700.0, None]})
    messages = _messages([(100, "commence", "a"), (400, "complete", "a"), (200, "commence", "b"),
                          (600, "abort", "b"), (50, "request", "c")])  # c never ran
    intervals = busy_intervals(messages, deals).set_index("deal_id")
    assert intervals.loc["a", ["start", "end", "cores"]].tolist() == [100, 400, 4]
    assert intervals.loc["b", ["start", "end"]].tolist() == [200, 600]  # aborted: free from the abort
    assert "c" not in intervals.index
    period = active_period(intervals.reset_index(), start=0, last_arrival=500)
    assert period == (0, 600)  # until the last job left its machine
    busy = utilization(intervals.reset_index(), {"p": 8, "q": 16}, period)
    # p: 4 cores x 300 s + 8 cores x 400 s = 4400 core-seconds of 8 x 600.
    assert busy["p"] == pytest.approx(4400 / 4800) and busy["q"] == 0.0
    steps = utilization_by_step(intervals.reset_index(), {"p": 8}, period, step_seconds=300)
    # 0-300: a (4 cores, 200 s) + b (8 cores, 100 s) = 1600; 300-600: a 100 s x 4 + b 300 s x 8 = 2800.
    assert steps["busy_share"].tolist() == pytest.approx([1600 / 2400, 2800 / 2400])


# --- demand ---------------------------------------------------------------------------------------------------

def test_demand_follows_the_day_and_multiplies_in_bursts():
    demand = Demand(daily_amplitude=0.5, peak_hour=15, burst_probability=0.1, burst_factor=3)
    assert demand.factor(15 * 3600, burst=False) == pytest.approx(1.5)
    assert demand.factor(DAY + 3 * 3600, burst=False) == pytest.approx(0.5)  # twelve hours from the peak
    assert demand.factor(15 * 3600, burst=True) == pytest.approx(4.5)
    # Over a whole day, outside bursts, the mean is the scenario's rate.
    assert sum(demand.factor(h * 3600, False) for h in range(24)) / 24 == pytest.approx(1.0)
    assert Demand().factor(12_345, False) == 1.0


def _minimal(**extra):
    scenario = {"steps": 3, "providers": [{"name": "p"}], "clients": [{"name": "c"}],
                "jobs": [{"workload": "sha256-chain", "params": {"n": 100}}]}
    scenario.update(extra)
    return scenario


def test_a_scenario_lists_the_defaults_it_applied_and_refuses_a_bad_demand():
    scenario = parse_scenario(_minimal(seed=4))
    assert "seed = 0" not in scenario.defaults_applied
    assert "step_seconds = 10" in scenario.defaults_applied
    assert "providers[0]: region = 'eu-west'" in scenario.defaults_applied
    assert "demand: daily_amplitude = 0.0" in scenario.defaults_applied
    with pytest.raises(ScenarioError, match="demand: daily_amplitude must be at most 1.0"):
        parse_scenario(_minimal(demand={"daily_amplitude": 2}))
    with pytest.raises(ScenarioError, match="demand: bursts: unknown field 'factr'"):
        parse_scenario(_minimal(demand={"bursts": {"factr": 2}}))


# --- the default market ---------------------------------------------------------------------------------------

def test_the_default_market_fills_machines_moves_prices_and_allocates_efficiently(tmp_path):
    """The shipped default scenario as `make simulate` runs it, from a fresh deployment (on the memory backend, which
    tests/test_backends_agree.py proves gives the chain's deals; the shared test chain's earlier deals would change
    deal ids and with them the order of ties): jobs hold their cores for their declared duration, the median
    provider is busy 20-95% of the time, negotiation happens (counter-offers), prices move, and the surplus
    realised is at least 90% of the optimum."""
    result = asyncio.run(simulate(load_scenario("default"), funder_key=ANVIL_FIRST_KEY, out_dir=tmp_path,
                                  backend="memory"))
    summary, deals, run_dir = result.summary, result.deals, result.run_dir
    assert summary["deals_open"] == 0 and summary["funds_conserved"] is True
    assert 0.2 <= summary["provider_utilization_median"] <= 0.95
    assert summary["counter_offers"] > 0
    assert summary["price_cv"] > 0.1
    assert summary["allocative_efficiency"] >= 0.90
    low, high = summary["equilibrium_price_band"]
    assert 0 < low <= high
    # No result is delivered before the job's declared duration has passed since it commenced.
    messages = pd.read_csv(run_dir / "messages.csv")
    times = messages.pivot_table(index="deal_id", columns="message", values="time", aggfunc="min")
    ran = deals.set_index("deal_id").join(times[["commence", "complete"]], how="inner").dropna(subset=["complete"])
    assert len(ran) and ((ran["complete"] - ran["commence"]) >= ran["declared_hours"] * 3600).all()
    # Demand moved: the day's cycle and bursts are in the demand table.
    demand = pd.read_csv(run_dir / "demand.csv")
    assert demand["demand_factor"].max() / demand["demand_factor"].min() > 2
    for name in ("report.html", "provider_utilization.png", "surplus_split.png", "price_discovery.png",
                 "utilization.parquet", "price_band.parquet"):
        assert (run_dir / name).stat().st_size > 0, name
    assert not math.isnan(summary["surplus_clients_usd"]) and summary["surplus_providers_usd"] > 0
