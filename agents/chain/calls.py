"""eth_call in one place: read-only contract calls through the async `RPCClient`, one or batched
(`SyncClient.call` and `SyncClient.call_function` are the blocking forms, built on `call_request`).

Calldata comes from a `ContractCodec` (`encode_call`) or, where no ABI is at hand, from a function
signature (`signature_call`); the answer is the raw return data, decoded by the caller.
"""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak


def call_request(to: str, data: bytes, block: str = "latest") -> tuple[str, list]:
    """The JSON-RPC (method, params) of an eth_call."""
    return "eth_call", [{"to": to, "data": "0x" + data.hex()}, block]


def signature_call(signature: str, types: list[str] | None = None, args: list | None = None) -> bytes:
    """Calldata of `signature` (e.g. "getSchema(bytes32)") with ABI-encoded `args` of `types`."""
    return keccak(text=signature)[:4] + (encode(types, args) if types else b"")


def _bytes(result: str) -> bytes:
    return bytes.fromhex(result.removeprefix("0x"))


async def call(rpc, to: str, data: bytes, block: str = "latest") -> bytes:
    """The return data of one eth_call through an async `RPCClient`."""
    return _bytes(await rpc.call(*call_request(to, data, block)))


async def call_batch(rpc, calls: list[tuple[str, bytes]], block: str = "latest") -> list[bytes]:
    """The return data of several eth_calls, (to, data) each, in one JSON-RPC batch, in order."""
    return [_bytes(result) for result in await rpc.batch([call_request(to, data, block) for to, data in calls])]


async def call_uint(rpc, to: str, data: bytes, block: str = "latest") -> int:
    """An eth_call returning one uint (a balance, an amount)."""
    return int.from_bytes(await call(rpc, to, data, block), "big")

