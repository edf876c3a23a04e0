"""`ape run agent` as a real process, for the tests that start live agents: how to start one, stop it as a
person would (SIGTERM) or kill it as a crash would (SIGKILL, with the jobs it started), and wait on a
condition (a deadline only bounds how long a failing test hangs: it never decides what a test asserts)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def start_agent(role: str, test_account: int, rpc: str, deployment_file: Path, store: Path, log: Path,
                *options: str) -> subprocess.Popen:
    """`ape run agent --role ROLE --test-account N ...`, its output appended to `log`, in a session of its own."""
    ape = Path(sys.executable).with_name("ape")
    return subprocess.Popen(
        [str(ape), "run", "agent", "--role", role, "--test-account", str(test_account), "--rpc", rpc,
         "--deployment", str(deployment_file), "--store", str(store), *options],
        cwd=ROOT, stdout=log.open("a"), stderr=subprocess.STDOUT, env=os.environ, start_new_session=True,
    )


def stop_agent(process: subprocess.Popen, timeout: float = 60) -> int:
    """SIGTERM, as a person stopping it would; its exit code once it has shut down."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


def kill_agent(process: subprocess.Popen) -> None:
    """SIGKILL the agent and every process it started (its jobs run in sessions of their own), as a
    machine that dies would lose them all."""
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for child in descendants:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait()
    psutil.wait_procs(descendants, timeout=10)


def wait_for(probe, timeout: float, what: str, interval: float = 0.1):
    """Poll `probe()` until it returns something truthy, which is returned; TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(interval)
    raise TimeoutError(f"not reached in {timeout:g} s: {what}")
