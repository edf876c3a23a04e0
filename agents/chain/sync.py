"""The synchronous JSON-RPC client: deployment, the service directory, the oracle keeper and the history
reader, the gas oracle and the price feeds use it, over any `request(method, params) -> result` callable
(`http_request(url)` here, Ape's `provider.make_request`, or a fake in tests) and, where the transport has
one, a `batch_request` (`http_batch_request(url)`).

The agents' hot path is asynchronous (`agents.chain.rpc.RPCClient`); these users make a few calls at a
time, where blocking is simpler. The HTTP transport retries transient failures with the same backoff as
the async client.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from eth_abi import decode

from agents.chain.calls import call_request, signature_call
from agents.chain.rpc import RetryPolicy, RPCError, RPCUnavailable

log = logging.getLogger(__name__)

Request = Callable[[str, list], Any]
BatchRequest = Callable[[list[tuple[str, list]]], list]


class TransactionTimeout(TimeoutError):
    """A transaction was not mined (or not confirmed) within the time allowed."""

    def __init__(self, tx_hash: str, timeout: float):
        self.tx_hash = tx_hash
        super().__init__(f"transaction {tx_hash} not mined after {timeout:.0f} s")


def _result(method: str, answer: dict):
    if "error" in answer:
        raise RPCError(method, answer["error"])
    return answer["result"]


def _http_post(url: str, retry: RetryPolicy, timeout: float) -> Callable[[str, object], Any]:
    """`post(what, payload) -> answer` of one JSON-RPC endpoint, retrying unreachable or busy nodes
    (connection errors, 5xx, 429) with exponential backoff; `what` names the call in logs and errors."""

    def post(what: str, payload):
        body = json.dumps(payload).encode()
        delays = retry.delays()
        last_error: Exception | None = None
        for attempt in range(retry.attempts):
            try:
                request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as error:
                if error.code != 429 and error.code < 500:
                    raise
                last_error = error
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                last_error = error
            delay = next(delays, None)
            if delay is None:
                raise RPCUnavailable(f"{what}: node unreachable at {url} after {retry.attempts} attempts") from (
                    last_error)
            log.warning("RPC %s failed (%s), retry %d in %.2fs", what, last_error, attempt + 1, delay)
            time.sleep(delay)

    return post


def http_request(url: str, retry: RetryPolicy | None = None, timeout: float = 30.0) -> Request:
    """A blocking `request(method, params) -> result` over HTTP, retrying transient failures (see
    `_http_post`). JSON-RPC errors raise `RPCError`."""
    post = _http_post(url, retry or RetryPolicy(), timeout)
    ids = itertools.count()

    def request(method: str, params: list):
        return _result(method, post(method, {"jsonrpc": "2.0", "id": next(ids), "method": method, "params": params}))

    return request


def http_batch_request(url: str, retry: RetryPolicy | None = None, timeout: float = 30.0) -> BatchRequest:
    """A blocking `batch_request([(method, params), ...]) -> [result, ...]` over HTTP: one JSON-RPC batch,
    results in the order of the calls. A JSON-RPC error in any answer raises `RPCError`."""
    post = _http_post(url, retry or RetryPolicy(), timeout)
    ids = itertools.count()

    def batch_request(calls: list[tuple[str, list]]) -> list:
        payload = [{"jsonrpc": "2.0", "id": next(ids), "method": method, "params": params} for method, params in calls]
        answers = {answer["id"]: answer for answer in post("batch:" + calls[0][0], payload)}
        return [_result(call["method"], answers[call["id"]]) for call in payload]

    return batch_request


def as_hex(value) -> str:
    """JSON-RPC results arrive as hex strings, or as bytes/ints from some clients."""
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


def as_int(value) -> int:
    return int(as_hex(value), 16)


class SyncClient:
    """The JSON-RPC calls the project's blocking users need, over `request(method, params) -> result`
    (and, where the transport has one, `batch_request([(method, params), ...]) -> [result, ...]`)."""

    def __init__(self, request: Request, poll_interval: float = 0.2, batch_request: BatchRequest | None = None):
        self.request = request
        self.poll_interval = poll_interval
        self.batch_request = batch_request

    @classmethod
    def connect(cls, url: str, poll_interval: float = 0.2) -> "SyncClient":
        return cls(http_request(url), poll_interval, http_batch_request(url))

    def with_poll_interval(self, poll_interval: float) -> "SyncClient":
        """The same connection, waiting for receipts at another pace (a sender that is part of start-up
        polls faster than the default)."""
        return SyncClient(self.request, poll_interval, self.batch_request)

    def batch(self, calls: list[tuple[str, list]]) -> list:
        """Several calls' results, in order: one batch where the transport supports it."""
        if not calls:
            return []
        if self.batch_request is None:
            return [self.request(method, params) for method, params in calls]
        return self.batch_request(calls)

    def chain_id(self) -> int:
        return as_int(self.request("eth_chainId", []))

    def code(self, address: str) -> bytes:
        return bytes.fromhex(as_hex(self.request("eth_getCode", [address, "latest"])).removeprefix("0x"))

    def nonce(self, address: str, block: str = "latest") -> int:
        return as_int(self.request("eth_getTransactionCount", [address, block]))

    def balance(self, address: str) -> int:
        return as_int(self.request("eth_getBalance", [address, "latest"]))

    def gas_price(self) -> int:
        return as_int(self.request("eth_gasPrice", []))

    def priority_fee(self) -> int:
        return as_int(self.request("eth_maxPriorityFeePerGas", []))

    def block(self, number: int | str = "latest") -> dict | None:
        tag = hex(number) if isinstance(number, int) else number
        return self.request("eth_getBlockByNumber", [tag, False]) or None

    def base_fee(self) -> int | None:
        block = self.block("latest")
        fee = block.get("baseFeePerGas") if block else None
        return as_int(fee) if fee is not None else None

    def timestamp(self, block: int | str = "latest") -> int:
        """A block's timestamp in Unix seconds."""
        return as_int(self.block(block)["timestamp"])

    def fee_history(self, block_count: int, percentiles: list[float]) -> dict:
        """The node's eth_feeHistory over the last `block_count` blocks, as it answers (hex quantities)."""
        return self.request("eth_feeHistory", [hex(block_count), "latest", percentiles])

    def block_number(self) -> int:
        return as_int(self.request("eth_blockNumber", []))

    def call(self, to: str, data: bytes, block: str = "latest") -> bytes:
        """The return data of an eth_call."""
        return bytes.fromhex(as_hex(self.request(*call_request(to, data, block))).removeprefix("0x"))

    def read(self, to: str, codec, function: str, *args) -> tuple:
        """The return values of a view `function` of the contract at `to`, encoded and decoded by `codec`
        (the contract's `ContractCodec`)."""
        return codec.decode_result(function, self.call(to, codec.encode_call(function, *args)))

    def call_batch(self, calls: list[tuple[str, bytes]], block: str = "latest") -> list[bytes]:
        """The return data of several eth_calls, (to, data) each, in one batch where the transport
        supports it, in order."""
        results = self.batch([call_request(to, data, block) for to, data in calls])
        return [bytes.fromhex(as_hex(result).removeprefix("0x")) for result in results]

    def call_function(self, to: str, signature: str, types: list[str] | None = None, args: list | None = None,
                      returns: list[str] | None = None):
        """A call by function signature: the decoded values of `returns`, or the raw bytes without them."""
        raw = self.call(to, signature_call(signature, types, args))
        return decode(returns, raw) if returns else raw

    def estimate_gas(self, sender: str, data: bytes, overrides: dict | None = None, to: str | None = None,
                     value: int = 0) -> int:
        tx: dict = {"from": sender, "data": "0x" + data.hex()}
        if to is not None:
            tx["to"] = to
        if value:
            tx["value"] = hex(value)
        params: list = [tx, "latest"]
        if overrides:
            params.append(overrides)
        return as_int(self.request("eth_estimateGas", params))

    def receipt(self, tx_hash: str) -> dict | None:
        return self.request("eth_getTransactionReceipt", [tx_hash]) or None

    def transaction(self, tx_hash: str) -> dict | None:
        return self.request("eth_getTransactionByHash", [tx_hash]) or None

    def send_raw(self, raw: str) -> None:
        self.request("eth_sendRawTransaction", [raw])

    def wait_receipt(self, tx_hash: str, timeout: float, confirmations: int = 0) -> dict:
        """The receipt, once mined and `confirmations` blocks deep; `TransactionTimeout` after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            receipt = self.receipt(tx_hash)
            if receipt is not None and self.block_number() >= as_int(receipt["blockNumber"]) + confirmations:
                return receipt
            if time.monotonic() > deadline:
                raise TransactionTimeout(tx_hash, timeout)
            time.sleep(self.poll_interval)
