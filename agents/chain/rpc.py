"""A small asynchronous JSON-RPC client: the agents' only path to the chain.

Agents talk to the node directly (locally signed raw transactions, eth_getLogs, eth_call) because Ape's
high-level call path estimates, signs, waits and decodes on every call, which caps a market at a few
deals per second. Transient failures (connection errors, 5xx, rate limits) are retried with exponential
backoff and reported through `on_retry`; they are never dropped silently: after the last attempt the
error is raised to the caller.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

log = logging.getLogger(__name__)


class RPCError(Exception):
    """The node answered with a JSON-RPC error (a revert, a bad nonce, ...). Not retried."""

    def __init__(self, method: str, error: dict):
        self.method = method
        self.code = error.get("code")
        self.message = error.get("message", "")
        self.data = error.get("data")
        super().__init__(f"{method}: {self.message} (code {self.code})")


class RPCUnavailable(Exception):
    """The node could not be reached after every retry."""


@dataclass
class RetryPolicy:
    attempts: int = 6
    first_delay: float = 0.05
    max_delay: float = 2.0

    def delays(self):
        delay = self.first_delay
        for _ in range(self.attempts - 1):
            yield delay
            delay = min(delay * 2, self.max_delay)


@dataclass
class RPCClient:
    url: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_retry: Callable[[str, Exception, int], None] | None = None
    timeout: float = 30.0
    _session: aiohttp.ClientSession | None = None
    _ids: itertools.count = field(default_factory=itertools.count)
    retries: int = 0  # how many retries happened, for reports
    calls: Counter = field(default_factory=Counter)  # requests made, by method ("batch" for batches)

    async def __aenter__(self) -> "RPCClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=64)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
        return self._session

    async def call(self, method: str, params: list | None = None):
        self.calls[method] += 1
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []}
        body = await self._post(method, payload)
        if "error" in body:
            raise RPCError(method, body["error"])
        return body["result"]

    async def batch(self, calls: list[tuple[str, list]]) -> list:
        """Several calls in one HTTP request; results in order. A JSON-RPC error in any raises it."""
        if not calls:
            return []
        self.calls["batch:" + calls[0][0]] += 1
        payload = [
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
            for method, params in calls
        ]
        body = await self._post("batch", payload)
        by_id = {item["id"]: item for item in body}
        results = []
        for request in payload:
            item = by_id[request["id"]]
            if "error" in item:
                raise RPCError(request["method"], item["error"])
            results.append(item["result"])
        return results

    async def batch_raw(self, calls: list[tuple[str, list]]) -> list[dict]:
        """Several calls in one request; the raw answers in order, errors included (nothing raised for
        them), for callers that handle each answer on its own."""
        self.calls["batch:" + calls[0][0]] += 1
        payload = [
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
            for method, params in calls
        ]
        by_id = {item["id"]: item for item in await self._post("batch", payload)}
        return [by_id[request["id"]] for request in payload]

    async def _post(self, method: str, payload):
        last_error: Exception | None = None
        delays = self.retry.delays()
        for attempt in range(self.retry.attempts):
            try:
                async with self._get_session().post(self.url, json=payload) as response:
                    if response.status == 429 or response.status >= 500:
                        raise aiohttp.ClientResponseError(
                            response.request_info, (), status=response.status, message="node busy or failing"
                        )
                    return await response.json(content_type=None)
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as error:
                last_error = error
                delay = next(delays, None)
                if delay is None:
                    break
                self.retries += 1
                if self.on_retry is not None:
                    self.on_retry(method, error, attempt + 1)
                else:
                    log.warning("RPC %s failed (%s), retry %d in %.2fs", method, error, attempt + 1, delay)
                await asyncio.sleep(delay)
        raise RPCUnavailable(f"{method}: node unreachable at {self.url} after {self.retry.attempts} attempts") from (
            last_error
        )
