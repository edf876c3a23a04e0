"""Anvil as a subprocess of our own, on a port it chooses: for sweeps and benchmarks that start chains of their
own (with flags Ape's anvil cannot be given), and for tests that need a chain Ape does not manage. It is talked
to through the chain layer's blocking JSON-RPC."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

from agents.chain.rpc import RetryPolicy, RPCUnavailable
from agents.chain.sync import http_request

# The project's pinned anvil (npm installs it); the one on PATH where there is none.
PROJECT_ANVIL = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "anvil"
ANVIL_DEFAULT_CHAIN_ID = 31337
START_SECONDS = 30


class Anvil:
    """An anvil subprocess started with `args`, ready when the constructor returns: alive, listening on the
    port it chose itself (`--port 0`: no other process can take it between a choice and the bind), and
    answering there with the chain id it was given (31337 by default; a fork's own when forking). RuntimeError
    if it does not get there within 30 s. `stop()` ends it: fixtures and benchmarks call it in their finalizers."""

    def __init__(self, *args: str, output: int | None = subprocess.DEVNULL):
        binary = str(PROJECT_ANVIL) if PROJECT_ANVIL.exists() else "anvil"
        expected = _expected_chain_id(args)
        # node_modules/.bin/anvil is a Node wrapper around the real binary: a session of their own lets
        # stop() signal both; signalling only the wrapper would orphan a running anvil.
        self.process = subprocess.Popen([binary, "--port", "0", *args], start_new_session=True,
                                        stdout=output, stderr=output)
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"anvil {' '.join(args)} exited with status {self.process.returncode}")
            if self._answers(expected):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"anvil {' '.join(args)} did not start within {START_SECONDS} s")
            time.sleep(0.05)

    def _answers(self, expected_chain_id: int | None) -> bool:
        """Whether the anvil listens and answers eth_chainId as expected (RuntimeError if it answers otherwise)."""
        port = _listening_port(self.process.pid)
        if port is None:
            return False
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._request = http_request(self.url, RetryPolicy(attempts=1))  # a local node: no backoff
        try:
            chain_id = int(self.rpc("eth_chainId"), 16)
        except RPCUnavailable:
            return False  # listening, not yet serving
        if expected_chain_id is not None and chain_id != expected_chain_id:
            self.stop()
            raise RuntimeError(f"anvil on port {port} answers chain id {chain_id}, not {expected_chain_id}")
        return True

    def rpc(self, method: str, params: list | None = None):
        """One JSON-RPC call; a node's error raises `RPCError`."""
        return self._request(method, params or [])

    def stop(self, graceful: bool = False) -> None:
        """Kill it at once, or with `graceful` let it shut down (SIGTERM) and wait up to 30 s."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM if graceful else signal.SIGKILL)
        except ProcessLookupError:
            pass  # already gone
        self.process.wait(timeout=30 if graceful else 10)

    def nonce(self, address: str) -> int:
        return int(self.rpc("eth_getTransactionCount", [address, "latest"]), 16)

    def transact(self, sender: str, data: bytes, to: str | None = None) -> dict:
        """Send from an unlocked account and wait for the receipt, which must show success."""
        tx = {"from": sender, "data": "0x" + data.hex(), "gas": hex(8_000_000)}
        if to:
            tx["to"] = to
        tx_hash = self.rpc("eth_sendTransaction", [tx])
        deadline = time.monotonic() + 10
        while not (receipt := self.rpc("eth_getTransactionReceipt", [tx_hash])) and time.monotonic() < deadline:
            time.sleep(0.02)  # automine, but the receipt may trail the hash by a moment
        assert receipt and receipt["status"] == "0x1", receipt
        return receipt


def _expected_chain_id(args: tuple[str, ...]) -> int | None:
    """The chain id anvil was told to have (`--chain-id N`), its default, or None for a fork's (the forked
    chain's own)."""
    if "--chain-id" in args:
        return int(args[args.index("--chain-id") + 1])
    return None if "--fork-url" in args or "-f" in args else ANVIL_DEFAULT_CHAIN_ID


def _listening_port(pid: int) -> int | None:
    """The TCP port the process (or one it started: the real anvil under the npm wrapper) listens on."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return None
    for process in processes:
        try:
            connections = process.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for connection in connections:
            if connection.status == psutil.CONN_LISTEN:
                return connection.laddr.port
    return None
