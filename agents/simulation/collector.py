"""The data collector: after every step it observes each agent's holdings and costs as plain values
(Mesa's rule: record values, never references to live objects), valued in USD through the price models,
and turns them into rows with reporters, Mesa's name -> function tables: `agent_reporters` make one row
per agent and step (agent_steps.csv), `model_reporters` one row per step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.simulation.builders import AgentSpec
from agents.simulation.model import TOKEN_SYMBOL, MarketModel


@dataclass(frozen=True)
class AgentObservation:
    """One agent at the end of a step. Amounts in token units; gas and electricity summed across the
    agent's restarts."""

    step: int
    time: int
    spec: AgentSpec
    up: bool
    wallet: int
    escrow: int
    locked: int  # held in its open deals
    unit: int  # token units per token
    token_usd: float
    eth_usd: float
    gas_eth: float
    gas_usd: float  # each transaction's gas valued at the ETH price of the step it was paid in
    electricity_usd: float


# The columns of agent_steps.csv, in order.
AGENT_REPORTERS: dict[str, Callable[[AgentObservation], Any]] = {
    "step": lambda o: o.step,
    "time": lambda o: o.time,
    "agent": lambda o: o.spec.name,
    "group": lambda o: o.spec.group,
    "role": lambda o: o.spec.role.value,
    "strategy": lambda o: o.spec.strategy,
    "up": lambda o: o.up,
    "wallet_tokens": lambda o: o.wallet / o.unit,
    "escrow_tokens": lambda o: o.escrow / o.unit,
    "locked_tokens": lambda o: o.locked / o.unit,
    "token_usd": lambda o: o.token_usd,
    "eth_usd": lambda o: o.eth_usd,
    "gas_eth": lambda o: o.gas_eth,
    "gas_usd": lambda o: o.gas_usd,
    "electricity_usd": lambda o: o.electricity_usd,
    "holdings_tokens": lambda o: (o.wallet + o.escrow + o.locked) / o.unit,
    "holdings_usd": lambda o: (o.wallet + o.escrow + o.locked) / o.unit * o.token_usd,
}
MODEL_REPORTERS: dict[str, Callable[[MarketModel], Any]] = {
    "step": lambda m: m.step_index,
    "time": lambda m: m.time,
    "live_agents": lambda m: len(m.live),
    "open_deals": lambda m: len(m.open_deal_ids()),
}


@dataclass
class _Running:
    """Totals for one agent across restarts (a restarted process starts its own counters at zero)."""

    instance: int = 0
    seen_gas_wei: int = 0
    seen_job_seconds: float = 0.0
    gas_wei: int = 0
    gas_usd: float = 0.0
    electricity_usd: float = 0.0
    locked: int = 0  # held in its open deals when last seen up


@dataclass
class DataCollector:
    model: MarketModel
    agent_reporters: dict[str, Callable[[AgentObservation], Any]] = field(default_factory=lambda: AGENT_REPORTERS)
    model_reporters: dict[str, Callable[[MarketModel], Any]] = field(default_factory=lambda: MODEL_REPORTERS)
    rows: list[dict] = field(default_factory=list)  # one per agent and step
    model_rows: list[dict] = field(default_factory=list)  # one per step
    _running: dict[str, _Running] = field(default_factory=dict)

    async def collect(self) -> None:
        model = self.model
        self.model_rows.append({name: report(model) for name, report in self.model_reporters.items()})
        for observation in await self.observe():
            self.rows.append({name: report(observation) for name, report in self.agent_reporters.items()})

    async def observe(self) -> list[AgentObservation]:
        """Every planned agent now, up or down: its balances in the market and its costs so far."""
        model = self.model
        balances = await model.market.balances([spec.key.address for spec in model.specs])
        state = model.state_source.snapshot(model.time)
        token_usd, eth_usd = state.token_prices[TOKEN_SYMBOL], state.token_prices["ETH"]
        observations = []
        for i, spec in enumerate(model.specs):
            agent = model.live.get(spec.name)
            running = self._running.setdefault(spec.name, _Running())
            # A down agent's open deals are out of sight: what it had locked when last seen is taken as still
            # locked. Deals agreed or closed by its counterparties while it is down are missed until it is back.
            locked = running.locked
            if agent is not None:
                if id(agent) != running.instance:
                    running.instance, running.seen_gas_wei, running.seen_job_seconds = id(agent), 0, 0.0
                new_gas_wei = agent.outbox.gas_spent_wei - running.seen_gas_wei
                running.gas_wei += new_gas_wei
                # Paid costs are not revalued later: a cost moves with ETH's price only until it is paid.
                running.gas_usd += new_gas_wei / 1e18 * eth_usd
                running.seen_gas_wei = agent.outbox.gas_spent_wei
                if spec.power_watts:  # providers run jobs, validators and the court re-run them
                    new_seconds = agent.job_seconds - running.seen_job_seconds
                    running.seen_job_seconds = agent.job_seconds
                    kwh = spec.power_watts / 1000 * new_seconds / 3600
                    running.electricity_usd += kwh * state.electricity_prices.get(spec.region, 0.15)
                locked = running.locked = sum(d.my_locked for d in agent.dialogues.open())
            observations.append(AgentObservation(
                step=model.step_index, time=model.time, spec=spec, up=agent is not None,
                wallet=balances[i][0], escrow=balances[i][1], locked=locked, unit=model.unit,
                token_usd=token_usd, eth_usd=eth_usd, gas_eth=running.gas_wei / 1e18, gas_usd=running.gas_usd,
                electricity_usd=running.electricity_usd,
            ))
        return observations
