"""Where a sweep's cell runs: `run_on_backend` is the one dispatch from a backend's name to the function that runs
a scenario on it and returns the run's summary (summary.json's content).

`chain`: a fresh anvil of the cell's own (on a port it picks), the system deployed on it without Ape's network
context (agents.deploy.execute, signed with anvil's first test key, which is also the market's court, as in
`ape run simulate`), then the usual run (agents.simulation.run), which writes its report into the cell's folder.
`memory`: the market's rules in this process (agents/memory/ behind the runtime's seam): no anvil, the addresses a
fresh anvil deployment gets, gas from the gas table; the same agents and report.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Callable

import psutil

from agents.simulation.run import CLOCK_START  # a cell's chain is the one `simulate --seed N` builds
from agents.simulation.scenario import Scenario

# anvil's first default account ("test test ... junk"): funds the market's agents and acts as its court.
ANVIL_FIRST_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
# anvil as Ape's foundry provider starts it for this project (ape-config.yaml): no base fee, no gas price, the
# contracts' EVM version; and a block's transactions in the order the model submits them (first in, first out, as
# the memory backend applies them: anvil's default orders by tip, and equal tips in an order of its own), so that a
# chain cell and a memory cell of the same scenario and seed give the same deals, message for message.
ANVIL_ARGS = ("--block-base-fee-per-gas", "0", "--gas-price", "0", "--hardfork", "cancun", "--order", "fifo")

ANVIL_GROUP_FILE = "anvil.pgid"  # in the cell's folder while its anvil runs

Progress = Callable[[int, int], None]


class BackendUnavailable(ValueError):
    """A backend the sweep cannot run on (unknown, or not yet available)."""


def check_backend(name: str) -> None:
    """BackendUnavailable (one line) unless cells can run on `name`."""
    if name not in BACKENDS:
        raise BackendUnavailable(f"unknown backend {name!r}; backends: {', '.join(BACKENDS)}")


def run_on_backend(backend: str, scenario: Scenario, out_dir: Path, progress: Progress | None = None) -> dict:
    """Run `scenario` on `backend`, writing its report under `out_dir`; returns the run's summary."""
    check_backend(backend)
    return BACKENDS[backend](scenario, out_dir, progress)


def run_on_chain(scenario: Scenario, out_dir: Path, progress: Progress | None = None) -> dict:
    from agents.chain.anvil import Anvil
    from agents.chain.sync import SyncClient
    from agents.deploy.addresses import Deployment
    from agents.simulation.run import run_blocking

    anvil = Anvil(*ANVIL_ARGS)
    # The anvil's process group, for the sweep's driver to end if this worker is killed mid-run (an interrupted
    # sweep): a killed worker runs no `finally`, and anvil lives in a session of its own.
    marker = out_dir / ANVIL_GROUP_FILE
    marker.write_text(str(anvil.process.pid))
    try:
        node = SyncClient.connect(anvil.url, poll_interval=0.02)
        anvil.rpc("evm_setNextBlockTimestamp", [CLOCK_START])
        anvil.rpc("anvil_setBlockTimestampInterval", [1])
        deployment = Deployment.from_json(_deploy(node, out_dir / "deployment-record.json"))
        anvil.rpc("anvil_removeBlockTimestampInterval", [])
        result = run_blocking(scenario, node_url=anvil.url, deployment=deployment, funder_key=ANVIL_FIRST_KEY,
                              out_dir=out_dir, progress=progress)
        return result.summary
    finally:
        anvil.stop()
        marker.unlink(missing_ok=True)


def run_in_memory(scenario: Scenario, out_dir: Path, progress: Progress | None = None) -> dict:
    from agents.simulation.run import run_blocking

    return run_blocking(scenario, funder_key=ANVIL_FIRST_KEY, out_dir=out_dir, progress=progress,
                        backend="memory").summary


def _deploy(node, record_path: Path) -> str:
    """EAS, the market (court: the funder) and a test token on a fresh chain; the `Deployment` as JSON."""
    import json

    from agents.chain.transactions import Signer
    from agents.deploy.execute import DeploySigner, execute
    from agents.deploy.record import Record

    signer = Signer(bytes.fromhex(ANVIL_FIRST_KEY[2:]))
    chain_id = node.chain_id()

    def sign(nonce: int, initcode: bytes) -> tuple[str, str]:
        gas = node.estimate_gas(signer.address, initcode)
        # A contract creation: `to` is empty. No base fee on this anvil, so no fee is needed.
        return signer.sign_eip1559(chain_id=chain_id, nonce=nonce, max_priority_fee=0, max_fee=0, gas=gas, to="0x",
                                   value=0, data=initcode)

    record = Record.load(record_path, chain_id, "sweep")
    execute(node, record, DeploySigner(signer.address, sign), with_test_token=True, log=lambda line: None)
    return json.dumps(record.data["deployment"])


def end_orphaned_anvil(cell_dir: Path) -> bool:
    """End the anvil a killed cell left running in `cell_dir` (on this machine), if any; whether one was ended.
    Only a process group whose members are all anvil (the npm wrapper and the binary) is signalled."""
    marker = cell_dir / ANVIL_GROUP_FILE
    if not marker.exists():
        return False
    group = int(marker.read_text())
    # A member that already exited (a zombie: the wrapper whose worker was killed) has no command line left.
    members = [p for p in psutil.process_iter(["cmdline", "status"])
               if _group_of(p) == group and p.info["status"] != psutil.STATUS_ZOMBIE]
    ended = bool(members) and all("anvil" in " ".join(p.info["cmdline"] or []) for p in members)
    if ended:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            ended = False
    marker.unlink(missing_ok=True)
    return ended


def _group_of(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except (ProcessLookupError, PermissionError):
        return None


BACKENDS: dict[str, Callable[[Scenario, Path, Progress | None], dict]] = {"chain": run_on_chain,
                                                                          "memory": run_in_memory}
