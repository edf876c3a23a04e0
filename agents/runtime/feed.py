"""The event feed: one per process, it polls the chain for the market's events and delivers each as a
message to the mailboxes of the agents it concerns.

One poller serves every agent in the process (a market of hundreds of agents makes one eth_getLogs call
per new block, not hundreds). It also keeps the fee schedule and the chain clock current.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import aiohttp

from agents.chain.codec import ContractCodec
from agents.chain.logs import get_logs_chunked_async
from agents.chain.rpc import RPCClient, RPCError
from agents.chain.scheme import message_from_event
from agents.protocol import Message, Performative
from agents.runtime.outbox import FeeSchedule

log = logging.getLogger(__name__)


class RequestAudience(Enum):
    """Which requests a subscriber may take part in, so that the feed asks `concerns` about a request only the
    subscribers it may concern: a request names its client, its validator and the providers it is addressed to,
    and a market of thousands of agents then hands each request to a handful of them."""

    NAMED = "named"  # requests that name it (as client, validator or invited provider)
    NAMED_OR_BROADCAST = "named or broadcast"  # also requests addressed to nobody (a provider's open market)
    EVERY = "every"  # every request (the court, which may have to judge any deal)


@dataclass(eq=False)
class Subscription:
    """An agent's mailbox and the test that says which messages concern it. A subscription that gives its
    dialogues (`deals`: agents.runtime.dialogues.WatchedDialogues) is concerned by a deal's messages exactly when
    it has that deal's dialogue: the feed indexes those, and asks `concerns` only about requests. One that gives
    its `address` and `audience` is asked only about the requests that audience covers."""

    mailbox: asyncio.Queue
    concerns: Callable[[Message], bool]
    deals: object = None
    feed: EventFeed | None = None
    address: str | None = None
    audience: RequestAudience | None = None

    def added(self, deal_id: bytes) -> None:
        self.feed._followers.setdefault(deal_id, {})[id(self)] = self

    def removed(self, deal_id: bytes) -> None:
        followers = self.feed._followers.get(deal_id)
        if followers is not None:
            followers.pop(id(self), None)
            if not followers:
                del self.feed._followers[deal_id]


class RequestIndex:
    """The subscribers a request may concern, found by the addresses it names instead of asking everyone."""

    def __init__(self, subscriptions: list[Subscription]):
        self.order = {id(s): n for n, s in enumerate(subscriptions)}
        self.unindexed: list[Subscription] = []  # asked about every request (no address or audience given)
        self.every: list[Subscription] = []
        self.broadcast: list[Subscription] = []  # asked about requests that name no provider
        self.by_address: dict[str, list[Subscription]] = {}
        for s in subscriptions:
            if s.address is None or s.audience is None:
                self.unindexed.append(s)
            elif s.audience == RequestAudience.EVERY:
                self.every.append(s)
            else:
                self.by_address.setdefault(s.address, []).append(s)
                if s.audience == RequestAudience.NAMED_OR_BROADCAST:
                    self.broadcast.append(s)

    def audience(self, requested: dict) -> list[Subscription]:
        """The subscriptions to ask about a request (the `Requested` event's arguments), in subscription order."""
        request, invited = requested["request"], requested["invited"]
        named = [request["client"], request["validator"], *invited]
        found = {id(s): s for s in (*self.unindexed, *self.every, *(self.broadcast if not invited else ()))}
        for address in named:
            for s in self.by_address.get(address, ()):
                found[id(s)] = s
        return sorted(found.values(), key=lambda s: self.order[id(s)])


@dataclass
class EventFeed:
    rpc: RPCClient
    market_address: str
    codec: ContractCodec
    from_block: int = 0
    poll_interval: float = 0.005
    fee_refresh_interval: float = 2.0
    fees: FeeSchedule = field(default_factory=FeeSchedule)
    chain_time: int = 0  # timestamp of the latest block seen
    # Live agents estimate "now" from the wall clock between blocks; a stepped simulation sets the clock.
    extrapolate: bool = True
    _chain_time_seen_at: float = 0.0  # perf_counter() when chain_time was read
    latest_block: int = -1
    # The chain time up to which every log has been delivered: a request may be taken for expired only once the
    # feed has read past its offer deadline, or an acceptance missed in an outage would be ignored when it arrives.
    synced_time: int = 0
    subscriptions: list[Subscription] = field(default_factory=list)
    delivered: int = 0
    _stopped: bool = False
    _history_cache: tuple | None = None
    # deal id -> the indexed subscriptions that have its dialogue (by id(subscription), in subscription order)
    _followers: dict = field(default_factory=dict)
    _request_index: RequestIndex | None = None  # built from the subscriptions when a request first needs it

    def subscribe(self, concerns: Callable[[Message], bool], deals=None, address: str | None = None,
                  audience: RequestAudience | None = None) -> asyncio.Queue:
        """A mailbox for the messages `concerns` accepts. With `deals`, the subscriber's WatchedDialogues, a deal's
        messages go to it when it has the deal's dialogue, with no call to `concerns` (only requests ask it). With
        `address` and `audience`, only the requests that audience covers ask it: a market of thousands of agents
        then delivers a message to its parties, not to everyone."""
        mailbox: asyncio.Queue = asyncio.Queue()
        subscription = Subscription(mailbox, concerns, deals, self, address, audience)
        self.subscriptions.append(subscription)
        self._request_index = None
        if deals is not None:
            deals.watchers.append(subscription)
            for deal_id in deals:
                subscription.added(deal_id)
        return mailbox

    def unsubscribe(self, mailbox: asyncio.Queue) -> None:
        for subscription in [s for s in self.subscriptions if s.mailbox is mailbox]:
            if subscription.deals is not None:
                subscription.deals.watchers.remove(subscription)
                for deal_id in subscription.deals:
                    subscription.removed(deal_id)
        self.subscriptions = [s for s in self.subscriptions if s.mailbox is not mailbox]
        self._request_index = None

    async def history(self, from_block: int, to_block: int | str = "latest", chunk: int = 10_000) -> list[Message]:
        """Every market message in a block range, decoded: what an agent rebuilds its state from."""
        head = int(await self.rpc.call("eth_blockNumber"), 16) if to_block == "latest" else to_block
        # Agents of one process starting together ask for the same range: read and decode it once.
        cached = self._history_cache
        if cached and cached[0] == (from_block, head):
            return list(cached[1])
        messages = []
        async for logs in get_logs_chunked_async(self.rpc, self.market_address, None, from_block, head, chunk):
            messages.extend(await self._decode(logs))
        self._history_cache = ((from_block, head), messages)
        return list(messages)

    async def poll_once(self) -> int:
        """Fetch and deliver the logs of blocks not seen yet; returns how many messages were delivered."""
        head = int(await self.rpc.call("eth_blockNumber"), 16)
        if head <= self.latest_block:
            return 0
        start = max(self.from_block, self.latest_block + 1)
        logs = await self.rpc.call(
            "eth_getLogs", [{"address": self.market_address, "fromBlock": hex(start), "toBlock": hex(head)}]
        )
        block = await self.rpc.call("eth_getBlockByNumber", [hex(head), False])
        self.latest_block = head
        messages = await self._decode(logs)
        await self._deliver(messages)
        self.synced_time = max(self.synced_time, int(block["timestamp"], 16))
        return len(messages)

    async def _deliver(self, messages: list[Message]) -> None:
        if messages:
            self._observe_time(max(m.time for m in messages))
        unindexed = [s for s in self.subscriptions if s.deals is None]
        for message in messages:
            if message.performative == Performative.REQUEST:
                if self._request_index is None:
                    self._request_index = RequestIndex(self.subscriptions)
                concerned = [s for s in self._request_index.audience(message.args) if s.concerns(message)]
            else:  # a deal's message: its followers, and whoever has no index
                followers = self._followers.get(message.deal_id, {})
                concerned = [*followers.values(), *(s for s in unindexed if s.concerns(message))]
            for subscription in concerned:
                subscription.mailbox.put_nowait(message)
                self.delivered += 1

    async def refresh_fees_and_clock(self) -> None:
        history = await self.rpc.call("eth_feeHistory", [1, "latest", [50]])
        self.fees.base_fee = int(history["baseFeePerGas"][-1], 16)
        reward = int(history["reward"][0][0], 16) if history.get("reward") else 0
        self.fees.priority_fee = max(reward, 1)
        block = await self.rpc.call("eth_getBlockByNumber", ["latest", False])
        self._observe_time(int(block["timestamp"], 16))

    def set_time(self, timestamp: int) -> None:
        """Set the clock (stepped simulations, where the model decides when blocks are mined)."""
        self.chain_time = timestamp

    def _observe_time(self, timestamp: int) -> None:
        # Only a newer block restarts the estimate; seeing the same block again must not stop the clock.
        if timestamp > self.chain_time:
            self.chain_time = timestamp
            self._chain_time_seen_at = time.perf_counter()

    def now(self) -> int:
        """The timestamp a block mined now would get, at least: the latest block's time plus the time
        elapsed since it was seen. An idle chain mines no blocks, so the latest block alone would stop
        the clock and no deadline would ever pass."""
        if not self.extrapolate or not self._chain_time_seen_at:
            return self.chain_time
        return self.chain_time + int(time.perf_counter() - self._chain_time_seen_at)

    async def run(self) -> None:
        """Deliver messages until stopped: pushed by the node over a WebSocket subscription where it
        offers one (no polling load, lowest latency), by polling eth_getLogs otherwise."""
        fees = asyncio.create_task(self._refresh_fees_forever())
        try:
            try:
                await self.run_subscribed()
            except (aiohttp.ClientError, OSError, RPCError, KeyError) as error:
                log.info("event feed: no log subscription (%s); polling instead", error)
                await self.run_polling()
        finally:
            fees.cancel()

    async def _refresh_fees_forever(self) -> None:
        while not self._stopped:
            try:
                await self.refresh_fees_and_clock()
            except Exception as error:  # noqa: BLE001 - reported; the last fees stay in use
                log.error("event feed: fee refresh failed: %s", error)
            await asyncio.sleep(self.fee_refresh_interval)

    async def run_subscribed(self) -> None:
        """Subscribe to the market's logs, then catch up on blocks mined before the subscription (the
        dialogues ignore anything delivered twice)."""
        ws_url = "ws" + self.rpc.url[len("http"):] if self.rpc.url.startswith("http") else self.rpc.url
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url, heartbeat=30) as ws:
            await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                                "params": ["logs", {"address": self.market_address}]})
            answer = await ws.receive_json()
            if "error" in answer:
                raise RPCError("eth_subscribe", answer["error"])
            await self.poll_once()
            while not self._stopped:
                try:
                    frame = await asyncio.wait_for(ws.receive(), timeout=0.5)
                except asyncio.TimeoutError:
                    continue
                if frame.type != aiohttp.WSMsgType.TEXT:
                    if frame.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        raise aiohttp.ClientError("log subscription closed")
                    continue
                log_ = frame.json()["params"]["result"]
                if log_.get("removed"):
                    continue
                messages = await self._decode([log_])
                await self._deliver(messages)
                self.latest_block = max(self.latest_block, int(log_["blockNumber"], 16))
                if messages:  # every earlier block's logs have arrived
                    self.synced_time = max(self.synced_time, messages[0].time - 1)

    async def run_polling(self) -> None:
        """Poll until stopped. RPC failures are retried inside the client; a feed that cannot reach the
        node for longer keeps trying (agents see no messages meanwhile) and logs each failure."""
        while not self._stopped:
            try:
                await self.poll_once()
            except Exception as error:  # noqa: BLE001 - reported, then the feed carries on
                log.error("event feed: %s", error)
                await asyncio.sleep(0.5)
            await asyncio.sleep(self.poll_interval)

    def stop(self) -> None:
        self._stopped = True

    async def _decode(self, logs: list[dict]) -> list[Message]:
        now = time.perf_counter()
        missing_times = {log_["blockNumber"] for log_ in logs if "blockTimestamp" not in log_}
        if missing_times:  # nodes that do not put the block time in logs: fetch the headers once
            blocks = await self.rpc.batch([("eth_getBlockByNumber", [n, False]) for n in sorted(missing_times)])
            times = {b["number"]: b["timestamp"] for b in blocks}
            logs = [dict(log_, blockTimestamp=times[log_["blockNumber"]]) if "blockTimestamp" not in log_ else log_
                    for log_ in logs]
        messages = []
        for log_ in logs:
            decoded = self.codec.decode_log(log_)
            if decoded is None:
                continue
            message = message_from_event(*decoded, log_, now)
            if message is not None:
                messages.append(message)
        return messages
