"""Each distinct job run once: a cache of verified results keyed by spec hash.

A job the market can validate is deterministic (validators re-run it and compare hashes), so its result depends on
its spec alone. The memory backend's simulations run thousands of deals over a handful of specs: `JobCache.run`
runs a spec the first time it is asked for and hands every later caller that run's result (its file, its hash), as
long as the run succeeded and its result hashes as recorded. A failed run is not kept: the next caller runs it
again. The chain backend runs every job for real.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from agents.jobs.hashing import keccak_file
from agents.jobs.runner import JobResult, run_job
from agents.jobs.spec import JobSpec


class JobCache:
    def __init__(self):
        self._results: dict[bytes, JobResult] = {}
        self._locks: dict[bytes, threading.Lock] = {}
        self._guard = threading.Lock()
        self.runs = 0  # jobs actually run
        self.reused = 0  # results handed out again

    def run(self, spec: JobSpec, workdir: str | os.PathLike) -> JobResult:
        """`run_job(spec, workdir)`, once per spec: callers of the same spec wait for the first run."""
        key = spec.spec_hash
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._results.get(key)
            if cached is not None and _still_valid(cached):
                self.reused += 1
                return cached
            result = run_job(spec, workdir)
            self.runs += 1
            if result.succeeded:
                self._results[key] = result
            return result


def _still_valid(result: JobResult) -> bool:
    """The kept result file is still there and still hashes as it did: nothing changed it since."""
    path = Path(result.result_path)
    return path.is_file() and keccak_file(path) == result.result_hash
