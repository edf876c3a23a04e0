"""Anvil as a subprocess of our own, on a free port: for tests that need a chain Ape does not manage and
for benchmarks that need flags Ape's anvil cannot be given. It is talked to through the chain layer's
blocking JSON-RPC."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from agents.chain.rpc import RetryPolicy, RPCUnavailable
from agents.chain.sync import http_request

# The project's pinned anvil (npm installs it); the one on PATH where there is none.
PROJECT_ANVIL = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "anvil"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Anvil:
    """An anvil subprocess on a free port, started with `args`, ready (it answers eth_chainId) when the
    constructor returns; RuntimeError if it does not start within 30 s. `stop()` ends it: fixtures and
    benchmarks call it in their finalizers."""

    def __init__(self, *args: str, output: int | None = subprocess.DEVNULL):
        binary = str(PROJECT_ANVIL) if PROJECT_ANVIL.exists() else "anvil"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # node_modules/.bin/anvil is a Node wrapper around the real binary: a session of their own lets
        # stop() signal both; signalling only the wrapper would orphan a running anvil.
        self.process = subprocess.Popen([binary, "--port", str(self.port), *args], start_new_session=True,
                                        stdout=output, stderr=output)
        self._request = http_request(self.url, RetryPolicy(attempts=1))  # a local node: no backoff
        deadline = time.monotonic() + 30
        while True:
            try:
                self.rpc("eth_chainId")
                return
            except RPCUnavailable:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"anvil {' '.join(args)} did not start") from None
                time.sleep(0.1)

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
