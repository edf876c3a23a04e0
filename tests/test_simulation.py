"""The simulation: scenario validation, a small market's invariants on a real chain, determinism, and the
`ape run simulate` command as a user runs it."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from agents.deploy.addresses import Deployment
from agents.policy import Capacity, Role
from agents.simulation.run import simulate
from agents.sweeps.backends import ANVIL_FIRST_KEY, run_on_chain
from agents.simulation.scenario import ScenarioError, load_scenario, parse_scenario
from agents.strategies.registry import strategy, strategy_names

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "data" / "tiny.yaml"


def _minimal(**overrides):
    scenario = {
        "steps": 10,
        "providers": [{"name": "p", "count": 1}],
        "clients": [{"name": "c", "count": 1}],
        "jobs": [{"workload": "sha256-chain", "params": {"n": 10}}],
    }
    scenario.update(overrides)
    return scenario


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"steps": 0}, "steps must be at least 1"),
        ({"steps": "many"}, "steps must be an integer"),
        ({"providers": []}, "at least one provider group"),
        ({"providers": [{"name": "p", "strategy": "psychic"}]}, "strategy must be one of"),
        ({"clients": [{"name": "c", "strategy": "cost-plus"}]}, "clients[0]: strategy must be one of budget"),
        ({"providers": [{"name": "p", "hardware": {"ram_gb": 0}}]}, "hardware: ram_gb must be at least 0.1"),
        ({"clients": [{"name": "c", "jobs_per_step": -1}]}, "jobs_per_step must be at least 0"),
        ({"jobs": [{"workload": "mine-bitcoin", "params": {}}]}, "jobs[0]"),
        ({"jobs": [{"workload": "sha256-chain", "params": {"iterations": 5}}]}, "unknown parameter"),
        ({"validator_share": 0.5}, "needs at least one validator"),
        ({"validators": [{"strategy": "cost-plus"}]}, "validators[0]: strategy must be one of validator"),
        ({"validators": [{"name": "c"}]}, "group names must be unique"),
        ({"court": {"strategy": "validator"}}, "court: strategy must be one of court"),
        ({"faults": [{"kind": "meteor", "at_step": 1}]}, "kind must be one of"),
        ({"faults": [{"kind": "restart", "at_step": 99, "agent": "p-0"}]}, "at_step must be at most"),
        ({"providers": [{"name": "x"}], "clients": [{"name": "x"}]}, "group names must be unique"),
        # Nothing is guessed: a missing length, a misspelt field, an unknown name or parameter is an error.
        ({"steps": None}, "missing field 'steps'"),
        ({"stepz": 10}, "unknown field 'stepz' (did you mean 'steps'?)"),
        ({"providers": [{"name": "p", "region": "mars"}]}, "providers[0]: region must be one of"),
        ({"providers": [{"name": "p", "hardware": {"cpu_corez": 4}}]}, "hardware: unknown field 'cpu_corez'"),
        ({"clients": [{"name": "c", "params": {"budgett": 1.0}}]}, "budget has no parameter 'budgett'"),
        ({"clients": [{"name": "c", "params": {"budget": -1.0}}]}, "budget must not be negative"),
        ({"faults": [{"kind": "restart", "at_step": 1, "agent": "nobody-0"}]}, "agent 'nobody-0' is not in this"),
        ({"jobs": [{"workload": "sha256-chain", "params": {"n": 10}, "weigth": 2}]}, "unknown field 'weigth'"),
    ],
)
def test_bad_scenarios_are_refused_with_the_field_named(overrides, field):
    scenario = {key: value for key, value in _minimal(**overrides).items() if value is not None}
    with pytest.raises(ScenarioError) as error:
        parse_scenario(scenario)
    assert field in str(error.value)


def test_unknown_scenario_name_lists_the_shipped_ones():
    with pytest.raises(ScenarioError, match="default"):
        load_scenario("no-such-market")


def test_shipped_scenarios_load():
    for name in ("default", "large", "adversarial"):
        assert load_scenario(name).agent_count > 0


def test_scenario_hardware_is_a_capacity_with_memory_in_bytes():
    scenario = parse_scenario(_minimal(providers=[
        {"name": "p", "hardware": {"cpu_cores": 4, "ram_gb": 1.5, "gpus": 1, "power_watts": 90, "speed": 2}},
    ]))
    hardware = scenario.providers[0].hardware
    assert hardware.capacity == Capacity(cores=4, ram_bytes=3 * 2**29, gpus=1)
    assert (hardware.power_watts, hardware.speed) == (90, 2)


def test_scenarios_have_validator_groups_and_a_court_by_default():
    scenario = parse_scenario(_minimal(validators=[
        {"name": "v", "count": 2, "float": 30, "stake": 12, "hardware": {"power_watts": 80}},
        {"name": "bent", "strategy": "colluding-validator", "params": {"partner": "c-0"}},
    ]))
    honest, bent = scenario.validators
    assert (honest.count, honest.strategy, honest.float_tokens, honest.stake_tokens) == (2, "validator", 30, 12)
    assert honest.hardware.power_watts == 80
    assert (bent.strategy, bent.params, bent.stake_tokens) == ("colluding-validator", {"partner": "c-0"}, 20)
    assert scenario.court.strategy == "court"  # one honest court, though the file names none
    assert scenario.agent_count == 1 + 1 + 3 + 1


def test_adversarial_scenario_has_colluders_and_false_disputers():
    scenario = load_scenario("adversarial")
    assert {g.strategy for g in scenario.validators} == {"validator", "colluding-validator"}
    assert "false-dispute" in {g.strategy for g in scenario.clients}
    partner = next(g for g in scenario.validators if g.strategy == "colluding-validator").params["partner"]
    accomplice = next(g for g in scenario.clients if partner.startswith(g.name))
    assert accomplice.params["validator"].startswith("colluder")  # it names its colluding validator


def test_strategy_registry_knows_each_name_once_with_its_role():
    assert strategy_names(Role.PROVIDER, adversarial=False) == ("cost-plus", "thompson", "learned")
    assert strategy_names(Role.VALIDATOR) == ("validator", "colluding-validator")
    assert strategy_names(Role.COURT) == ("court",)
    assert "never-deliver" in strategy_names(Role.PROVIDER)
    assert strategy("budget", Role.CLIENT).build(budget=5).budget == 5
    with pytest.raises(ValueError, match="no provider strategy 'budget'; choose one of cost-plus"):
        strategy("budget", Role.PROVIDER)


def _run(chain, system, accounts, tmp_path, name):
    return asyncio.run(simulate(
        load_scenario(TINY), node_url=chain.provider.http_uri, deployment=Deployment.from_system(system),
        funder_key=accounts[0].private_key, out_dir=tmp_path / name,
    ))


def test_small_market_closes_every_deal_and_conserves_funds(chain, system, accounts, tmp_path):
    result = _run(chain, system, accounts, tmp_path, "a")
    summary = result.summary
    assert summary["deals_requested"] > 0
    assert summary["deals_settled"] > 0
    assert summary["deals_open"] == 0
    assert summary["funds_conserved"] is True
    assert summary["escrow_balance"] == summary["escrow_owed"]
    assert summary["restarts"] == 1
    assert summary["deals_settled"] + summary["deals_failed"] + summary["requests_unfilled"] == summary[
        "deals_requested"
    ] - (result.deals["outcome"] == "CANCELLED").sum()
    for name in ("summary.json", "messages.csv", "deals.csv", "agents.csv", "agent_steps.csv",
                 "price_discovery.png", "pnl_by_strategy.png", "deals_by_provider.png", "demand.csv",
                 "utilization.csv", "price_band.csv"):
        assert (result.run_dir / name).stat().st_size > 0, name
    assert json.loads((result.run_dir / "summary.json").read_text())["deals_open"] == 0
    assert set(result.agents["strategy"]) == {"cost-plus", "thompson", "budget", "validator", "court"}
    assert set(result.deals["outcome"]) <= {"SETTLED", "SLASHED", "UNFUNDED", "UNWOUND", "CANCELLED", "UNFILLED"}
    steps = pd.read_csv(result.run_dir / "agent_steps.csv")
    assert not steps.duplicated(["step", "agent"]).any()  # every agent observed once per step
    assert (steps.groupby("agent")["step"].count() == steps["step"].nunique()).all()


def test_same_seed_same_outcome(tmp_path):
    """Two runs of a seed, each on a fresh anvil of its own (as a chain-backed sweep cell runs), give the same deals
    to the unit of gas. The same output directory too: result URIs (file paths) are part of the chain's calldata."""
    scenario = load_scenario(TINY)
    out = tmp_path / "run"
    out.mkdir()
    runs = []
    for _ in range(2):
        summary = run_on_chain(scenario, out)
        runs.append((summary, pd.read_csv(out / f"{scenario.name}-seed{scenario.seed}" / "deals.csv")))
    (first_summary, first), (second_summary, second) = runs
    columns = ["deal_id", "client", "provider", "price", "collateral", "outcome", "reason", "gas"]
    assert first[columns].equals(second[columns])
    assert first_summary["per_strategy"] == second_summary["per_strategy"]


def test_simulate_command_refuses_a_bad_scenario(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps(_minimal(steps=-3)))  # JSON is YAML; only `steps` is wrong
    ape = Path(sys.executable).with_name("ape")
    result = subprocess.run([str(ape), "run", "simulate", "--scenario", str(bad), "-v", "WARNING"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env=os.environ)
    assert result.returncode == 2
    assert "steps must be at least 1" in result.stderr + result.stdout


def test_in_the_adversarial_market_cheating_does_not_pay(tmp_path):
    """The shipped adversarial market as `ape run simulate --scenario adversarial` runs it from a fresh deployment
    (memory backend: the chain's deals, tests/test_backends_agree.py): the false disputer loses its bonds to the
    court and ends below the honest clients; the colluding validator's rejections are appealed, overturned and
    cost it its stake, and it ends below the honest validator; every deal closes and the money adds up."""
    result = asyncio.run(simulate(load_scenario("adversarial"), funder_key=ANVIL_FIRST_KEY, out_dir=tmp_path,
                                  backend="memory"))
    summary, agents, deals = result.summary, result.agents.set_index("agent"), result.deals
    assert summary["deals_open"] == 0 and summary["funds_conserved"] is True
    honest_clients = agents[(agents["strategy"] == "budget") & agents.index.str.startswith("client-")]
    disputer = agents.loc["false-dispute-0"]
    # Clients are compared by surplus: the value of what they were delivered plus their trading P&L.
    assert disputer["disputes_lost"] > 0 and disputer["client_surplus_usd"] < honest_clients["client_surplus_usd"].mean()
    bought = deals[(deals["client"] == "false-dispute-0") & (deals["outcome"] == "SETTLED")]
    assert (bought["reason"] == "COURT_APPROVED").all()  # every result it paid for, it disputed and lost
    colluder, validator = agents.loc["colluder-0"], agents.loc["validator-0"]
    assert colluder["deals_failed"] > 0 and colluder["pnl_usd"] < validator["pnl_usd"]
    # Every rejection of good work (an honest provider's) was appealed by the provider and overturned.
    wronged = deals[(deals["validator"] == "colluder-0") & (deals["verdict"] == "REJECTED")
                    & deals["provider"].str.startswith("honest")]
    assert len(wronged) and (wronged["reason"] == "COURT_APPROVED").all()
    assert (wronged["disputant"] == wronged["provider"]).all()
    # The bonds it is paid cover the re-runs it rules on (trading P&L: the funder's own token holdings move with
    # the token's price, which says nothing of the court).
    assert agents.loc["court", "trading_pnl_usd"] > 0 and agents.loc["court", "deals_done"] == summary["court_rulings"]
    # The overbooking client haggled for more than it could pay: providers accepted its counters, its payment never
    # came, and they took their collateral back (collateral_missing); its record then shut it out.
    unfunded = deals[(deals["client"] == "overbooking-0") & (deals["reason"] == "COLLATERAL_MISSING")]
    assert summary["collateral_missing"] == len(unfunded) > 0
    assert (unfunded["outcome"] == "UNFUNDED").all()
    # Every adversary ends below the honest strategies of its role.
    assert {row["strategy"] for row in summary["incentives"]} >= {"overbooking", "false-dispute", "never-deliver"}
    above = [(row["strategy"], row["pnl_usd"], row["honest_pnl_usd"]) for row in summary["incentives"]
             if not row["below_honest"]]
    assert not above


def test_the_same_seed_gives_the_same_deals_table_from_fresh_processes(tmp_path):
    """Two `ape run simulate` commands, each with its own fresh anvil (as on the first run after an install): the
    chain's clock starts at a fixed time whatever compiling and deploying took, so the deals table is the same,
    byte for byte."""
    ape = Path(sys.executable).with_name("ape")
    tables = []
    for _ in range(2):
        result = subprocess.run([str(ape), "run", "simulate", "--scenario", str(TINY), "--out", str(tmp_path),
                                 "-v", "WARNING"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                                env=os.environ)
        assert result.returncode == 0, result.stderr[-2000:]
        tables.append((tmp_path / "tiny-seed5" / "deals.csv").read_bytes())
    assert tables[0] == tables[1] and len(tables[0]) > 200


def test_a_run_collects_garbage_rarely_and_gives_the_process_its_setting_back():
    import gc

    from agents.simulation.model import RUN_GC_THRESHOLD, rare_collections

    before = gc.get_threshold()
    with rare_collections():
        assert gc.get_threshold() == (RUN_GC_THRESHOLD, *before[1:])
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), rare_collections():
        raise RuntimeError("a run that fails")
    assert gc.get_threshold() == before
