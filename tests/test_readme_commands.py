"""The README's commands work as written from a plain shell in the checkout: no Makefile PATH, only the system's
own folders. A tiny scenario stands in for the long runs; the other commands answer --help."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("command", ["agent", "deploy", "incentives", "gas", "simulate"])
def test_every_ape_run_command_answers_help(command):
    result = _run("run", command, "--help", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage" in result.stdout
