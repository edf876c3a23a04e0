"""Run a job in a real subprocess under its limits and report what happened.

- Catalogue workloads run as `python -m agents.jobs.worker <spec.json> <result>`; the result is the
  worker's output file.
- Commands run their argv with the workdir as current directory; the result is the command's stdout,
  or the file `spec.output_file` (relative to the workdir) when the spec names one.

Limits: the wall-clock limit is watched here and the whole process group is killed when it passes;
memory (RLIMIT_AS, address space) and CPU seconds (RLIMIT_CPU) are set in the child before exec and
apply to each process of the job. Usage (CPU time, peak RSS) comes from `wait4` on the job's own process,
so concurrent jobs in one agent do not mix their accounts.

Commands get a minimal environment (PATH, HOME and TMPDIR set to the workdir), never the agent's own,
which may hold keys. There is no other isolation: no container, no network or filesystem sandbox.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import agents
from agents.jobs.hashing import keccak_file
from agents.jobs.spec import JobSpec

SPEC_FILE = "job-spec.json"
WORKLOAD_RESULT_FILE = "job-result"
STDOUT_FILE = "job-stdout"
STDERR_FILE = "job-stderr"
TAIL_BYTES = 4096

# What processes print when an allocation is refused (Python, strerror(ENOMEM), dlopen, C++, runtimes);
# matched case-insensitively in the stderr tail.
MEMORY_ERROR_MARKERS = (
    "memoryerror",
    "cannot allocate memory",
    "failed to map segment",
    "std::bad_alloc",
    "out of memory",
)

# The worker's exit status for MemoryError (agents.jobs.worker.EXIT_OUT_OF_MEMORY; not imported from there
# because `python -m agents.jobs.worker` must not find the module already imported by the package).
WORKER_EXIT_OUT_OF_MEMORY = 3

_PACKAGE_ROOT = str(Path(agents.__file__).resolve().parent.parent)


class JobStatus(str, Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"  # the wall-clock or the CPU limit was reached
    MEMORY_EXCEEDED = "memory_exceeded"


@dataclass(frozen=True)
class JobResult:
    """The outcome of one run. `result_path` and `result_hash` are set only when the job succeeded."""

    status: JobStatus
    result_path: Path | None
    result_hash: bytes | None  # keccak256 of the result bytes: the attestation's `resultHash`
    exit_code: int | None  # negative: killed by that signal; None: never started
    wall_seconds: float
    cpu_seconds: float  # user + system time of the job's process and the children it waited for
    peak_rss_bytes: int
    stdout_tail: str
    stderr_tail: str
    reason: str  # one line saying why the status is what it is

    @property
    def succeeded(self) -> bool:
        return self.status is JobStatus.SUCCEEDED


def run_job(spec: JobSpec, workdir: str | os.PathLike) -> JobResult:
    """Run `spec` in `workdir` (created if needed) and wait for it to end or reach a limit."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = workdir / STDOUT_FILE, workdir / STDERR_FILE

    if spec.workload is not None:
        spec_path, result_path = workdir / SPEC_FILE, workdir / WORKLOAD_RESULT_FILE
        spec_path.write_bytes(spec.canonical_json())
        # -P: the workdir (current directory) must not shadow the agents package
        argv = [sys.executable, "-P", "-m", "agents.jobs.worker", str(spec_path), str(result_path)]
        env = _workload_environment(workdir)
    else:
        result_path = workdir / spec.output_file if spec.output_file is not None else stdout_path
        argv = list(spec.command)
        env = _command_environment(workdir)
    # A result left by an earlier run in this workdir must never be taken for this run's.
    for stale in {result_path, stdout_path, stderr_path}:
        stale.unlink(missing_ok=True)

    started = time.monotonic()
    try:
        with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
            process = subprocess.Popen(
                argv,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,  # its own process group, so a timeout kills its children too
                preexec_fn=_resource_limiter(spec.limits.memory_bytes, spec.limits.cpu_seconds),
            )
    except OSError as error:
        return JobResult(
            status=JobStatus.FAILED,
            result_path=None,
            result_hash=None,
            exit_code=None,
            wall_seconds=time.monotonic() - started,
            cpu_seconds=0.0,
            peak_rss_bytes=0,
            stdout_tail="",
            stderr_tail="",
            reason=f"cannot start {argv[0]!r}: {error.strerror or error}",
        )

    timed_out, exit_status, usage, wall_seconds = _wait(process, spec.limits.wall_seconds, started)
    exit_code = os.waitstatus_to_exitcode(exit_status)
    cpu_seconds = usage.ru_utime + usage.ru_stime
    peak_rss_bytes = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)  # Linux reports KiB
    stdout_tail, stderr_tail = _tail(stdout_path), _tail(stderr_path)

    status, reason = _classify(spec, timed_out, exit_code, cpu_seconds, stderr_tail)
    if status is JobStatus.SUCCEEDED and not result_path.is_file():
        status, reason = JobStatus.FAILED, f"exited 0 but wrote no result file {result_path.name!r}"
    succeeded = status is JobStatus.SUCCEEDED
    return JobResult(
        status=status,
        result_path=result_path if succeeded else None,
        result_hash=keccak_file(result_path) if succeeded else None,
        exit_code=exit_code,
        wall_seconds=wall_seconds,
        cpu_seconds=cpu_seconds,
        peak_rss_bytes=peak_rss_bytes,
        stdout_tail=stdout_tail,
        stderr_tail=stderr_tail,
        reason=reason,
    )


def _wait(process: subprocess.Popen, wall_seconds: float, started: float):
    """Wait for the job's exit or its wall-clock deadline; kill its process group; reap it with its usage.

    The exit is observed with WNOWAIT so the leader stays a zombie until the group has been killed: its
    pid (the group id) cannot be reused meanwhile, so the kill never hits an unrelated process.
    """
    deadline = started + wall_seconds
    poll_seconds = 0.001
    timed_out = False
    try:
        while os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            time.sleep(min(poll_seconds, remaining))
            poll_seconds = min(poll_seconds * 2, 0.02)  # quick jobs return fast, long ones poll cheaply
    finally:
        # Also on success: background processes a command left behind end with it.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, exit_status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(exit_status)  # reaped here, so Popen must not
    return timed_out, exit_status, usage, time.monotonic() - started


def _classify(
    spec: JobSpec, timed_out: bool, exit_code: int, cpu_seconds: float, stderr_tail: str
) -> tuple[JobStatus, str]:
    limits = spec.limits
    if timed_out:
        return JobStatus.TIMED_OUT, f"wall-clock limit of {limits.wall_seconds:g} s reached; process group killed"
    # The kernel sends SIGXCPU at the soft CPU limit and SIGKILL at the hard one (a second later). A SIGKILL
    # we did not send is the hard limit if the job used about its CPU allowance: rusage can report up to a
    # quarter less CPU time than the kernel's limit accounting (seen on a Firecracker VM).
    hit_hard_cpu_limit = exit_code == -signal.SIGKILL and cpu_seconds >= limits.cpu_seconds * 0.5
    if exit_code == -signal.SIGXCPU or hit_hard_cpu_limit:
        return JobStatus.TIMED_OUT, f"CPU limit of {limits.cpu_seconds} s reached ({_describe_exit(exit_code)})"
    if exit_code == 0:
        return JobStatus.SUCCEEDED, "exited 0"
    if (spec.workload is not None and exit_code == WORKER_EXIT_OUT_OF_MEMORY) or any(
        marker in stderr_tail.lower() for marker in MEMORY_ERROR_MARKERS
    ):
        return (
            JobStatus.MEMORY_EXCEEDED,
            f"memory limit of {limits.memory_bytes} bytes reached ({_describe_exit(exit_code)})",
        )
    return JobStatus.FAILED, _describe_exit(exit_code)


def _describe_exit(exit_code: int) -> str:
    if exit_code < 0:
        return f"killed by {signal.Signals(-exit_code).name}"
    return f"exit status {exit_code}"


def _resource_limiter(memory_bytes: int, cpu_seconds: int):
    """The preexec_fn setting the job's rlimits; it only calls setrlimit (it runs between fork and exec)."""
    memory = _clamp_to_hard_limit(resource.RLIMIT_AS, memory_bytes)
    cpu_soft = _clamp_to_hard_limit(resource.RLIMIT_CPU, cpu_seconds)
    cpu_hard = _clamp_to_hard_limit(resource.RLIMIT_CPU, cpu_seconds + 1)  # SIGKILL if SIGXCPU is ignored

    def set_limits():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_soft, cpu_hard))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU would otherwise dump core

    return set_limits


def _clamp_to_hard_limit(which: int, value: int) -> int:
    # An unprivileged process cannot raise a hard limit; asking would fail the job at start.
    hard = resource.getrlimit(which)[1]
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


def _workload_environment(workdir: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "PYTHONPATH": _PACKAGE_ROOT,
        "PYTHONHASHSEED": "0",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        # One BLAS thread: each extra thread reserves address space against RLIMIT_AS and burns the CPU
        # limit in parallel; results do not depend on it (the catalogue is exact).
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _command_environment(workdir: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
    }


def _tail(path: Path) -> str:
    with open(path, "rb") as file:
        file.seek(0, os.SEEK_END)
        file.seek(max(0, file.tell() - TAIL_BYTES))
        return file.read().decode("utf-8", errors="replace")
