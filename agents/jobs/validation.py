"""What a validator agent does with a completed job: run it again and compare result hashes.

Only deterministic jobs can be validated this way: every catalogue workload is; a command is only if its
author made it so (same argv, same output, whatever the machine, time or randomness).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from agents.jobs.hashing import as_hash
from agents.jobs.runner import JobResult, run_job
from agents.jobs.spec import JobSpec


@dataclass(frozen=True)
class ValidationVerdict:
    """`match`: the re-run produced the claimed hash. `conclusive`: the re-run succeeded, so a mismatch
    shows the claim is wrong; an inconclusive verdict (the re-run failed or hit a limit on this machine)
    proves nothing about the provider, and an agent should not reject on it alone."""

    match: bool
    conclusive: bool
    claimed_hash: bytes
    recomputed_hash: bytes | None
    rerun: JobResult
    reason: str


def revalidate(spec: JobSpec, claimed_hash: bytes | str, workdir: str | os.PathLike, run=run_job) -> ValidationVerdict:
    """Re-run `spec` in `workdir` (with `run`, `run_job` or a `JobCache`'s) and compare the result's keccak256 with
    the provider's `claimed_hash`."""
    claimed = as_hash(claimed_hash)
    rerun = run(spec, workdir)
    if not rerun.succeeded:
        return ValidationVerdict(
            match=False,
            conclusive=False,
            claimed_hash=claimed,
            recomputed_hash=None,
            rerun=rerun,
            reason=f"re-run {rerun.status.value}: {rerun.reason}",
        )
    match = rerun.result_hash == claimed
    return ValidationVerdict(
        match=match,
        conclusive=True,
        claimed_hash=claimed,
        recomputed_hash=rerun.result_hash,
        rerun=rerun,
        reason="re-run reproduced the claimed hash"
        if match
        else f"re-run hashed to 0x{rerun.result_hash.hex()}, provider claimed 0x{claimed.hex()}",
    )
