"""Submitting an agent's replies as transactions: local signing, nonces, retries, receipts.

Every transaction of an account goes through its one `Outbox`, which hands out nonces in order under a
lock, so concurrent replies never collide. A "nonce too low" answer (the chain moved on, e.g. after a
restart) resynchronises from the node and tries again. Receipts are collected in the background so that
gas spent and reverts reach the agent without slowing the reply path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount

from agents.rpc import RPCClient, RPCError

log = logging.getLogger(__name__)


@dataclass
class FeeSchedule:
    """EIP-1559 fees for the next transactions; refreshed by the event feed from eth_feeHistory."""

    base_fee: int = 1_000_000_000
    priority_fee: int = 1_000_000

    @property
    def max_fee(self) -> int:
        # Twice the base fee survives several full blocks of base-fee increases.
        return 2 * self.base_fee + self.priority_fee


@dataclass
class SentTransaction:
    tx_hash: str
    kind: str
    deal_id: bytes | None
    nonce: int
    sent_at: float  # time.perf_counter() when the signed transaction left for the node
    trigger_at: float | None  # when the event that called for it was received, for event-to-tx latency
    accepted_at: float = 0.0  # time.perf_counter() when the node answered with its hash
    receipt: dict | None = None

    @property
    def gas_used(self) -> int | None:
        return int(self.receipt["gasUsed"], 16) if self.receipt else None

    @property
    def fee_paid(self) -> int | None:
        if not self.receipt:
            return None
        return int(self.receipt["gasUsed"], 16) * int(self.receipt["effectiveGasPrice"], 16)

    @property
    def succeeded(self) -> bool | None:
        return None if self.receipt is None else self.receipt["status"] == "0x1"


def _is_nonce_error(error: RPCError) -> bool:
    message = error.message.lower()
    return "nonce" in message and ("low" in message or "already" in message or "too" in message)


@dataclass
class Outbox:
    rpc: RPCClient
    account: LocalAccount
    chain_id: int
    fees: FeeSchedule
    on_receipt: Callable[[SentTransaction], None] | None = None
    _next_nonce: int | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    sent: list[SentTransaction] = field(default_factory=list)
    _awaiting_receipt: list[SentTransaction] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.account.address

    async def sync_nonce(self) -> None:
        self._next_nonce = int(await self.rpc.call("eth_getTransactionCount", [self.address, "pending"]), 16)

    async def send(
        self,
        to: str,
        data: bytes,
        gas: int,
        *,
        kind: str,
        deal_id: bytes | None = None,
        trigger_at: float | None = None,
    ) -> SentTransaction:
        """Sign and submit one transaction; returns once the node accepted it."""
        async with self._lock:
            if self._next_nonce is None:
                await self.sync_nonce()
            for attempt in range(3):
                nonce = self._next_nonce
                raw = self._sign(to, data, gas, nonce)
                dispatched_at = time.perf_counter()
                try:
                    tx_hash = await self.rpc.call("eth_sendRawTransaction", [raw])
                except RPCError as error:
                    if _is_nonce_error(error) and attempt < 2:
                        log.info("%s: %s; resynchronising nonce", self.address, error.message)
                        await self.sync_nonce()
                        continue
                    raise
                self._next_nonce = nonce + 1
                break
        sent = SentTransaction(tx_hash, kind, deal_id, nonce, dispatched_at, trigger_at, time.perf_counter())
        self.sent.append(sent)
        self._awaiting_receipt.append(sent)
        return sent

    def _sign(self, to: str, data: bytes, gas: int, nonce: int) -> str:
        tx = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": to,
            "data": data,
            "gas": gas,
            "maxFeePerGas": self.fees.max_fee,
            "maxPriorityFeePerGas": self.fees.priority_fee,
            "value": 0,
        }
        return "0x" + Account.sign_transaction(tx, self.account.key).raw_transaction.hex().removeprefix("0x")

    async def collect_receipts(self) -> list[SentTransaction]:
        """Fetch the receipts of mined transactions (one batched request) and report them."""
        if not self._awaiting_receipt:
            return []
        pending = list(self._awaiting_receipt)
        receipts = await self.rpc.batch([("eth_getTransactionReceipt", [tx.tx_hash]) for tx in pending])
        done = []
        for tx, receipt in zip(pending, receipts):
            if receipt is None:
                continue
            tx.receipt = receipt
            done.append(tx)
            self._awaiting_receipt.remove(tx)
            if not tx.succeeded:
                log.warning("%s: %s transaction %s reverted", self.address, tx.kind, tx.tx_hash)
            if self.on_receipt is not None:
                self.on_receipt(tx)
        return done

    @property
    def gas_spent_wei(self) -> int:
        return sum(tx.fee_paid or 0 for tx in self.sent)
