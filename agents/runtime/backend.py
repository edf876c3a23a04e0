"""The seam between the runtime and the market it runs on: `MarketBackend`.

Everything the runtime, the roles and the stepped simulation ask of the market goes through one backend: the
event feed (messages, history, the clock and fees), the outboxes that send an account's transactions and the
receipts that come back, and the reads (escrow and wallet balances, a stored deal, an attestation, whether one
account funded another). Agents, roles and strategies never see which backend they run on.

Two implement it:
- `ChainBackend` (here): a node over JSON-RPC; transactions are signed, carry nonces and are mined by the node.
- `MemoryBackend` (agents.runtime.memory_backend): the contracts' rules executed in Python (`agents.memory`);
  no signing, no nonces, no encoding, and gas from the gas table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from eth_abi import decode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from agents.chain.calls import call, call_batch
from agents.chain.codec import ContractCodec
from agents.chain.logs import get_logs_chunked_async
from agents.chain.rpc import RPCClient
from agents.protocol import Status, Verdict
from agents.runtime.outbox import FeeSchedule, Outbox, SentTransaction

DEAL_TYPES = [
    "(address,uint96,address,uint96,address,uint8,uint40,uint24,uint24,address,uint24,uint8,bytes32,uint96,uint96)"
]
ATTESTATION_TYPES = ["(bytes32,bytes32,uint64,uint64,uint64,bytes32,address,address,bool,bytes)"]
TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")  # every ERC-20's
LOG_CHUNK_BLOCKS = 10_000


@dataclass(frozen=True)
class DealRecord:
    """The market's stored deal (getDeal)."""

    client: str
    price: int
    provider: str
    collateral: int
    token: str
    status: Status
    deadline: int
    job_duration: int
    validation_window: int
    validator: str
    commence_within: int
    verdict: Verdict
    last_attestation: bytes
    validator_fee: int
    bond: int


@dataclass(frozen=True)
class AttestationRecord:
    """An EAS attestation (getAttestation); all zero for a UID that names none."""

    uid: bytes
    schema: bytes
    time: int
    expiration_time: int
    revocation_time: int
    ref_uid: bytes
    recipient: str
    attester: str
    revocable: bool
    data: bytes


class MarketBackend(Protocol):
    """What the runtime needs of a market. `feed` is the backend's event feed (subscribe, history, poll_once,
    now, set_time, fees: `agents.runtime.feed.EventFeed` is the chain's)."""

    feed: object

    def outbox(self, account: LocalAccount, chain_id: int, fees: FeeSchedule, *,
               on_receipt: Callable[[SentTransaction], None] | None = None,
               on_failure: Callable[[SentTransaction], None] | None = None, mode: str = "pipelined") -> Outbox:
        """The outbox an account's transactions go through (`Outbox.send`, `sent`, `gas_spent_wei`)."""

    async def submit_queued(self, outboxes: list) -> int:
        """Submit the deferred transactions of `outboxes`, in their order (a stepped round), before a block."""

    async def collect_receipts(self, outboxes: list) -> list[SentTransaction]:
        """Receipts of the outboxes' mined transactions, reported to their agents."""

    async def available(self, token: str, account: str) -> int: ...
    async def balance_of(self, token: str, account: str) -> int: ...
    async def total_owed(self, token: str) -> int: ...
    async def block_number(self) -> int: ...
    async def get_deal(self, deal_id: bytes) -> DealRecord: ...
    async def get_attestation(self, uid: bytes) -> AttestationRecord: ...

    async def funded_by(self, payer: str, payee: str, token: str, from_block: int, latest: int) -> bool:
        """Whether `payer` sent `payee` tokens in blocks [from_block, latest]: a transfer between their wallets, or a
        withdrawal from the payer's escrow account to the payee."""

    async def close(self) -> None: ...


@dataclass
class ChainBackend:
    """A market deployed on a node, read and written over JSON-RPC."""

    rpc: RPCClient
    market: str
    eas: str
    token: str
    market_codec: ContractCodec
    eas_codec: ContractCodec
    token_codec: ContractCodec
    feed: object = None  # the EventFeed, set by MarketConnection.open
    encodes_calls = True  # transactions carry calldata

    def outbox(self, account, chain_id, fees, *, on_receipt=None, on_failure=None, mode="pipelined") -> Outbox:
        return Outbox(self.rpc, account, chain_id, fees, on_receipt, on_failure=on_failure, mode=mode)

    async def submit_queued(self, outboxes: list) -> int:
        return await Outbox.send_deferred(self.rpc, outboxes)

    async def collect_receipts(self, outboxes: list) -> list[SentTransaction]:
        return await Outbox.collect_receipts_of(self.rpc, outboxes)

    async def available(self, token: str, account: str) -> int:
        return await self._uint(self.market, self.market_codec.encode_call("available", token, account))

    async def balance_of(self, token: str, account: str) -> int:
        return await self._uint(token, self.token_codec.encode_call("balanceOf", account))

    async def total_owed(self, token: str) -> int:
        return await self._uint(self.market, self.market_codec.encode_call("totalOwed", token))

    async def balances(self, token: str, accounts: list[str]) -> list[tuple[int, int]]:
        """(wallet, escrow available) of each account, in one batched request."""
        calls = []
        for account in accounts:
            calls.append((token, self.token_codec.encode_call("balanceOf", account)))
            calls.append((self.market, self.market_codec.encode_call("available", token, account)))
        values = [int.from_bytes(v, "big") for v in await call_batch(self.rpc, calls)]
        return list(zip(values[0::2], values[1::2]))

    async def block_number(self) -> int:
        return int(await self.rpc.call("eth_blockNumber"), 16)

    async def _uint(self, to: str, data: bytes) -> int:
        return int.from_bytes(await call(self.rpc, to, data), "big")

    async def get_deal(self, deal_id: bytes) -> DealRecord:
        data = self.market_codec.encode_call("getDeal", deal_id)
        (fields,) = decode(DEAL_TYPES, await call(self.rpc, self.market, data))
        values = list(fields)
        values[5] = Status(values[5])
        values[11] = Verdict(values[11])
        return DealRecord(*values)

    async def get_attestation(self, uid: bytes) -> AttestationRecord:
        data = self.eas_codec.encode_call("getAttestation", uid)
        (fields,) = decode(ATTESTATION_TYPES, await call(self.rpc, self.eas, data))
        return AttestationRecord(*fields)

    async def funded_by(self, payer: str, payee: str, token: str, from_block: int, latest: int) -> bool:
        transfers = ["0x" + TRANSFER_TOPIC.hex(), _topic(payer), _topic(payee)]
        async for logs in get_logs_chunked_async(self.rpc, token, transfers, from_block, latest, LOG_CHUNK_BLOCKS):
            if logs:
                return True
        withdrawals = ["0x" + self.market_codec.topics["Withdrawn"].hex(), _topic(token), _topic(payer)]
        async for logs in get_logs_chunked_async(self.rpc, self.market, withdrawals, from_block, latest,
                                                 LOG_CHUNK_BLOCKS):
            for log in logs:
                _, args = self.market_codec.decode_log(log)
                if args["to"].lower() == payee.lower():
                    return True
        return False

    async def close(self) -> None:
        await self.rpc.close()


def _topic(address: str) -> str:
    return "0x" + "00" * 12 + address[2:].lower()
