"""`strategy: learned`: a policy file's provider in a scenario. A bad file is a one-line error when the scenario
is loaded (exit code 2 from the command); a good one trades in a memory-backend market."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from agents.learning.policy import LinearPolicy
from agents.simulation import memory_run
from agents.simulation.memory_run import FIRST_TEST_KEY
from agents.simulation.run import simulate
from agents.simulation.scenario import ScenarioError, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[1]


def _market(policy: str, learned: int = 2) -> dict:
    """The bench market with one of its provider groups learned."""
    data = yaml.safe_load((ROOT / "scenarios" / "bench.yaml").read_text())
    data["steps"], data["drain_steps"] = 6, 12
    data["providers"] = [
        {"name": "cost-plus", "count": 2, "strategy": "cost-plus", "params": {"margin": 0.3}, "float": 1000},
        {"name": "learned", "count": learned, "strategy": "learned", "params": {"policy": policy}, "float": 1000},
    ]
    return data


def test_the_shipped_initial_policy_is_the_code_s():
    shipped = LinearPolicy.load(ROOT / "policies" / "initial.json")
    assert np.array_equal(shipped.to_vector(), LinearPolicy.initial().to_vector())


@pytest.mark.parametrize("policy, message", [
    ("nowhere.json", "policy file nowhere.json does not exist"),
    ("other.json", "was made for other observation"),
    ("", "learned needs params: {policy: PATH}"),
])
def test_a_bad_policy_is_a_one_line_scenario_error(tmp_path, monkeypatch, policy, message):
    monkeypatch.chdir(tmp_path)
    data = LinearPolicy.initial().to_json()
    data["observation"] = data["observation"][::-1]
    (tmp_path / "other.json").write_text(json.dumps(data))
    with pytest.raises(ScenarioError, match="providers") as refused:
        parse_scenario(_market(policy))
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_the_command_refuses_a_bad_policy_with_exit_code_2(tmp_path, capsys):
    scenario = tmp_path / "learned.yaml"
    scenario.write_text(yaml.safe_dump(_market(str(tmp_path / "missing.json"))))
    assert memory_run.main(["--scenario", str(scenario), "--out", str(tmp_path / "runs")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("Error: ") and "missing.json does not exist" in error and "\n" not in error


def test_a_learned_provider_trades_in_a_memory_market(tmp_path):
    scenario = load_scenario_data(_market(str(ROOT / "policies" / "initial.json")))
    result = asyncio.run(simulate(scenario, funder_key=FIRST_TEST_KEY, out_dir=tmp_path, backend="memory"))
    assert result.summary["funds_conserved"] and result.summary["deals_open"] == 0
    learned = result.deals[result.deals["provider"].str.startswith("learned", na=False)]
    assert len(learned) > 0, "the learned providers won no deal"
    assert (learned["outcome"] == "SETTLED").any()
    strategies = set(result.agents["strategy"])
    assert "learned" in strategies


def load_scenario_data(data: dict):
    return parse_scenario(data, source="test")


def test_the_bench_scenario_still_loads():
    assert load_scenario("bench").providers  # the market the tests above modify
