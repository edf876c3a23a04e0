"""The market model: a whole market of agents, stepped over a real chain or the market in memory (the market
beneath is `agents.simulation.markets`: a `ChainMarket` or a `MemoryMarket`).

Like a Mesa model, it owns the agents and steps them in a fixed order with a seeded random generator,
so that the same seed gives the same outcome. Each step is a few rounds; in each round every agent acts,
the model mines one block at a timestamp it chooses (automine is off), and the block's events are
delivered to the agents, whose reactions go into the next block. Jobs run for real (subprocesses) and
the model waits for them inside the step, so their wall time never leaks into chain time.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from eth_account import Account

from agents.chain.scheme import Call
from agents.deploy.addresses import Deployment
from agents.jobs.store import ResultStore
from agents.knowledge.directory import PROFILE_SCHEMA_UID
from agents.knowledge.reputation import ReputationBook
from agents.oracles.source import TokenSpec, simulated_state_source
from agents.policy import Role
from agents.runtime.agent import Agent, AgentConfig
from agents.runtime.context import ContextSources
from agents.runtime.outbox import Outbox
from agents.runtime.transactions import MarketTransactions
from agents.simulation.builders import TOKEN_SYMBOL, AgentBuilder, AgentSpec, directory_profile
from agents.simulation.demand import record_job_values, submit_jobs
from agents.simulation.scenario import Scenario

log = logging.getLogger(__name__)

MAX_ROUNDS_PER_STEP = 8
# Chain history, the directory and reputations are re-read every this many steps: they change on the
# scale of whole deals, and reading them is a good part of a step's cost.
KNOWLEDGE_REFRESH_STEPS = 2
# The payment token is a stablecoin-like asset with a little volatility; ETH prices the gas.
SIMULATED_TOKENS = {
    TOKEN_SYMBOL: TokenSpec(initial_price=1.0, volatility_per_year=0.05),
    "ETH": TokenSpec(initial_price=3000.0, volatility_per_year=0.7),
}
# Stepped agents queue their transactions; the model submits every queue in one batch, in agent order,
# before it mines the block: the same transactions in the same order on every run.
STEPPED = AgentConfig(agent_timeout=0.0, services_interval=0.0, max_reactions=10_000, sending="deferred")


# A market run allocates millions of objects that reference counting frees, and few that form cycles (about two
# hundred in a 300-agent run of a thousand deals). Python's default schedule (the young generation every 700 net
# allocations, the whole heap every hundred of those at most) spent a tenth of that run collecting next to nothing.
RUN_GC_THRESHOLD = 50_000


@contextmanager
def rare_collections(threshold: int = RUN_GC_THRESHOLD) -> Iterator[None]:
    """The cyclic garbage collector's youngest generation collected every `threshold` allocations instead of
    every 700, for the duration; the process's own setting comes back after."""
    previous = gc.get_threshold()
    gc.set_threshold(threshold, *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


@dataclass
class MarketModel:
    """Mesa's Model: owns the agents (built by agents.simulation.builders), the clock and the random
    generator, and steps them; the DataCollector (agents.simulation.collector) observes it after each step."""

    scenario: Scenario
    market: object  # the market beneath: agents.simulation.markets.ChainMarket or .memory_market.MemoryMarket
    workdir: Path
    phase_seconds: dict[str, float] = field(default_factory=dict)  # wall time per phase of the steps
    events_log: list[str] = field(default_factory=list)

    def __post_init__(self):
        # Each requested job's private value to its client, in USD, by deal id (0x-hex).
        self.job_values: dict[str, float] = {}
        self.demand_log: list[dict] = []  # one row per submitting step: demand factor, burst, jobs arrived
        self.rng = np.random.default_rng(self.scenario.seed)
        self.unit = 10**self.scenario.token_decimals
        self.specs: list[AgentSpec] = []
        self.live: dict[str, Agent] = {}
        self.down: dict[str, int] = {}  # agent name -> step it comes back
        self.restarts = 0
        self.step_index = 0
        self.time = 0
        self.state_source = None
        self.store = ResultStore(self.workdir / "store")
        self._provider_scores: dict = {}  # address -> score under the current reputation book ("book": which)

    # --- setup --------------------------------------------------------------------------------------

    @property
    def deployment(self) -> Deployment:
        return self.market.deployment

    @property
    def funder_key(self) -> str:
        return self.market.funder_key

    async def setup(self) -> None:
        self.base_fee_wei = int(self.scenario.base_fee_gwei * 10**9)
        self.connection = await self.market.open(self.base_fee_wei)
        self.connection.feed.extrapolate = False
        self.connection.feed.fees.base_fee = self.base_fee_wei
        self.head_block = await self.market.block_number()
        self.start_time = await self.market.latest_time() + 1
        self.time = self.start_time - 1
        # Gas fees are the market's (the base fee held, and the tip the agents pay); prices and electricity are
        # modelled.
        gas = self.market.gas_source(min_priority_fee_wei=self.connection.feed.fees.priority_fee)
        self.state_source = simulated_state_source(self.scenario.seed, start_time=self.start_time,
                                                   tokens=SIMULATED_TOKENS, gas=gas)
        sources = ContextSources(global_state_source=self.state_source, reputation=self.provider_reputation,
                                 directory=self.live_listings, client_reputation=self.client_reputation,
                                 validator_reputation=self.validator_reputation)
        config = replace(STEPPED, work_inline=self.market.work_inline)
        builder = AgentBuilder(self.scenario, self.connection, self.store, self.workdir, config, sources,
                               court_key=await self._court_key(), job_runner=self.market.job_runner)
        self.specs = builder.plan()
        self.validator_addresses = [s.key.address for s in self.specs if s.role == Role.VALIDATOR]
        # The court is the funder, which has its own gas money.
        await self.market.give_gas_money([spec.key.address for spec in self.specs if spec.role != Role.COURT])
        # This run's own history starts here (a deployment may have served earlier runs).
        self.first_block = await self.market.block_number() + 1
        await self._register_providers()
        await self._fund_agents()
        self.connection.feed.latest_block = await self.market.block_number()
        self.history, self.directory = self.market.knowledge(self.first_block)
        await self._refresh_market_knowledge()
        for spec in self.specs:
            await self._start_agent(spec)

    async def _court_key(self):
        """The court's key: the funder's, the account this simulation deploys its markets with as court. A
        market deployed with another court gets no court agent: its disputes unwind after the court window."""
        court = await self.market.court()
        funder = Account.from_key(self.funder_key)
        if court == funder.address:
            return funder
        self.events_log.append(f"the market's court {court} is not the funder: no court agent")
        return None

    async def _fund_agents(self) -> None:
        """Give every agent gas money and its float: minted, then approved and deposited in the escrow by the
        model, except for validators, which deposit the stake they keep themselves."""
        own = self.market.own  # the model's transactions: never through a simulated outage
        funder = own.outbox(Account.from_key(self.funder_key), self.deployment.chain_id, self.connection.feed.fees,
                            mode="awaited")
        scenario = self.scenario
        floats = {f"{group.name}-{n}": int(group.float_tokens * self.unit)
                  for group in (*scenario.providers, *scenario.clients, *scenario.validators) for n in range(group.count)}
        deposited = {f"{group.name}-{n}" for group in (*scenario.providers, *scenario.clients)
                     for n in range(group.count)}
        token_codec = self.connection.token_codec
        for spec in self.specs:
            amount = floats.get(spec.name, 0)
            if amount:
                await funder.send_call(self._call(self.deployment.token, token_codec, "mint", (spec.key.address, amount),
                                                  100_000, "mint"))
        await self.mine()
        for spec in self.specs:
            amount = floats.get(spec.name, 0)
            if not amount or spec.name not in deposited:
                continue
            outbox = own.outbox(spec.key, self.deployment.chain_id, self.connection.feed.fees, mode="awaited")
            escrow = MarketTransactions.open(self.connection, outbox)
            await escrow.approve_token()
            await escrow.deposit(amount)
        await self.mine()

    def _call(self, to: str, codec, function: str, args: tuple, gas: int, kind: str) -> Call:
        """A transaction of the model's own, encoded where the backend needs calldata."""
        data = codec.encode_call(function, *args) if self.market.own.encodes_calls else b""
        return Call(to, data, gas, kind, None, function, args)

    async def _register_providers(self) -> None:
        """Every provider lists what it sells in the service directory (revocable EAS attestations of the
        profile schema), where clients find whom to address their requests to. Signed by each provider
        and submitted in one batch, like any round of the market."""
        outboxes = []
        for spec, group in self._provider_groups():
            profile = directory_profile(group, self.deployment)
            outbox = self.market.own.outbox(spec.key, self.deployment.chain_id, self.connection.feed.fees,
                                            mode="deferred")
            request = (PROFILE_SCHEMA_UID, (spec.key.address, 0, True, b"\x00" * 32, profile.encode(), 0))
            # EAS stores every word of the profile (~20 slots): generous, since unused gas is not charged.
            await outbox.send_call(self._call(self.deployment.eas, self.connection.eas_codec, "attest", (request,),
                                              1_500_000, "directory"))
            outboxes.append(outbox)
        await self.mine(outboxes)
        receipts = await self.market.own.collect_receipts(outboxes)
        if len(receipts) != len(outboxes) or not all(tx.succeeded for tx in receipts):
            raise RuntimeError("registering the providers in the service directory failed")

    def _provider_groups(self):
        for spec in self.specs:
            if spec.role == Role.PROVIDER:
                yield spec, next(g for g in self.scenario.providers if g.name == spec.group)

    async def _refresh_market_knowledge(self) -> None:
        """What every agent can read on chain: the directory's listings and reputations from history."""
        def refresh():
            for part, work in (
                ("history", self.history.refresh),
                ("directory", lambda: setattr(self, "listings", self.directory.search())),
                ("reputation", lambda: setattr(self, "reputation_book",
                                               ReputationBook.from_history(self.history, self.time))),
            ):
                started = time.perf_counter()
                work()
                self._timed(f"knowledge: {part}", started)

        if self.market.work_inline:  # nothing to wait for: the market is in this process
            refresh()
        else:
            await asyncio.to_thread(refresh)

    def provider_reputation(self, address: str) -> float:
        # Clients rank every listed provider for each request: a score is looked up once per refreshed book.
        scores = self._provider_scores
        if scores.get("book") is not self.reputation_book:
            scores.clear()
            scores["book"] = self.reputation_book
        if address not in scores:
            scores[address] = self.reputation_book.provider_score(address)
        return scores[address]

    def client_reputation(self, address: str) -> float:
        return self.reputation_book.client_score(address)

    def validator_reputation(self, address: str):
        return self.reputation_book.validator(address)

    def live_listings(self) -> list:
        return self.listings

    async def _start_agent(self, spec: AgentSpec) -> None:
        agent = spec.build()
        await agent.setup()
        self.live[spec.name] = agent

    # --- the clock and blocks -----------------------------------------------------------------------

    async def mine(self, outboxes: list[Outbox] | None = None) -> None:
        """Submit queued transactions (the live agents', by default), then mine them into one block at the
        model's time."""
        if outboxes is None:
            outboxes = [self.live[name].outbox for name in sorted(self.live)]
        await self.market.own.submit_queued(outboxes)
        self.time = await self.market.mine_block(self.time + 1)
        self.connection.feed.set_time(self.time)

    async def _advance_to(self, timestamp: int) -> None:
        if timestamp > self.time:
            self.time = timestamp - 1
        self.connection.feed.set_time(self.time)

    # --- stepping -----------------------------------------------------------------------------------

    def _timed(self, phase: str, started: float) -> None:
        self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + time.perf_counter() - started

    async def step(self, submitting: bool) -> None:
        self.step_index += 1
        await self._advance_to(self.start_time + self.step_index * self.scenario.step_seconds)
        self._apply_faults()
        await self._restart_due_agents()
        if self.step_index % KNOWLEDGE_REFRESH_STEPS == 0:
            started = time.perf_counter()
            await self._refresh_market_knowledge()
            self._timed("market knowledge", started)
        if submitting:
            submit_jobs(self)
        for _ in range(MAX_ROUNDS_PER_STEP):
            sent_before = self._transactions_sent()
            started = time.perf_counter()
            for name in sorted(self.live):
                await self.live[name].act()
            self._timed("act", started)
            started = time.perf_counter()
            await self.mine()
            self._timed("submit and mine", started)
            started = time.perf_counter()
            await self._deliver()
            self._timed("deliver and react", started)
            started = time.perf_counter()
            await self._wait_for_work()
            self._timed("jobs and their reactions", started)
            if self._transactions_sent() == sent_before:
                break
        # Receipts feed gas accounting and failure notices: once a step is soon enough (a step is far
        # shorter than any deadline) and saves a request per round.
        started = time.perf_counter()
        await self.market.own.collect_receipts([self.live[name].outbox for name in sorted(self.live)])
        await self._drain_all()
        record_job_values(self)
        self._timed("receipts", started)

    def _transactions_sent(self) -> int:
        return sum(len(agent.outbox.sent) for agent in self.live.values())

    async def _deliver(self) -> None:
        """Poll the block's events and let every agent react, in a fixed order, until nothing is left."""
        try:
            await self.connection.feed.poll_once()
        except Exception as error:  # noqa: BLE001 - an outage: agents see nothing this round
            self.events_log.append(f"step {self.step_index}: feed: {type(error).__name__}")
            return
        await self._drain_all()

    async def _drain_all(self) -> None:
        for name in sorted(self.live):
            await self._drain(self.live[name])

    async def _drain(self, agent: Agent) -> None:
        while not agent.mailbox.empty():
            batch = []
            while not agent.mailbox.empty():
                batch.append(agent.mailbox.get_nowait())
            # Chain messages in chain order, then notices by deal: the same order on every run.
            batch.sort(key=lambda m: (0, m.log_key, b"") if hasattr(m, "log_key") else (1, (0, 0), m.deal_id or b""))
            for message in batch:
                await agent.react(message)

    async def _wait_for_work(self) -> None:
        """Wait for the jobs and validations agents started, then deliver their notices."""
        while True:
            tasks = [task for agent in self.live.values() for task in agent.background_work()]
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)
            for name in sorted(self.live):
                await self._drain(self.live[name])

    # --- faults -------------------------------------------------------------------------------------

    def _apply_faults(self) -> None:
        step = self.step_index
        self.market.set_outage(any(
            f.kind == "rpc-outage" and f.at_step <= step < f.at_step + f.steps for f in self.scenario.faults
        ))
        for fault in self.scenario.faults:
            if fault.kind == "restart" and fault.at_step == step and fault.agent in self.live:
                self.live.pop(fault.agent).kill()  # a killed process loses the jobs it was running
                self.down[fault.agent] = step + fault.steps
                self.events_log.append(f"step {step}: killed {fault.agent}")

    async def _restart_due_agents(self) -> None:
        for name, back_at in list(self.down.items()):
            if self.step_index >= back_at:
                del self.down[name]
                spec = next(s for s in self.specs if s.name == name)
                await self._start_agent(spec)
                self.restarts += 1
                self.events_log.append(f"step {self.step_index}: restarted {name} from chain history")

    # --- the end ------------------------------------------------------------------------------------

    def open_request_ids(self) -> set[bytes]:
        """Requests still open for offers at live clients (not agreed, not yet expired)."""
        return {d.deal_id for agent in self.live.values() if agent.role == Role.CLIENT
                for d in agent.dialogues.open() if d.agreed_at is None}

    def open_deal_ids(self) -> set[bytes]:
        ids = set()
        for agent in self.live.values():
            if agent.role == Role.CLIENT:
                ids |= {d.deal_id for d in agent.dialogues.open() if d.agreed_at is not None}
        return ids

    async def run(self, after_step: Callable[[], Awaitable[None]] | None = None,
                  progress: Callable[[int, int], None] | None = None) -> None:
        """The market steps, then the drain (no new jobs, every agent back up) until no deal is open,
        then the sweep. `after_step` runs after each (the data collector)."""
        with rare_collections():
            await self._run(after_step, progress)

    async def _run(self, after_step: Callable[[], Awaitable[None]] | None,
                   progress: Callable[[int, int], None] | None) -> None:
        total = self.scenario.steps + self.scenario.drain_steps

        async def done_step(count: int) -> None:
            if after_step is not None:
                await after_step()
            if progress:
                progress(count, total)

        for i in range(self.scenario.steps):
            await self.step(submitting=True)
            await done_step(i + 1)
        for i in range(self.scenario.drain_steps):
            for name in list(self.down):
                self.down[name] = self.step_index  # everyone comes back for the drain
            await self.step(submitting=False)
            await done_step(self.scenario.steps + i + 1)
            # Done when nothing is agreed and open, no request is still being negotiated, no job is queued.
            if not self.open_deal_ids() and not self.open_request_ids() and not any(
                    getattr(a, "queue", None) for a in self.live.values()):
                break
        self.market.set_outage(False)
        await self.sweep(after_step=lambda: done_step(self.step_index))
        if progress:
            progress(self.step_index, self.step_index)

    async def sweep(self, max_steps: int = 100, after_step: Callable[[], Awaitable[None]] | None = None) -> None:
        """Close whatever is still open: keep stepping (no new jobs) until every agreed deal has closed, jobs still
        running finishing on their time and each deadline passing in turn, after which the party that gains (or
        anyone) moves that deal on. Stepping rather than jumping to a deadline lets a job that is due before its
        deadline be delivered. The run ends with no deal left open."""
        for _ in range(max_steps):
            if not any(d.agreed_at is not None and d.deadline is not None
                       for agent in self.live.values() for d in agent.dialogues.open()):
                return
            await self.step(submitting=False)
            if after_step is not None:
                await after_step()

    async def close(self) -> None:
        for agent in self.live.values():
            agent.kill()
        await self.market.close(self.connection)
