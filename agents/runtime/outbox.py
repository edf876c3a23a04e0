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

from eth_account.signers.local import LocalAccount

from agents.chain.rpc import RPCClient, RPCError, RPCUnavailable
from agents.chain.transactions import Signer

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


# Messages that can lose a race to another party's transaction in the same block, and what that means.
RACED_MESSAGES = {
    "offer": "the request was accepted or cancelled before the offer was mined",
    "accept": "the request was taken, or the offer withdrawn or left unfunded, before the acceptance was mined",
    "cancel_offer": "the offer was accepted before its withdrawal was mined",
}


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
    error: Exception | None = None  # why the node refused it, if it did
    raw: str = ""  # the signed transaction, as sent
    call: object = None  # the unsigned `agents.chain.scheme.Call`, where a memory backend runs it

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
    on_failure: Callable[[SentTransaction], None] | None = None  # the node refused a transaction
    mode: str = "pipelined"  # "pipelined", "awaited" or "deferred": see send()
    queued: list = field(default_factory=list)  # deferred transactions not yet submitted
    _next_nonce: int | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _submissions: set = field(default_factory=set)
    _signer: Signer | None = None
    sent: list[SentTransaction] = field(default_factory=list)
    _awaiting_receipt: list[SentTransaction] = field(default_factory=list)
    # gas_spent_wei's running sum: the fees of sent[:_fees_counted], every one of which has its receipt
    _fees_counted: int = 0
    _fees_of_counted: int = 0

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
        """Sign and submit one transaction.

        Modes (`Outbox.mode`):
        - "pipelined" (live agents): returns as soon as the transaction has left; its hash is known from
          the signed bytes and the node's answer is handled in the background, so one reply never waits
          for the node to process the previous one;
        - "awaited": returns once the node accepted it;
        - "deferred" (stepped simulations): signs and queues it; `send_deferred` submits the queues of
          many outboxes in one batch, in a fixed order, before the model mines the block.
        """
        async with self._lock:
            if self._next_nonce is None:
                await self.sync_nonce()
            nonce = self._next_nonce
            raw, tx_hash = self._sign(to, data, gas, nonce)
            self._next_nonce = nonce + 1
            sent = SentTransaction(tx_hash, kind, deal_id, nonce, time.perf_counter(), trigger_at, raw=raw)
            self.sent.append(sent)
            if self.mode == "deferred":
                self.queued.append(sent)
                return sent
            submission = asyncio.create_task(self._submit(raw, sent))
            self._submissions.add(submission)
            submission.add_done_callback(self._submissions.discard)
        if self.mode == "awaited":
            await submission
            if sent.error is not None:
                raise sent.error
        return sent

    async def send_call(self, call, trigger_at: float | None = None) -> SentTransaction:
        """Send a built `agents.chain.scheme.Call`."""
        return await self.send(call.to, call.data, call.gas, kind=call.kind, deal_id=call.deal_id,
                               trigger_at=trigger_at)

    async def _submit(self, raw: str, sent: SentTransaction) -> None:
        try:
            await self.rpc.call("eth_sendRawTransaction", [raw])
        except (RPCError, RPCUnavailable) as error:
            self._refused(sent, error)
            return
        sent.accepted_at = time.perf_counter()
        self._awaiting_receipt.append(sent)

    def _refused(self, sent: SentTransaction, error: Exception) -> None:
        sent.error = error
        if isinstance(error, RPCError) and _is_nonce_error(error):
            log.info("%s: %s; resynchronising nonce", self.address, error.message)
        # Whatever failed, the next transaction takes its nonce from the node again.
        self._next_nonce = None
        if self.on_failure is not None:
            self.on_failure(sent)

    @staticmethod
    async def send_deferred(rpc: RPCClient, outboxes: list["Outbox"]) -> int:
        """Submit the queued transactions of `outboxes` in the outboxes' order and each outbox's sending order,
        one after the other: the node's pool takes them in that order, and a block mined next holds them in it.
        (A JSON-RPC batch is not enough: anvil handles a large batch's raw transactions concurrently, and they
        reach its pool, and the block, in an order of their own.) Returns how many were sent."""
        queued = [(outbox, sent) for outbox in outboxes for sent in outbox.queued]
        for outbox in outboxes:
            outbox.queued = []
        if not queued:
            return 0
        answers = []
        try:
            for _, sent in queued:
                answers.extend(await rpc.batch_raw([("eth_sendRawTransaction", [sent.raw])]))
        except RPCUnavailable as error:
            for outbox, sent in queued[len(answers):]:
                outbox._refused(sent, error)
            queued = queued[:len(answers)]
        now = time.perf_counter()
        for (outbox, sent), answer in zip(queued, answers):
            if "error" in answer:
                outbox._refused(sent, RPCError("eth_sendRawTransaction", answer["error"]))
            else:
                sent.accepted_at = now
                outbox._awaiting_receipt.append(sent)
        return len(queued)

    async def flush(self) -> None:
        """Wait until every transaction sent so far has reached the node."""
        while self._submissions:
            await asyncio.gather(*list(self._submissions), return_exceptions=True)

    def _sign(self, to: str, data: bytes, gas: int, nonce: int) -> tuple[str, str]:
        if self._signer is None:
            self._signer = Signer(self.account.key)
        return self._signer.sign_eip1559(
            chain_id=self.chain_id, nonce=nonce, max_priority_fee=self.fees.priority_fee, max_fee=self.fees.max_fee,
            gas=gas, to=to, value=0, data=data,
        )

    async def collect_receipts(self) -> list[SentTransaction]:
        """Fetch the receipts of mined transactions (one batched request) and report them."""
        return await Outbox.collect_receipts_of(self.rpc, [self])

    @staticmethod
    async def collect_receipts_of(rpc: RPCClient, outboxes: list["Outbox"]) -> list[SentTransaction]:
        """The receipts of many outboxes' transactions in one batched request."""
        pending = [(outbox, tx) for outbox in outboxes for tx in outbox._awaiting_receipt]
        if not pending:
            return []
        receipts = await rpc.batch([("eth_getTransactionReceipt", [tx.tx_hash]) for _, tx in pending])
        done = []
        for (outbox, tx), receipt in zip(pending, receipts):
            done.extend(outbox._take_receipt(tx, receipt))
        return done

    def _take_receipt(self, tx: SentTransaction, receipt: dict | None) -> list[SentTransaction]:
        done = []
        if receipt is None:
            return done
        tx.receipt = receipt
        done.append(tx)
        self._awaiting_receipt.remove(tx)
        if not tx.succeeded:
            deal = "0x" + tx.deal_id.hex()[:8] if tx.deal_id else "-"
            if tx.kind in RACED_MESSAGES:
                # Sent on what the agent last saw; another party's move was mined first. Nothing is lost but gas.
                log.info("%s: %s on deal %s reverted: %s", self.address, tx.kind, deal, RACED_MESSAGES[tx.kind])
            else:
                log.warning("%s: %s transaction %s on deal %s reverted", self.address, tx.kind, tx.tx_hash, deal)
        if self.on_receipt is not None:
            self.on_receipt(tx)
        return done

    @property
    def gas_spent_wei(self) -> int:
        """The fees paid by every sent transaction with a receipt. A data collector asks after every step, and an
        agent's transactions pile up: those up to the first still without a receipt are summed once, for good."""
        sent = self.sent
        while self._fees_counted < len(sent) and sent[self._fees_counted].receipt is not None:
            self._fees_of_counted += sent[self._fees_counted].fee_paid
            self._fees_counted += 1
        return self._fees_of_counted + sum(tx.fee_paid or 0 for tx in sent[self._fees_counted:])
