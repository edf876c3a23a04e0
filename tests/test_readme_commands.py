"""The README's commands work as written from a plain shell in the checkout: no Makefile PATH, only the system's
own folders. A tiny scenario stands in for the long runs; the other commands answer --help."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agents.chain.anvil import Anvil

CHECKOUT = Path(__file__).resolve().parent.parent
APE = CHECKOUT / ".venv" / "bin" / "ape"


def _plain_shell_env() -> dict:
    """What a new shell has: HOME and the system folders, none of the project's tools."""
    path = os.pathsep.join(p for p in ("/usr/local/bin", "/usr/bin", "/bin") if os.path.isdir(p))
    return {"HOME": os.environ.get("HOME", str(CHECKOUT)), "PATH": path, "LANG": "C.UTF-8", "COLUMNS": "80"}


def _run(*args, timeout=300):
    ape = APE if APE.exists() else Path(sys.executable).with_name("ape")
    return subprocess.run([str(ape), *args], cwd=CHECKOUT, env=_plain_shell_env(), capture_output=True, text=True,
                          timeout=timeout)


def test_simulate_runs_from_a_plain_shell(tmp_path):
    result = _run("run", "simulate", "--scenario", "tests/data/tiny.yaml", "--out", str(tmp_path), "-v", "WARNING")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert (tmp_path / "tiny-seed5" / "summary.json").exists()
    deployment = json.loads((tmp_path / "tiny-seed5" / "deployment.json").read_text())
    assert {"market", "eas", "registry", "token", "court", "chain_id", "block"} <= set(deployment)
    assert deployment["eas"] in result.stdout
    # At 80 columns the summary tables cut no name (rich marks a cut with an ellipsis).
    assert "…" not in result.stdout and "cost-plus" in result.stdout and "validator-0" in result.stdout


def test_simulate_on_the_memory_backend_needs_no_node(tmp_path):
    """A plain shell has no anvil on its PATH: the memory backend must neither start one nor connect to one."""
    result = _run("run", "simulate", "--backend", "memory", "--scenario", "tests/data/tiny.yaml", "--out",
                  str(tmp_path), "-v", "WARNING")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads((tmp_path / "tiny-seed5" / "summary.json").read_text())
    assert summary["backend"] == "memory" and summary["deals_settled"] > 0 and summary["funds_conserved"] is True
    assert "gas figures: gas table (gas-snapshot.json)" in result.stdout
    refused = _run("run", "simulate", "--backend", "abacus", timeout=120)
    assert refused.returncode == 2 and "abacus" in refused.stderr


@pytest.mark.parametrize("command", ["agent", "fund", "deploy", "incentives", "gas", "simulate", "bench_engine", "sweep",
                                     "train", "evaluate"])
def test_every_ape_run_command_answers_help(command):
    result = _run("run", command, "--help", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage" in result.stdout


@pytest.fixture
def own_anvil():
    node = Anvil()
    yield node
    node.stop()


def test_simulate_against_your_own_node(own_anvil, tmp_path):
    """The form the README documents runs on an anvil the user started; the natural URL form, which would pick
    Ape's geth provider and fail mid-run, is refused first with one line naming the form that works."""
    refused = _run("run", "simulate", "--scenario", "tests/data/tiny.yaml", "--out", str(tmp_path),
                   "--network", f"ethereum:local:{own_anvil.url}", timeout=120)
    assert refused.returncode == 2
    assert "--network ethereum:local:foundry --provider-settings" in refused.stderr
    assert "Traceback" not in refused.stderr and own_anvil.rpc("eth_blockNumber") == "0x0"  # nothing was deployed
    works = _run("run", "simulate", "--scenario", "tests/data/tiny.yaml", "--out", str(tmp_path), "-v", "WARNING",
                 "--network", "ethereum:local:foundry", "--provider-settings", json.dumps({"host": own_anvil.url}))
    assert works.returncode == 0, works.stderr[-2000:]
    assert int(own_anvil.rpc("eth_blockNumber"), 16) > 0  # the run used the user's node
    # Then an agent of one's own is funded on that market, as the README's `ape run fund` row writes it.
    funded = _run("run", "fund", "--test-account", "9", "--tokens", "3", "--rpc", own_anvil.url, "--deployment",
                  str(tmp_path / "tiny-seed5" / "deployment.json"))
    assert funded.returncode == 0, funded.stdout[-2000:] + funded.stderr[-2000:]
    assert funded.stdout.strip().endswith("available: 3 tUSD")


def test_a_bad_scenario_is_one_line_and_exit_2(tmp_path):
    """A typo in a strategy's parameters is refused before anything is deployed: one line naming the field."""
    scenario = (CHECKOUT / "tests" / "data" / "tiny.yaml").read_text().replace("{budget: 1.0}", "{budgett: 1.0}")
    assert "budgett" in scenario
    path = tmp_path / "typo.yaml"
    path.write_text(scenario)
    result = _run("run", "simulate", "--scenario", str(path), "--out", str(tmp_path), timeout=120)
    assert result.returncode == 2
    assert "budget has no parameter 'budgett'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "tiny-seed5").exists()
