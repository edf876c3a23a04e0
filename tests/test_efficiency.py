"""Allocative efficiency: the surplus optimum against hand-solved allocations, the realised surplus and its
split by side, and a small market's summary.json carrying the keys."""

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from agents.deploy.addresses import Deployment
from agents.simulation.efficiency import efficiency_summary, optimum, realised, requested_jobs
from agents.simulation.run import run_blocking
from agents.simulation.scenario import load_scenario

TINY = Path(__file__).resolve().parent / "data" / "tiny.yaml"


def _jobs(steps=2, start=(0, 0)):
    return pd.DataFrame({"cores": [4, 4], "start_step": list(start), "steps": [steps, steps]}, index=["a", "b"])


def _surplus(p_a, p_b, q_a, q_b):
    return pd.DataFrame({"p": [p_a, p_b], "q": [q_a, q_b]}, index=["a", "b"])


def test_when_capacity_is_ample_each_job_goes_to_its_best_provider():
    # Values a = 10, b = 8; p costs a 2, b 3; q costs a 4, b 1: a on p (8) and b on q (7).
    providers = pd.DataFrame({"cores": [8, 8]}, index=["p", "q"])
    total, chosen = optimum(_jobs(), providers, _surplus(8, 5, 6, 7), horizon=2)
    assert total == pytest.approx(15)
    assert dict(zip(chosen["job"], chosen["provider"])) == {"a": "p", "b": "q"}


def test_when_capacity_binds_the_optimum_gives_up_the_smaller_surplus():
    # Each machine holds one 4-core job at a time, both jobs arrive at step 0 and hold two steps, and the run
    # has two: a on p (8) beats b on p plus a on q (5 + 1); b on q loses money (-1).
    providers = pd.DataFrame({"cores": [4, 4]}, index=["p", "q"])
    total, chosen = optimum(_jobs(), providers, _surplus(8, 5, 1, -1), horizon=2)
    assert total == pytest.approx(8)
    assert chosen[["job", "provider", "start_step"]].values.tolist() == [["a", "p", 0]]


def test_a_later_start_lets_both_jobs_run_on_the_best_machine():
    # The same market with four steps: b runs on p after a (steps 2-3): 8 + 5.
    providers = pd.DataFrame({"cores": [4, 4]}, index=["p", "q"])
    total, chosen = optimum(_jobs(), providers, _surplus(8, 5, 1, -1), horizon=4)
    assert total == pytest.approx(13)
    assert sorted(chosen["start_step"]) == [0, 2]
    assert set(chosen["provider"]) == {"p"}


def test_a_job_too_big_for_every_machine_or_at_a_loss_is_left_out():
    providers = pd.DataFrame({"cores": [2, 8]}, index=["p", "q"])
    jobs = pd.DataFrame({"cores": [4, 4], "start_step": [0, 0], "steps": [1, 1]}, index=["a", "b"])
    total, chosen = optimum(jobs, providers, _surplus(9, 9, -1, -2), horizon=1)
    assert total == 0.0 and chosen.empty


def test_realised_surplus_and_its_split():
    # Value 10, price 6, client fees 0.5, true cost 2: total 8, client 3.5, provider 4, fees 0.5.
    served = pd.DataFrame({"value_usd": [10.0], "true_cost_usd": [2.0], "price_usd": [6.0],
                           "client_costs_usd": [0.5]})
    assert realised(served) == {"total": 8.0, "clients": 3.5, "providers": 4.0}
    summary = efficiency_summary(served, best=10.0)
    assert summary["allocative_efficiency"] == pytest.approx(0.8)
    assert summary["surplus_client_share"] == pytest.approx(3.5 / 7.5)
    assert summary["surplus_to_fees_usd"] == pytest.approx(0.5)
    assert efficiency_summary(served.iloc[0:0], best=0.0)["allocative_efficiency"] is None


def test_requests_are_placed_in_steps_and_only_results_that_stood_count_as_served():
    deals = pd.DataFrame({
        "deal_id": ["a", "b", "c"], "requested_at": [1000, 1650, 2300], "value_usd": [1.0, 2.0, None],
        "outcome": ["SETTLED", "SETTLED", "UNFILLED"], "reason": ["APPROVED", "VERDICT_REJECTED", None],
    })
    sizes = {"a": (4, 5400.0), "b": (8, 7000.0), "c": (4, 60.0)}
    jobs = requested_jobs(deals, sizes, start_time=1000, step_seconds=600)
    assert list(jobs.index) == ["a", "b"]  # c has no value
    assert jobs["start_step"].tolist() == [0, 1]
    assert jobs["steps"].tolist() == [9, 12]
    assert jobs["served"].tolist() == [True, False]


def _run(chain, system, accounts, tmp_path, scenario):
    return run_blocking(scenario, node_url=chain.provider.http_uri, deployment=Deployment.from_system(system),
                        funder_key=accounts[0].private_key, out_dir=tmp_path)


def test_a_small_market_reports_its_efficiency(chain, system, accounts, tmp_path):
    tiny = load_scenario(TINY)
    # tiny's jobs carry no values: its clients value them at their budget, so there is no surplus to measure.
    result = _run(chain, system, accounts, tmp_path / "plain", tiny)
    assert result.summary["allocative_efficiency"] is None
    # Values of about half a budget (a job is 7e-5 core-hours): the same market has a surplus, and realises
    # at most its optimum.
    valued = replace(tiny, jobs=tuple(replace(e, value_per_core_hour=7000.0, value_spread=0.2)
                                         for e in tiny.jobs))
    result = _run(chain, system, accounts, tmp_path / "valued", valued)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["jobs_served"] > 0
    assert 0 <= summary["allocative_efficiency"] <= 1
    assert summary["surplus_clients_usd"] + summary["surplus_providers_usd"] + summary["surplus_to_fees_usd"] \
        == pytest.approx(summary["surplus_realised_usd"])
