"""The agent: an act/react loop in the manner of Fetch.ai's TAC baseline agent.

Each turn the agent reacts to at most `max_reactions` messages from its mailbox (waiting at most
`agent_timeout` for the first), then, every `services_interval`, acts: its policy's scheduled behaviour
(post requests, refresh offers) and the runtime's own duties (move deals on whose deadline passed, when
that benefits the agent). Replies are checked against the scheme's valid replies, go through the locks
(no capacity or funds committed twice), and leave as transactions through the outbox.

On setup the agent replays the market's history into its dialogues before it handles new messages, so a
restarted agent knows every deal it is part of and finishes the open ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from agents.chain.rpc import RPCError, RPCUnavailable
from agents.policy import Arrival, Capacity, Context, Dialogue, Notice, NoticeKind, Reply, Role
from agents.protocol import Message, Performative, Status, is_valid_reply
from agents.runtime.connection import MarketConnection
from agents.runtime.context import ContextSources
from agents.runtime.dialogues import Dialogues
from agents.runtime.escrow import EscrowBook, deadline_duties
from agents.runtime.feed import RequestAudience
from agents.runtime.latency import Latency
from agents.runtime.locks import Locks, LockUnavailable
from agents.runtime.outbox import SentTransaction
from agents.runtime.transactions import MarketTransactions
from agents.runtime.verification import Verifier

log = logging.getLogger(__name__)


@dataclass
class AgentConfig:
    agent_timeout: float = 0.05  # longest wait for a message before the agent acts again
    services_interval: float = 0.5  # how often scheduled behaviour runs, in seconds
    max_reactions: int = 100  # messages handled per turn before acting again
    verify_every_message: bool = False  # run the verification actions on every deal message
    sending: str = "pipelined"  # how the outbox submits: "pipelined", "awaited" or "deferred" (Outbox.send)
    work_inline: bool = False  # run file work and jobs inline rather than on threads (agents.roles.io.blocking)


class Agent:
    role: Role
    request_audience = RequestAudience.NAMED  # the requests the feed asks this agent about (takes_part decides)

    def __init__(
        self,
        name: str,
        role: Role,
        account: LocalAccount,
        connection: MarketConnection,
        policy,
        *,
        config: AgentConfig | None = None,
        capacity: Capacity = Capacity(),
        sources: ContextSources | None = None,
    ):
        self.name = name
        self.role = role
        self.account = account
        self.connection = connection
        self.policy = policy
        self.config = config or AgentConfig()
        self.sources = sources or ContextSources()  # what the agent knows beyond its own deals
        deployment = connection.deployment
        self.outbox = connection.backend.outbox(account, deployment.chain_id, connection.feed.fees,
                                                on_receipt=self._on_receipt, on_failure=self._on_refused,
                                                mode=self.config.sending)
        self.transactions = MarketTransactions.open(connection, self.outbox)
        self.verifier = Verifier(connection.backend)
        self.dialogues = Dialogues(role, connection.domain)
        self.locks = Locks(capacity=capacity, credit=int(getattr(policy, "overcommit_units", 0)))
        self.escrow = EscrowBook(account.address, role, self.locks)
        self.latency = Latency()
        self.mailbox: asyncio.Queue | None = None
        self.failed_transactions: list[SentTransaction] = []
        self.errors: list[str] = []
        # Reactions whose reply could not be sent (node unreachable): retried on every act.
        self._unanswered: dict[tuple, tuple[Message, dict]] = {}
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()

    # --- identity and interest ----------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self.account.address

    def concerns(self, message: Message) -> bool:
        """Whether a message belongs in this agent's mailbox: the messages of its own deals, and the
        requests its role takes part in. (The feed indexes the first part by the agent's dialogues.)"""
        if message.deal_id in self.dialogues.by_id:
            return True
        return message.performative == Performative.REQUEST and self.takes_part(message.args)

    def takes_part(self, requested: dict) -> bool:
        """Whether this agent takes part in a request (the `Requested` event's arguments), among those its
        `request_audience` covers (the feed asks no one else). Roles override."""
        return False

    # --- lifecycle ----------------------------------------------------------------------------------

    async def setup(self) -> None:
        """Subscribe, then rebuild dialogues and locks from chain history (messages that arrive in
        between are applied once: dialogues ignore what they have already seen)."""
        feed = self.connection.feed
        self.mailbox = feed.subscribe(self.concerns, deals=self.dialogues.by_id, address=self.address,
                                      audience=self.request_audience)
        await self.outbox.sync_nonce()
        balance = await self.escrow_balance()
        for message in await feed.history(self.connection.deployment.block):
            if self.concerns(message):
                self.dialogues.update(message)
        self.escrow.rebuild(balance, self.dialogues.open())
        await self.keep_obligations()

    async def keep_obligations(self) -> None:
        """Make the moves this agent owes on its open deals and has not made (after a restart, or when a
        reply was lost). Runs at setup and on every act; roles override."""

    async def perceive(self, dialogue: Dialogue, message: Message) -> dict:
        """Checks and fetches a role runs before its policy decides (a spec, a result, a lock). Roles
        override; what they return reaches the policy as `context.perception`."""
        if self.config.verify_every_message and dialogue.status not in (Status.NONE,) and dialogue.agreed_at:
            check = await self.verifier.payment_locked(dialogue.deal_id, dialogue.price, dialogue.collateral)
            return {"payment_locked": check}
        return {}

    def after_send(self, reply: Reply, sent: SentTransaction) -> None:
        """Work a reply sets in motion (a provider starts the job once it attested commencement)."""

    def on_closed(self, dialogue: Dialogue) -> None:
        """A deal of this agent's reached a terminal status (seen live, not replayed). Roles override."""

    def background_work(self) -> tuple[asyncio.Task, ...]:
        """The jobs, downloads and checks this agent has running (started with `spawn`)."""
        return tuple(self._tasks)

    def kill(self) -> None:
        """Stop as a killed process would: running work is lost and no more messages arrive."""
        for task in list(self._tasks):
            task.cancel()
        if self.mailbox is not None:
            self.connection.feed.unsubscribe(self.mailbox)

    async def teardown(self) -> None:
        self.kill()
        await self.outbox.flush()
        await self.outbox.collect_receipts()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """React and act until stopped. Scheduled behaviour runs as its own task every
        `services_interval`, so a slow act (it waits on the node) never delays a reaction."""
        await self.setup()
        acting = asyncio.create_task(self._act_forever())
        try:
            while not self._stop.is_set():
                await self.react_turn()
        finally:
            acting.cancel()
            await asyncio.gather(acting, return_exceptions=True)
            await self.teardown()

    async def _act_forever(self) -> None:
        while not self._stop.is_set():
            await self.act()
            try:
                await self.outbox.collect_receipts()
            except (RPCUnavailable, RPCError) as error:
                self.errors.append(f"receipts: {error}")
            await asyncio.sleep(self.config.services_interval)

    async def react_turn(self) -> int:
        try:
            first = await asyncio.wait_for(self.mailbox.get(), timeout=self.config.agent_timeout)
        except asyncio.TimeoutError:
            return 0
        handled = 0
        message = first
        while True:
            await self.react(message)
            handled += 1
            if handled >= self.config.max_reactions or self.mailbox.empty():
                return handled
            message = self.mailbox.get_nowait()

    # --- react --------------------------------------------------------------------------------------

    async def react(self, message: Message | Notice) -> None:
        try:
            if isinstance(message, Notice):
                dialogue = self.dialogues.get(message.deal_id) if message.deal_id else None
                reply = self.policy.react(message, await self.context(dialogue, message))
                await self.send(reply, trigger_at=message.received_at)
                return
            self.latency.mark("picked", message.received_at)
            dialogue, arrival = self.dialogues.update(message)
            if arrival not in (Arrival.NEW, Arrival.EXISTING):
                if arrival == Arrival.INVALID:
                    log.debug("%s: ignored %s for a deal in state %s", self.name, message.performative,
                              dialogue.status.name if dialogue else "?")
                return
            if not self.escrow.apply(dialogue, message):
                del self.dialogues.by_id[dialogue.deal_id]  # the deal went to another provider
                return
            if dialogue.status.is_terminal:
                self.on_closed(dialogue)
            perception = await self.perceive(dialogue, message)
            self.latency.mark("perceived", message.received_at)
            await self._answer(dialogue, message, perception)
        except Exception as error:  # noqa: BLE001 - one bad message must not stop the agent
            self.errors.append(f"{type(error).__name__}: {error}")
            log.exception("%s: reacting to %s failed", self.name, getattr(message, "performative", message))

    async def _answer(self, dialogue: Dialogue, message: Message, perception: dict) -> None:
        context = await self.context(dialogue, message, perception)
        reply = self.policy.react(message, context)
        self.latency.mark("decided", message.received_at)
        key = (dialogue.deal_id, message.log_key)
        try:
            await self.send(reply, trigger_at=message.received_at)
        except (RPCUnavailable, RPCError) as error:
            self._unanswered[key] = (message, perception)
            self.errors.append(f"{type(error).__name__}: {error}")
            return
        self._unanswered.pop(key, None)

    async def _retry_unanswered(self) -> None:
        for key, (message, perception) in list(self._unanswered.items()):
            dialogue = self.dialogues.get(key[0])
            if dialogue is None or not dialogue.is_open or dialogue.last_message != message.performative:
                self._unanswered.pop(key, None)  # the deal moved on without this reply
                continue
            await self._answer(dialogue, message, perception)

    def notify(self, notice: Notice) -> None:
        """Queue an internal notice (a job finished, a check completed) as a message for the policy."""
        self.mailbox.put_nowait(notice)

    def spawn(self, coroutine) -> asyncio.Task:
        """Run background work (a job, a download) without blocking the loop; errors are recorded."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)

        def done(finished: asyncio.Task) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                self.errors.append(repr(finished.exception()))
                log.error("%s: background task failed: %r", self.name, finished.exception())

        task.add_done_callback(done)
        return task

    # --- act ----------------------------------------------------------------------------------------

    async def act(self) -> None:
        context = await self.context(None, None)
        try:
            await self._retry_unanswered()
            await self.keep_obligations()
            for reply in self.policy.act(context):
                await self.send(reply)
            for reply in deadline_duties(self.address, self.dialogues.open(), context.now):
                await self.send(reply)
        except (RPCUnavailable, RPCError) as error:  # the node is unreachable or refused: retried next act
            self.errors.append(f"{type(error).__name__}: {error}")
            log.warning("%s: act: %s", self.name, error)
        except Exception as error:  # noqa: BLE001 - reported, the loop goes on
            self.errors.append(f"{type(error).__name__}: {error}")
            log.exception("%s: act failed", self.name)
        # Expired as far as the chain has been read: an acceptance made in time but not yet seen keeps its request.
        for deal_id in self.dialogues.drop_expired_requests(min(context.now, self.connection.feed.synced_time)):
            self.locks.release(deal_id)

    # --- context ------------------------------------------------------------------------------------

    def now(self) -> int:
        return self.connection.feed.now()

    async def context(self, dialogue: Dialogue | None, message, perception: dict | None = None) -> Context:
        perception = perception or (message.payload if isinstance(message, Notice) else {})
        return self.sources.context(self.role, self.address, self.now, dialogue, self.dialogues.open(),
                                    self.dialogues.open_deals(), self.locks, perception)

    # --- send ---------------------------------------------------------------------------------------

    async def send(self, reply: Reply | None, trigger_at: float | None = None) -> SentTransaction | None:
        """Check a reply against the scheme and the locks, then submit it."""
        if reply is None:
            return None
        dialogue = self.dialogues.get(reply.deal_id) if reply.deal_id else None
        if dialogue is not None:
            if reply.performative in dialogue.in_flight:
                return None  # already sent, not yet seen on chain: handlers are idempotent
            if reply.performative != Performative.REQUEST and not is_valid_reply(dialogue.status, reply.performative):
                log.debug("%s: %s is not a valid reply in %s", self.name, reply.performative, dialogue.status.name)
                return None
        try:
            self.escrow.hold_for(reply, dialogue)
        except LockUnavailable as refused:
            log.debug("%s: %s refused by locks: %s", self.name, reply.performative, refused)
            return None
        # Marked before the await: the act task and the reaction loop must never both send it.
        if dialogue is not None:
            dialogue.in_flight.add(reply.performative)
        try:
            sent = await self.transactions.send(reply, dialogue, trigger_at)
        except BaseException:
            if dialogue is not None:
                dialogue.in_flight.discard(reply.performative)
            self.escrow.release_unsent(reply.performative, reply.deal_id)
            raise
        self.latency.record(sent)
        self.after_send(reply, sent)
        return sent

    # --- bookkeeping --------------------------------------------------------------------------------

    def _on_refused(self, sent: SentTransaction) -> None:
        """The node refused a pipelined transaction: forget it was sent, so obligations send it again."""
        self.errors.append(f"{sent.kind} refused: {sent.error}")
        self._on_receipt(sent, refused=True)

    def _on_receipt(self, sent: SentTransaction, refused: bool = False) -> None:
        if refused or not sent.succeeded:
            self.failed_transactions.append(sent)
            dialogue = self.dialogues.get(sent.deal_id) if sent.deal_id else None
            if dialogue is not None:
                dialogue.in_flight.discard(Performative(sent.kind))
                self.escrow.release_unsent(Performative(sent.kind), sent.deal_id)
            if self.mailbox is not None:
                self.notify(Notice(NoticeKind.TX_FAILED, sent.deal_id, {"kind": sent.kind, "tx": sent.tx_hash},
                                   time.perf_counter()))

    async def escrow_balance(self) -> int:
        """This agent's available (unlocked) balance in the market's escrow."""
        return await self.connection.backend.available(self.connection.deployment.token, self.address)

    async def wallet_balance(self) -> int:
        """This agent's balance of the market's token in its own wallet (outside the escrow)."""
        return await self.connection.backend.balance_of(self.connection.deployment.token, self.address)

    # --- inspection ---------------------------------------------------------------------------------

    def state(self) -> dict:
        """A snapshot of the agent's state, for reports and tests."""
        return {
            "name": self.name,
            "role": self.role.value,
            "address": self.address,
            "open_dialogues": len(self.dialogues.open()),
            "dialogues_by_status": {
                s.name: sum(1 for d in self.dialogues.by_id.values() if d.status == s) for s in Status
            },
            "arrivals": {a.value: n for a, n in self.dialogues.counts.items()},
            "free_funds": self.locks.free_funds,
            "free_capacity": self.locks.free_capacity,
            "transactions": len(self.outbox.sent),
            "failed_transactions": len(self.failed_transactions),
            "gas_spent_wei": self.outbox.gas_spent_wei,
            "errors": list(self.errors),
        }
