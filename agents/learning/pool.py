"""Seat runs as Ray tasks, for training and evaluation: a local Ray on this machine's cores by default (as `ape
run sweep` starts one), or the cluster at `address`. Each task is one run of the market with a strategy in the
seat (agents.learning.seat), in a folder of its own; a learned policy travels as its vector and is written to
the worker's own file, so tasks need no shared disk."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from agents.learning.seat import full_run, lean_run, learned_strategy, with_seat
from agents.simulation.scenario import Scenario


@dataclass(frozen=True)
class SeatRun:
    """One run: `strategy(**params)` in the seat of `scenario` at `seed` on `backend`. A learned seat gives its
    policy as `policy_vector` (LinearPolicy.to_vector()). Lean runs (training) measure the seat only; full runs
    also measure the market and keep their report under `keep_dir`."""

    seed: int
    strategy: str
    params: dict = field(default_factory=dict)
    policy_vector: tuple[float, ...] | None = None
    backend: str = "memory"
    lean: bool = True
    keep_dir: str | None = None
    role: str = "provider"  # the seat's role: "provider" or "client"


def run_seat(scenario: Scenario, groups: tuple[str, ...], run: SeatRun) -> dict[str, float]:
    """The seat's figures (and the market's, for a full run). Runs inside a Ray worker."""
    from agents.chain.abi import REPO_ROOT

    # A Ray worker starts wherever its node's Ray did; the project's ABIs and relative paths are found from here.
    os.chdir(REPO_ROOT)
    with tempfile.TemporaryDirectory(prefix="seat-run-") as scratch:
        params = dict(run.params)
        if run.strategy == learned_strategy(run.role):
            from agents.learning.policy import policy_class

            policy = policy_class(run.role).from_vector(run.policy_vector)
            params = {**params, "policy": str(policy.save(Path(scratch) / "policy.json"))}
        filled = with_seat(scenario, run.strategy, params, run.seed, run.role)
        out_dir = Path(run.keep_dir) if run.keep_dir else Path(scratch) / "run"
        out_dir.mkdir(parents=True, exist_ok=True)
        if run.lean:
            return lean_run(filled, groups, out_dir, run.role)
        return full_run(filled, groups, run.backend, out_dir, run.role)


def run_all(scenario: Scenario, groups: tuple[str, ...], runs: list[SeatRun], *, at_once: int,
            on_done=None) -> list[dict[str, float]]:
    """Every run's figures, in the order of `runs`; at most `at_once` in flight; `on_done(run)` after each one
    (a progress bar). A run that fails stops everything with its error: a broken run must not pass as a score."""
    import ray

    task = ray.remote(run_seat).options(num_cpus=1, max_retries=0)
    shared_scenario = ray.put(scenario)
    results: list[dict | None] = [None] * len(runs)
    queue = list(enumerate(runs))
    running: dict = {}
    try:
        while queue or running:
            while queue and len(running) < at_once:
                index, run = queue.pop(0)
                running[task.remote(shared_scenario, groups, run)] = index
            ready, _ = ray.wait(list(running), num_returns=1)
            index = running.pop(ready[0])
            results[index] = ray.get(ready[0])
            if on_done:
                on_done(runs[index])
    finally:
        for ref in running:
            ray.cancel(ref, force=True)
    return results
