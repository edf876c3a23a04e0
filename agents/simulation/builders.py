"""Agent builders: how a scenario's populations become agents (Mesa's agent classes and their creation).

The planner gives every agent a name, a key and a way to (re)build it; the model keeps the plan, so an
agent it restarts is the same agent, with the same key and policy parameters. Policies come from the
strategy registry.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from agents.deploy.addresses import Deployment
from agents.hardware import HardwareProfile
from agents.jobs.store import ResultStore
from agents.knowledge.directory import Profile
from agents.knowledge.directory import Role as DirectoryRole
from agents.policy import Role
from agents.roles import ClientAgent, ProviderAgent, ValidatorAgent
from agents.runtime.agent import Agent, AgentConfig
from agents.runtime.connection import MarketConnection
from agents.runtime.context import ContextSources
from agents.simulation.scenario import ClientGroup, ProviderGroup, Scenario
from agents.strategies.costs import CostModel
from agents.strategies.registry import strategy

TOKEN_SYMBOL = "tUSD"
# Seconds one work unit of each workload takes on the reference machine (measured on a 2-core dev VM).
# Simulated providers bill electricity on work units / their scenario speed, not on measured wall time,
# which varies from run to run: the same seed must give the same P&L.
REFERENCE_SECONDS_PER_UNIT = {
    "sha256-chain": 6.0e-7,
    "matmul": 4.7e-10,
    "monte-carlo-pi": 2.7e-8,
    "prime-sieve": 1.3e-9,
    "sort": 5.0e-9,
}


def simulated_job_seconds(spec, speed: float) -> float:
    """How long a job takes on a simulated machine `speed` times as fast as the reference machine."""
    if spec.workload is None:
        return spec.limits.wall_seconds
    return spec.estimated_cost() * REFERENCE_SECONDS_PER_UNIT[spec.workload] / speed


def agent_key(seed: int, index: int) -> LocalAccount:
    """The key of the scenario's `index`-th agent: the seed decides who is who."""
    return Account.from_key(keccak(text=f"compute-market agent {seed} {index}"))


@dataclass
class AgentSpec:
    """How to (re)build one agent: the model keeps it so a restarted agent is the same agent."""

    name: str
    group: str
    role: Role
    strategy: str
    key: LocalAccount
    build: Callable[[], Agent]
    region: str | None = None
    power_watts: float = 0.0


@dataclass
class AgentBuilder:
    """Builds a scenario's agents on one connection, every one with the same `config` and the same
    `sources` of knowledge (global state, reputations, the directory); providers add their machine."""

    scenario: Scenario
    connection: MarketConnection
    store: ResultStore
    workdir: Path
    config: AgentConfig
    sources: ContextSources

    def plan(self) -> list[AgentSpec]:
        """Every agent of the scenario, in a fixed order: validators, then provider and client groups."""
        scenario = self.scenario
        indices = itertools.count(1)  # one key per agent, in a fixed order

        def members(prefix: str, count: int) -> Iterator[tuple[str, LocalAccount, int]]:
            for n in range(count):
                index = next(indices)
                yield f"{prefix}-{n}", agent_key(scenario.seed, index - 1), index

        specs = [AgentSpec(name, "validator", Role.VALIDATOR, "validator", key, self._validator(name, key))
                 for name, key, _ in members("validator", scenario.validators)]
        for group in scenario.providers:
            for name, key, index in members(group.name, group.count):
                specs.append(AgentSpec(name, group.name, Role.PROVIDER, group.strategy, key,
                                       self._provider(name, key, group, index),
                                       region=group.region, power_watts=group.hardware.power_watts))
        for group in scenario.clients:
            for name, key, _ in members(group.name, group.count):
                specs.append(AgentSpec(name, group.name, Role.CLIENT, group.strategy, key,
                                       self._client(name, key, group)))
        return specs

    def _provider(self, name: str, key: LocalAccount, group: ProviderGroup, index: int) -> Callable[[], Agent]:
        machine = group.hardware
        capacity = machine.capacity
        hardware = HardwareProfile.from_dict({
            "cpu_model": "simulated", "physical_cores": capacity.cores, "logical_cores": capacity.cores,
            "ram_bytes": capacity.ram_bytes, "gpus": [], "benchmark_score": 1.0,
            "power_idle_watts": machine.power_watts * 0.3, "power_full_watts": machine.power_watts,
        })
        cost_model = CostModel(token_symbol=TOKEN_SYMBOL, token_decimals=self.scenario.token_decimals)
        chosen = strategy(group.strategy, Role.PROVIDER)

        def build() -> Agent:
            params = dict(group.params)
            if chosen.seeded:
                params.setdefault("seed", self.scenario.seed * 1000 + index)
            return ProviderAgent(
                name, Role.PROVIDER, key, self.connection, chosen.build(cost_model=cost_model, **params),
                capacity=capacity, store=self.store, workdir=self.workdir / "jobs" / name,
                billed_seconds=lambda spec, result: simulated_job_seconds(spec, machine.speed), config=self.config,
                sources=replace(self.sources, hardware=hardware, region=group.region),
            )

        return build

    def _client(self, name: str, key: LocalAccount, group: ClientGroup) -> Callable[[], Agent]:
        scenario = self.scenario
        chosen = strategy(group.strategy, Role.CLIENT)

        def build() -> Agent:
            params = dict(group.params)
            params["budget"] = int(float(params.get("budget", 2.0)) * 10**scenario.token_decimals)
            params.setdefault("offer_window", 4 * scenario.step_seconds)
            params.setdefault("commence_within", 3 * scenario.step_seconds)
            params.setdefault("validation_window", 3 * scenario.step_seconds)
            params.setdefault("job_duration", 3 * scenario.step_seconds)
            params.setdefault("decision_delay", 1)
            params.setdefault("invite", 3)
            if chosen.seeded:
                params.setdefault("seed", scenario.seed * 1000 + int.from_bytes(keccak(text=name)[:4], "big"))
            return ClientAgent(name, Role.CLIENT, key, self.connection, chosen.build(**params), store=self.store,
                               max_open_requests=3, config=self.config, sources=self.sources)

        return build

    def _validator(self, name: str, key: LocalAccount) -> Callable[[], Agent]:
        chosen = strategy("validator", Role.VALIDATOR)

        def build() -> Agent:
            return ValidatorAgent(name, Role.VALIDATOR, key, self.connection, chosen.build(),
                                  workdir=self.workdir / "jobs" / name, config=self.config,
                                  sources=self.sources)

        return build


def directory_profile(group: ProviderGroup, deployment: Deployment) -> Profile:
    """What a provider of `group` lists in the service directory: its region and machine."""
    capacity = group.hardware.capacity
    return Profile(
        roles=DirectoryRole.SELLER, market=deployment.market, token=deployment.token, region=group.region,
        cpu_cores=capacity.cores, ram_bytes=capacity.ram_bytes, gpu_count=capacity.gpus,
    )
