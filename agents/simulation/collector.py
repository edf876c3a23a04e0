"""The data collector: after every step it copies each agent's holdings and costs into plain rows
(Mesa's rule: record values, never references to live objects), valued in USD through the price models."""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.chain.calls import call_batch
from agents.policy import Role
from agents.simulation.model import TOKEN_SYMBOL, MarketModel


@dataclass
class _Running:
    """Totals for one agent across restarts (a restarted process starts its own counters at zero)."""

    instance: int = 0
    seen_gas_wei: int = 0
    seen_job_seconds: float = 0.0
    gas_wei: int = 0
    electricity_usd: float = 0.0


@dataclass
class DataCollector:
    model: MarketModel
    rows: list[dict] = field(default_factory=list)
    _running: dict[str, _Running] = field(default_factory=dict)

    async def collect(self) -> None:
        model = self.model
        connection = model.connection
        calls = []
        for spec in model.specs:
            balance = connection.token_codec.encode_call("balanceOf", spec.key.address)
            available = connection.market_codec.encode_call("available", model.deployment.token, spec.key.address)
            calls.append((model.deployment.token, balance))
            calls.append((model.deployment.market, available))
        results = await call_batch(model.direct, calls)
        state = model.state_source.snapshot(model.time)
        token_usd, eth_usd = state.token_prices[TOKEN_SYMBOL], state.token_prices["ETH"]
        unit = model.unit
        for i, spec in enumerate(model.specs):
            wallet, escrow = int.from_bytes(results[2 * i], "big"), int.from_bytes(results[2 * i + 1], "big")
            agent = model.live.get(spec.name)
            running = self._running.setdefault(spec.name, _Running())
            locked = 0
            if agent is not None:
                if id(agent) != running.instance:
                    running.instance, running.seen_gas_wei, running.seen_job_seconds = id(agent), 0, 0.0
                running.gas_wei += agent.outbox.gas_spent_wei - running.seen_gas_wei
                running.seen_gas_wei = agent.outbox.gas_spent_wei
                if spec.role == Role.PROVIDER:
                    new_seconds = agent.job_seconds - running.seen_job_seconds
                    running.seen_job_seconds = agent.job_seconds
                    kwh = spec.power_watts / 1000 * new_seconds / 3600
                    running.electricity_usd += kwh * state.electricity_prices.get(spec.region, 0.15)
                locked = sum(d.my_locked for d in agent.dialogues.open())
            gas_eth = running.gas_wei / 1e18
            tokens = (wallet + escrow + locked) / unit
            self.rows.append({
                "step": model.step_index, "time": model.time, "agent": spec.name, "group": spec.group,
                "role": spec.role.value, "strategy": spec.strategy, "up": agent is not None,
                "wallet_tokens": wallet / unit, "escrow_tokens": escrow / unit, "locked_tokens": locked / unit,
                "token_usd": token_usd, "eth_usd": eth_usd, "gas_eth": gas_eth, "gas_usd": gas_eth * eth_usd,
                "electricity_usd": running.electricity_usd, "holdings_usd": tokens * token_usd,
            })
