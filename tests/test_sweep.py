"""Sweeps (`ape run sweep`): overrides by dotted path, bad input refused in one line before anything runs, cell
keys, the t interval, and a two-cell chain-backed sweep of the tiny scenario on a local Ray (one Ray session for
the module): a table row per run with its metrics, a report with its plot, a rerun that runs nothing, a cell
that fails (the documented test hook) recorded with its error while the others finish, and retried on the
next run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from agents.sweeps.cell import FAIL_SEED_ENV
from agents.sweeps.report import confidence_interval
from agents.sweeps.spec import SweepError, apply_override, load_sweep

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "data" / "tiny.yaml"
MARGIN = "providers.cheap.params.margin"


def sweep_file(folder: Path, name: str = "tiny-sweep", **fields) -> Path:
    data = {"scenario": str(TINY), "seeds": [5], "grid": {MARGIN: [0.1, 0.3]},
            "plot": {"metric": "cost-plus.mean_sortino"}, **fields}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# --- the sweep file -------------------------------------------------------------------------------


def test_overrides_by_index_by_name_and_into_missing_sections():
    data = {"providers": [{"name": "cheap", "params": {"margin": 0.1}}, {"name": "learner"}], "steps": 6}
    assert apply_override(data, "providers.0.params.margin", 0.5)["providers"][0]["params"]["margin"] == 0.5
    assert apply_override(data, "providers.learner.params.margin", 0.2)["providers"][1]["params"] == {"margin": 0.2}
    assert apply_override(data, "demand.daily_amplitude", 0.3)["demand"] == {"daily_amplitude": 0.3}
    assert apply_override(data, "steps", 3)["steps"] == 3
    assert data["providers"][0]["params"]["margin"] == 0.1 and "demand" not in data  # the original is untouched


def test_cells_carry_their_overrides_into_the_parsed_scenario(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, seeds=[5, 6], overrides={"steps": 3}, backends=["chain"]))
    assert [(c.params[MARGIN], c.seed) for c in sweep.cells] == [(0.1, 5), (0.1, 6), (0.3, 5), (0.3, 6)]
    for cell in sweep.cells:
        assert cell.scenario.seed == cell.seed and cell.scenario.steps == 3
        assert cell.scenario.providers[0].params["margin"] == cell.params[MARGIN]
    assert len({c.key for c in sweep.cells}) == 4


@pytest.mark.parametrize("fields, named", [
    ({"grid": {"providers.7.params.margin": [0.1]}}, "override providers.7.params.margin: providers has no entry '7'"),
    ({"grid": {MARGIN: [0.1, -1]}}, f"override {MARGIN} = -1: "),
    ({"overrides": {"stepz": 3}}, "unknown field 'stepz'"),
    ({"grid": {"steps.fast": [1]}}, "override steps.fast: steps is 6, not a mapping or a list"),
    ({"backends": ["gpu"]}, "unknown backend 'gpu'; backends: chain, memory"),
    ({"plot": {"metric": "allocative_eficiency"}}, "did you mean 'allocative_efficiency'?"),
    ({"plot": {"metric": "greedy.mean_sortino"}}, "no strategy 'greedy' in this scenario"),
    ({"seeds": [5, 5]}, "repeats a seed"),
    ({"grid": {"seed": [1, 2]}}, "seeds are swept by `seeds:`"),
    ({"seedz": [1]}, "unknown field 'seedz' (did you mean 'seeds'?)"),
])
def test_bad_sweep_files_are_one_line_naming_the_field(tmp_path, fields, named):
    with pytest.raises(SweepError) as refused:
        load_sweep(sweep_file(tmp_path, **fields))
    message = str(refused.value)
    assert named in message and "\n" not in message, message


def test_bad_override_at_the_command_line(tmp_path):
    """Exit code 2 and one line naming the path, before Ray or any anvil starts."""
    ape = Path(sys.executable).with_name("ape")
    path = sweep_file(tmp_path, grid={MARGIN: [0.1, -1]})
    result = subprocess.run([str(ape), "run", "sweep", str(path), "--out", str(tmp_path / "out")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith(f"Error: override {MARGIN} = -1: "), result.stderr
    assert "must not be negative" in lines[0]
    assert not (tmp_path / "out").exists()


def test_cell_keys_follow_the_scenario_content_and_every_parameter(tmp_path):
    keys = [c.key for c in load_sweep(sweep_file(tmp_path)).cells]
    assert keys == [c.key for c in load_sweep(sweep_file(tmp_path)).cells]  # stable
    assert keys[0] not in {c.key for c in load_sweep(sweep_file(tmp_path, seeds=[6])).cells}
    assert keys[0] not in {c.key for c in load_sweep(sweep_file(tmp_path, overrides={"steps": 5})).cells}
    edited = tmp_path / "tiny.yaml"
    edited.write_text(TINY.read_text().replace("steps: 6", "steps: 7"))
    assert not set(keys) & {c.key for c in load_sweep(sweep_file(tmp_path, scenario=str(edited))).cells}


def test_confidence_interval_is_students_t():
    n, mean, low, high = confidence_interval([1.0, 2.0, 3.0, float("nan")])
    # t(0.975, 2 degrees of freedom) = 4.3027; sample deviation 1
    assert (n, mean) == (3, 2.0) and high - mean == pytest.approx(4.3027 / 3**0.5, rel=1e-4)
    assert mean - low == pytest.approx(high - mean)
    assert confidence_interval([4.0])[:2] == (1, 4.0)
    assert confidence_interval([])[0] == 0


def test_an_interrupted_cells_anvil_is_ended_and_nothing_else(tmp_path):
    """What the driver does for the cells in flight when a sweep is interrupted: their workers die without
    stopping their anvils, which would outlive the sweep."""
    from agents.sweeps.backends import ANVIL_GROUP_FILE, end_orphaned_anvil
    from agents.chain.anvil import Anvil

    node = Anvil()
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (tmp_path / ANVIL_GROUP_FILE).write_text(str(other.pid))
        assert not end_orphaned_anvil(tmp_path) and other.poll() is None  # not an anvil: left alone
        (tmp_path / ANVIL_GROUP_FILE).write_text(str(node.process.pid))
        assert end_orphaned_anvil(tmp_path)
        node.process.wait(timeout=10)
        assert not (tmp_path / ANVIL_GROUP_FILE).exists() and not end_orphaned_anvil(tmp_path)
    finally:
        other.kill()
        node.stop()


# --- on Ray -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_ray():
    """One Ray session for the module: its start costs seconds. The sweeps below join it."""
    import ray

    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # no GPUs: silences a warning of Ray's
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def test_chain_sweep_resumes_and_records_a_failing_cell(local_ray, tmp_path, monkeypatch):
    from agents.sweeps.runner import run_sweep

    out = tmp_path / "out"
    two = load_sweep(sweep_file(tmp_path))
    first = run_sweep(two, out)
    assert (first.ran, first.skipped, first.failed) == (2, 0, 0)
    table = pd.read_parquet(out / "results.parquet")
    assert list(table[MARGIN]) == [0.1, 0.3] and table["error"].isna().all()
    assert (table["deals_settled"] > 0).all() and (table["funds_conserved"] == 1).all()
    assert table["cost-plus.mean_sortino"].notna().all() and (table["deals_open"] == 0).all()
    for run_dir in table["run_dir"]:
        assert (out / "cells" / run_dir / "report.html").exists()
    report = (out / "sweep.html").read_text()
    assert "data:image/png;base64," in report and "cost-plus.mean_sortino" in report
    assert (out / "cost-plus.mean_sortino.png").stat().st_size > 10_000

    again = run_sweep(two, out)  # nothing new to run
    assert (again.ran, again.skipped) == (0, 2)
    assert list(pd.read_parquet(out / "results.parquet")["finished_at"]) == list(table["finished_at"])

    # A second seed whose cells fail on purpose mid-run; the finished cells of seed 5 are not run again.
    monkeypatch.setenv(FAIL_SEED_ENV, "6")
    four = load_sweep(sweep_file(tmp_path, seeds=[5, 6]))
    third = run_sweep(four, out)
    assert (third.ran, third.skipped, third.failed) == (2, 2, 2)
    table = pd.read_parquet(out / "results.parquet")
    assert list(zip(table["seed"], table[MARGIN])) == [(5, 0.1), (6, 0.1), (5, 0.3), (6, 0.3)]
    failed = table[table["seed"] == 6]
    assert failed["error"].str.startswith("DeliberateFailure: seed 6 fails on purpose").all()
    assert failed["deals_settled"].isna().all()
    assert table[table["seed"] == 5]["error"].isna().all()
    assert "Failed cells" in (out / "sweep.html").read_text()
    for run_dir in failed["run_dir"]:
        assert "DeliberateFailure" in (out / "cells" / run_dir / "error.txt").read_text()

    retried = run_sweep(four, out)  # failed cells are retried, finished ones are not
    assert (retried.ran, retried.skipped, retried.failed) == (2, 2, 2)


def test_a_memory_sweep_runs_without_a_node_and_agrees_with_the_chain(local_ray, tmp_path):
    """The same cells on both backends: the memory ones start no anvil, and their deal outcomes are the chain's."""
    from agents.sweeps.runner import run_sweep

    out = tmp_path / "both"
    sweep = load_sweep(sweep_file(tmp_path, name="both", backends=["chain", "memory"], grid={MARGIN: [0.2]}))
    done = run_sweep(sweep, out)
    assert (done.ran, done.failed) == (2, 0)
    table = pd.read_parquet(out / "results.parquet").set_index("backend")
    assert set(table.index) == {"chain", "memory"} and table["error"].isna().all()
    for column in ("deals_requested", "deals_settled", "deals_failed", "counter_offers", "funds_conserved"):
        assert table.at["chain", column] == table.at["memory", column], column
    again = run_sweep(sweep, out)  # resumed: nothing new
    assert (again.ran, again.skipped) == (0, 2)
