"""Ray for a block of work: the one place this project starts (or joins) Ray, for sweeps and for training and
evaluation runs."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def ray_session(workers: int | None = None, address: str | None = None) -> Iterator[int]:
    """Ray for the block (the running session if there is one, the cluster at `address`, or a local Ray on
    `workers` CPUs, all of this machine's by default); yields how many tasks go at once. A Ray started here is
    shut down at the end of the block."""
    import ray

    # No GPUs are used; this keeps Ray from warning about a change of its defaults on every start.
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    started_here = not ray.is_initialized()
    if started_here:
        options = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=workers or os.cpu_count(), **options)
    try:
        yield workers or int(ray.cluster_resources().get("CPU", 1))
    finally:
        if started_here:
            ray.shutdown()
