"""The memory backend: the runtime's `MarketBackend` over `agents.memory.MemoryChain`, the contracts' rules in
Python (tests/test_memory_market.py proves them equal to the contracts call for call).

What the chain does and how it is done here:
- transactions: an outbox queues an account's calls, unsigned and without nonces; the stepped model mines a
  block (`mine`), which runs every queued call in the order the queues were submitted, at the block's time,
  exactly as the node runs a batch of transactions in one block. A call the market refuses is a reverted
  receipt, so a reply that lost a race to another in the same block is refused as on chain;
- gas: a receipt's gas is the measured figure of the same operation in the gas table (gas-snapshot.json,
  from `make gas` on the real contracts), and its price the fee schedule's; a reverted call is charged the
  full figure (on chain it costs somewhat less);
- events: kept per block with log indexes counted over every contract's events in the block, as a node
  numbers them, and delivered by the feed as messages with no log to decode;
- reads (escrow, wallets, deals, attestations) are direct; whether a client funded a validator reads the
  kept token transfers and escrow withdrawals.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from agents.chain.rpc import RPCUnavailable
from agents.chain.scheme import Call, message_from_args
from agents.memory import MemoryChain, Revert
from agents.memory.evm import ZERO_ADDRESS, ZERO_BYTES32
from agents.protocol import Message, Offer, Request
from agents.runtime.backend import AttestationRecord, DealRecord
from agents.runtime.feed import EventFeed
from agents.runtime.outbox import Outbox, SentTransaction

GAS_SNAPSHOT = Path(__file__).resolve().parents[2] / "gas-snapshot.json"
# An ERC-20 approval is not in the market's gas table: OpenZeppelin's approve setting a fresh allowance.
TOKEN_APPROVE_GAS = 46_000
TOKEN_MINT_GAS = 51_000  # TestToken.mint to a new holder


def load_gas_table(path: Path = GAS_SNAPSHOT) -> dict[str, int]:
    """The gas of each operation on the real contracts, by the names `make gas` records."""
    return json.loads(path.read_text())


def gas_of(table: dict[str, int], call: Call, events: list) -> int:
    """The gas-table figure of a call, by what it did (its function, and for attestations and settlements the
    event they caused)."""
    names = {e.name for e in events}
    function = call.function
    if function == "attest":
        return {"commence": table["commencement attestation"], "complete": table["completion attestation"],
                "approve": table["validation attestation (client approves)"],
                "ruling": table["court ruling (approves, after appeal)"]}.get(
            call.kind, table["verdict attestation (validator approves)"])
    if function in ("accept", "acceptFunded"):
        request = call.args[0]
        if request[9] != ZERO_ADDRESS:  # a validator deal also locks the fee and the stake
            return table["accept (validator deal: locks fee and stake)"]
        return table["acceptFunded (both sides lock now)"] if function == "acceptFunded" else table["accept"]
    by_function = {
        "request": "request", "offer": "offer", "cancelOffer": "cancelOffer", "cancelRequest": "cancelRequest",
        "fund": "fund (provider locks collateral)", "collateralMissing": "collateralMissing (client gives up)",
        "settle": "settle", "claimTimeout": "claimTimeout (no completion)", "abort": "abort (provider)",
        "dispute": "dispute (client)", "appeal": "appeal (provider, of a rejection)",
        "escalate": "escalate (silent validator)", "withdraw": "withdraw", "withdrawTo": "withdrawTo",
    }
    if function == "settle" and "Judged" in names:
        return table["settle (judged: verdict stands, validator paid)"]
    if function == "deposit":
        return table["deposit"]
    if function == "approve":
        return TOKEN_APPROVE_GAS
    if function == "mint":
        return TOKEN_MINT_GAS
    return table[by_function[function]]


@dataclass
class MemoryOutbox(Outbox):
    """An account's outbox on the memory backend: calls are queued, unsigned, until the next block runs them."""

    backend: MemoryBackend | None = None

    async def sync_nonce(self) -> None:
        """Memory calls have no nonces."""

    async def send(self, to, data, gas, *, kind, deal_id=None, trigger_at=None):
        raise TypeError("the memory backend runs built calls: use send_call")

    async def send_call(self, call: Call, trigger_at: float | None = None) -> SentTransaction:
        backend = self.backend
        backend.sequence += 1
        sent = SentTransaction(f"memory-{backend.sequence}", call.kind, call.deal_id, len(self.sent),
                               time.perf_counter(), trigger_at, call=call)
        self.sent.append(sent)
        if self.mode == "deferred":
            self.queued.append(sent)
        else:  # a node without automine keeps it in its pool until the next block
            backend.pool.append((self, sent))
        return sent

    async def flush(self) -> None:
        """Nothing is in flight: calls wait in the queue or the pool."""


@dataclass
class Block:
    number: int
    time: int
    messages: list[Message] = field(default_factory=list)
    # (from EAS, name, args, tx hash, log index) of the market's events and EAS's Attested: what a history reads
    events: list[tuple] = field(default_factory=list)


class MemoryFeed(EventFeed):
    """The event feed of the memory backend: each mined block's market events, already decoded, as messages."""

    def __init__(self, backend: MemoryBackend):
        super().__init__(rpc=None, market_address=backend.chain.market.address, codec=None,
                         from_block=backend.block_number_now)
        self.backend = backend
        self.extrapolate = False

    async def history(self, from_block: int, to_block: int | str = "latest", chunk: int = 10_000) -> list[Message]:
        self.backend.check_up()
        last = self.backend.block_number_now if to_block == "latest" else to_block
        return [m for block in self.backend.blocks_between(from_block, last) for m in block.messages]

    async def poll_once(self) -> int:
        backend = self.backend
        backend.check_up()
        head = backend.block_number_now
        if head <= self.latest_block:
            return 0
        start = max(self.from_block, self.latest_block + 1)
        messages = [m for block in backend.blocks_between(start, head) for m in block.messages]
        self.latest_block = head
        await self._deliver(messages)
        self.synced_time = max(self.synced_time, backend.chain.now)
        return len(messages)

    async def refresh_fees_and_clock(self) -> None:
        self._observe_time(self.backend.chain.now)

    async def run(self) -> None:
        raise RuntimeError("the memory feed is stepped by its model (poll_once), it does not run on its own")


class MemoryBackend:
    """A market in memory behind the runtime's seam. `down` simulates an unreachable node: reads and the feed
    fail with RPCUnavailable (submitted calls still go through, as the stepped model's batch does)."""

    encodes_calls = False  # calls run from their function and arguments: no calldata is built

    def __init__(self, chain: MemoryChain, *, token: str, first_block: int, first_time: int,
                 gas_table: dict[str, int] | None = None):
        self.chain = chain
        self.market = chain.market.address
        self.eas = chain.eas.address
        self.token = token
        self.gas_table = gas_table or load_gas_table()
        self.block_number_now = first_block
        self.chain.now = first_time
        self.blocks: dict[int, Block] = {}
        self.pool: list[tuple[MemoryOutbox, SentTransaction]] = []  # submitted, waiting for the next block
        self.sequence = 0
        self.down = False
        # (payer, payee) -> blocks in which payer sent payee tokens (a transfer, or a withdrawal to the payee)
        self.payments: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        self.calls = 0  # calls run, for the report
        self.attested: defaultdict[bytes, list[bytes]] = defaultdict(list)  # schema UID -> attestation UIDs
        # tx hash -> the accepted offer's price and collateral (an offer signed off chain has no Offered event)
        self.accepted_terms: dict[str, dict] = {}
        self.feed = MemoryFeed(self)

    # --- transactions -------------------------------------------------------------------------------

    def outbox(self, account, chain_id, fees, *, on_receipt=None, on_failure=None, mode="pipelined") -> MemoryOutbox:
        return MemoryOutbox(None, account, chain_id, fees, on_receipt, on_failure=on_failure, mode=mode, backend=self)

    async def submit_queued(self, outboxes: list) -> int:
        queued = [(outbox, sent) for outbox in outboxes for sent in outbox.queued]
        for outbox in outboxes:
            outbox.queued = []
        self.pool.extend(queued)
        return len(queued)

    def mine(self, timestamp: int) -> Block:
        """Mine one block at `timestamp`: run the pool's calls in order, keep their events, write receipts."""
        self.block_number_now += 1
        self.chain.now = timestamp
        block = Block(self.block_number_now, timestamp)
        self.blocks[block.number] = block
        pool, self.pool = self.pool, []
        log_index = 0
        received = time.perf_counter()
        for outbox, sent in pool:
            events, ok = self.execute(outbox.address, sent.call)
            gas = gas_of(self.gas_table, sent.call, events)
            price = min(outbox.fees.base_fee + outbox.fees.priority_fee, outbox.fees.max_fee)
            sent.receipt = {"status": "0x1" if ok else "0x0", "gasUsed": hex(gas), "effectiveGasPrice": hex(price),
                            "blockNumber": hex(block.number), "transactionHash": sent.tx_hash}
            sent.accepted_at = received
            outbox._awaiting_receipt.append(sent)
            if ok and sent.call.function in ("accept", "acceptFunded"):
                terms = Offer.from_tuple(sent.call.args[1])
                self.accepted_terms[sent.tx_hash] = {"price": terms.price, "collateral": terms.collateral}
            for event in events:
                self._keep(block, event, log_index, sent.tx_hash, received)
                log_index += 1
        return block

    def execute(self, sender: str, call: Call) -> tuple[list, bool]:
        """Run one call as `sender`: (its events, True), or ([], False) if the market refused it."""
        self.calls += 1
        try:
            return self._dispatch(sender, call), True
        except Revert:
            return [], False

    def _dispatch(self, sender: str, call: Call) -> list:
        chain, name, args = self.chain, call.function, call.args
        if call.to == self.eas:
            schema, (recipient, expiration, revocable, ref, data, value) = args[0]
            _, events = chain.eas.attest(sender, schema, recipient, expiration_time=expiration, revocable=revocable,
                                         ref_uid=ref, data=data, value=value)
            return events
        if call.to == self.token:
            if name == "mint":
                return chain.tokens.mint(call.to, *args)
            return {"approve": chain.tokens.approve, "transfer": chain.tokens.send}[name](sender, call.to, *args)
        market = chain.market
        if name in ("accept", "acceptFunded"):
            req, terms, signature = args
            accept = market.accept if name == "accept" else market.accept_funded
            return accept(sender, Request.from_tuple(req), Offer.from_tuple(terms), signature)
        if name in ("request", "cancelRequest", "dispute"):
            method = {"request": market.request, "cancelRequest": market.cancel_request, "dispute": market.dispute}
            return method[name](sender, Request.from_tuple(args[0]), *args[1:])
        if name in ("offer", "cancelOffer"):
            method = market.offer if name == "offer" else market.cancel_offer
            return method(sender, Offer.from_tuple(args[0]), *args[1:])
        return {
            "fund": market.fund, "collateralMissing": market.collateral_missing, "settle": market.settle,
            "claimTimeout": market.claim_timeout, "appeal": market.appeal, "escalate": market.escalate,
            "abort": market.abort, "deposit": market.deposit, "withdraw": market.withdraw,
            "withdrawTo": market.withdraw_to, "skim": market.skim,
        }[name](sender, *args)

    def _keep(self, block: Block, event, log_index: int, tx_hash: str, received: float) -> None:
        if event.emitter == self.market:
            message = message_from_args(event.name, event.args, block.number, block.time, log_index, received)
            if message is not None:
                block.messages.append(message)
            if event.name == "Withdrawn":
                self.payments[(event.args["account"], event.args["to"])].append(block.number)
            block.events.append((False, event.name, event.args, tx_hash, log_index))
        elif event.emitter == self.eas and event.name == "Attested":
            self.attested[bytes(event.args["schemaUID"])].append(bytes(event.args["uid"]))
            block.events.append((True, event.name, event.args, tx_hash, log_index))
        elif event.name == "Transfer" and event.emitter == self.token:
            self.payments[(event.args["from"], event.args["to"])].append(block.number)

    async def collect_receipts(self, outboxes: list) -> list[SentTransaction]:
        done = []
        for outbox in outboxes:
            for sent in [tx for tx in outbox._awaiting_receipt if tx.receipt is not None]:
                receipt, sent.receipt = sent.receipt, None  # _take_receipt sets it again and reports it
                done.extend(outbox._take_receipt(sent, receipt))
        return done

    # --- blocks -------------------------------------------------------------------------------------

    def blocks_between(self, first: int, last: int) -> list[Block]:
        return [self.blocks[n] for n in range(max(first, 0), last + 1) if n in self.blocks]

    def check_up(self) -> None:
        if self.down:
            raise RPCUnavailable("memory backend: the simulated node is unreachable (a planned outage)")

    # --- reads --------------------------------------------------------------------------------------

    async def available(self, token: str, account: str) -> int:
        self.check_up()
        return self.chain.escrow.available(token, account)

    async def balance_of(self, token: str, account: str) -> int:
        self.check_up()
        return self.chain.tokens.balance_of(token, account)

    async def total_owed(self, token: str) -> int:
        return self.chain.escrow.total_owed(token)

    async def balances(self, token: str, accounts: list[str]) -> list[tuple[int, int]]:
        escrow, tokens = self.chain.escrow, self.chain.tokens
        return [(tokens.balance_of(token, a), escrow.available(token, a)) for a in accounts]

    async def block_number(self) -> int:
        self.check_up()
        return self.block_number_now

    async def get_deal(self, deal_id: bytes) -> DealRecord:
        self.check_up()
        return DealRecord(**asdict(self.chain.market.get_deal(deal_id)))

    async def get_attestation(self, uid: bytes) -> AttestationRecord:
        self.check_up()
        found = self.chain.eas.get_attestation(uid)
        if found is None:  # EAS returns an empty struct for an unknown UID
            return AttestationRecord(ZERO_BYTES32, ZERO_BYTES32, 0, 0, 0, ZERO_BYTES32, ZERO_ADDRESS, ZERO_ADDRESS,
                                     False, b"")
        return AttestationRecord(**asdict(found))

    async def funded_by(self, payer: str, payee: str, token: str, from_block: int, latest: int) -> bool:
        self.check_up()
        return any(from_block <= block <= latest for block in self.payments.get((payer, payee), ()))

    async def close(self) -> None:
        self.feed.stop()
