"""Reading event logs: eth_getLogs over block ranges in chunks (a range the node refuses is split in two
until it is accepted), a cursor that notices a chain rewound under an incremental reader, and block
timestamps fetched once per block.

Logs are the node's raw JSON-RPC objects (hex strings), as `ContractCodec.decode_log` takes them. The sync
forms serve the history and the directory (through a `SyncClient`); `get_logs_chunked_async` serves the
runtime's event feed (through an `RPCClient`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator

from agents.chain.rpc import RPCError
from agents.chain.sync import SyncClient, as_int


def block_ranges(from_block: int, to_block: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    """[from_block, to_block] as consecutive ranges of at most `chunk_size` blocks."""
    for start in range(from_block, to_block + 1, chunk_size):
        yield start, min(start + chunk_size - 1, to_block)


def log_filter(address: str | list[str], topics: list | None, from_block: int, to_block: int) -> dict:
    """The eth_getLogs filter of a block range (no topic filter when `topics` is None)."""
    params = {"address": address, "fromBlock": hex(from_block), "toBlock": hex(to_block)}
    if topics is not None:
        params["topics"] = topics
    return params


def _halves(start: int, end: int) -> tuple[tuple[int, int], tuple[int, int]]:
    middle = (start + end) // 2
    return (start, middle), (middle + 1, end)


def get_logs_chunked(client: SyncClient, address: str | list[str], topics: list | None, from_block: int, to_block: int,
                     chunk_size: int) -> Iterator[list[dict]]:
    """eth_getLogs over [from_block, to_block] in ranges of at most `chunk_size` blocks, yielding each
    range's logs in chain order. A range the node refuses (too many results) is split in two."""
    for start, end in block_ranges(from_block, to_block, chunk_size):
        yield from _get_logs_splitting(client, address, topics, start, end)


def _get_logs_splitting(client: SyncClient, address, topics, start: int, end: int) -> Iterator[list[dict]]:
    try:
        yield client.request("eth_getLogs", [log_filter(address, topics, start, end)])
    except RPCError:
        if start == end:
            raise
        for half in _halves(start, end):
            yield from _get_logs_splitting(client, address, topics, *half)


async def get_logs_chunked_async(rpc, address: str | list[str], topics: list | None, from_block: int, to_block: int,
                                 chunk_size: int) -> AsyncIterator[list[dict]]:
    """`get_logs_chunked` through the async `RPCClient`."""
    for start, end in block_ranges(from_block, to_block, chunk_size):
        async for logs in _get_logs_splitting_async(rpc, address, topics, start, end):
            yield logs


async def _get_logs_splitting_async(rpc, address, topics, start: int, end: int) -> AsyncIterator[list[dict]]:
    try:
        yield await rpc.call("eth_getLogs", [log_filter(address, topics, start, end)])
    except RPCError:
        if start == end:
            raise
        for half in _halves(start, end):
            async for logs in _get_logs_splitting_async(rpc, address, topics, *half):
                yield logs


class BlockCursor:
    """Where an incremental reader stands: the next block to read, and the hash of the last block read,
    so that a chain rewound under the reader (reorg, snapshot revert) is noticed rather than mixed in."""

    def __init__(self, start_block: int):
        self.start_block = start_block
        self.next_block = start_block
        self._last_hash: str | None = None

    def rewound(self, client: SyncClient) -> bool:
        if self._last_hash is None:
            return False
        block = client.block(self.next_block - 1)
        return block is None or block["hash"] != self._last_hash

    def advance(self, client: SyncClient, last_block_read: int) -> None:
        self.next_block = last_block_read + 1
        self._last_hash = client.block(last_block_read)["hash"]

    def reset(self) -> None:
        self.next_block = self.start_block
        self._last_hash = None


class BlockTimes:
    """Block timestamps, fetched once per block (in one JSON-RPC batch per refresh) and cached."""

    def __init__(self, client: SyncClient):
        self.client = client
        self._times: dict[int, int] = {}

    def fetch(self, blocks: Iterable[int]) -> None:
        missing = sorted(set(blocks) - self._times.keys())
        if not missing:
            return
        for block in self.client.batch([("eth_getBlockByNumber", [hex(n), False]) for n in missing]):
            self._times[as_int(block["number"])] = as_int(block["timestamp"])

    def __getitem__(self, block: int) -> int:
        if block not in self._times:
            self.fetch([block])
        return self._times[block]

    def clear(self) -> None:
        self._times.clear()
