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
from agents.protocol import ValidationScheme
from agents.roles import ClientAgent, CourtAgent, ProviderAgent, ValidatorAgent
from agents.runtime.agent import Agent, AgentConfig
from agents.runtime.connection import MarketConnection
from agents.runtime.context import ContextSources
from agents.simulation.scenario import (
    ClientGroup,
    Hardware,
    ProviderGroup,
    Scenario,
    ValidatorGroup,
    simulated_job_seconds,
)
from agents.strategies.costs import CostModel
from agents.strategies.registry import strategy

TOKEN_SYMBOL = "tUSD"
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
    `sources` of knowledge (global state, reputations, the directory); providers add their machine. The court
    signs with `court_key`, the account the market was deployed with as its court."""

    scenario: Scenario
    connection: MarketConnection
    store: ResultStore
    workdir: Path
    config: AgentConfig
    sources: ContextSources
    court_key: LocalAccount | None  # None: the market's court is not ours to play, and no court agent runs
    job_runner: Callable | None = None  # how jobs run: run_job by default, or a JobCache's run (each spec once)

    def plan(self) -> list[AgentSpec]:
        """Every agent of the scenario, in a fixed order: validators, provider and client groups, the court."""
        scenario = self.scenario
        indices = itertools.count(1)  # one key per agent, in a fixed order

        def members(groups) -> Iterator[tuple[object, str, LocalAccount, int]]:
            for group in groups:
                for n in range(group.count):
                    index = next(indices)
                    yield group, f"{group.name}-{n}", agent_key(scenario.seed, index - 1), index

        validators = list(members(scenario.validators))
        providers = list(members(scenario.providers))
        clients = list(members(scenario.clients))
        # Scenarios name agents (a colluder's partner, a client's own validator); policies hold addresses.
        self.addresses = {name: key.address for _, name, key, _ in validators + providers + clients}
        specs = [AgentSpec(name, group.name, Role.VALIDATOR, group.strategy, key, self._validator(name, key, group),
                           region=group.region, power_watts=group.hardware.power_watts)
                 for group, name, key, _ in validators]
        specs += [AgentSpec(name, group.name, Role.PROVIDER, group.strategy, key,
                            self._provider(name, key, group, index),
                            region=group.region, power_watts=group.hardware.power_watts)
                  for group, name, key, index in providers]
        specs += [AgentSpec(name, group.name, Role.CLIENT, group.strategy, key, self._client(name, key, group))
                  for group, name, key, _ in clients]
        court = scenario.court
        if self.court_key is not None:
            specs.append(AgentSpec("court", "court", Role.COURT, court.strategy, self.court_key, self._court(),
                                   region=court.region, power_watts=court.hardware.power_watts))
        return specs

    def _address(self, name_or_address: str) -> str:
        """The address of a scenario's agent named so, or the argument itself (an address)."""
        return self.addresses.get(name_or_address, name_or_address)

    def _provider(self, name: str, key: LocalAccount, group: ProviderGroup, index: int) -> Callable[[], Agent]:
        machine = group.hardware
        capacity = machine.capacity
        hardware = HardwareProfile.from_dict({
            "cpu_model": "simulated", "physical_cores": capacity.cores, "logical_cores": capacity.cores,
            "ram_bytes": capacity.ram_bytes, "gpus": [], "benchmark_score": 1.0,
            "power_idle_watts": machine.power_watts * 0.3, "power_full_watts": machine.power_watts,
        })
        cost_model = CostModel(token_symbol=TOKEN_SYMBOL, token_decimals=self.scenario.token_decimals,
                               hardware_usd_per_hour=machine.usd_per_hour)
        chosen = strategy(group.strategy, Role.PROVIDER)

        def build() -> Agent:
            params = dict(group.params)
            # Offers outlive the step they are made in: clients decide on them in the steps that follow.
            params.setdefault("offer_ttl", 2 * self.scenario.step_seconds)
            if chosen.seeded:
                params.setdefault("seed", self.scenario.seed * 1000 + index)
            return ProviderAgent(
                name, Role.PROVIDER, key, self.connection, chosen.build(cost_model=cost_model, **params),
                capacity=capacity, store=self.store, workdir=self.workdir / "jobs" / name,
                billed_seconds=self._billing(machine), hold_seconds=lambda spec: simulated_job_seconds(spec, machine.speed),
                job_runner=self.job_runner, config=self.config, sources=replace(self.sources, hardware=hardware, region=group.region),
            )

        return build

    def _client(self, name: str, key: LocalAccount, group: ClientGroup) -> Callable[[], Agent]:
        scenario = self.scenario
        chosen = strategy(group.strategy, Role.CLIENT)

        def build() -> Agent:
            params = dict(group.params)
            params["budget"] = int(float(params.get("budget", 2.0)) * 10**scenario.token_decimals)
            params.setdefault("offer_window", 4 * scenario.step_seconds)
            params.setdefault("counter_ttl", 2 * scenario.step_seconds)  # answered in this step or the next
            params.setdefault("commence_within", 3 * scenario.step_seconds)
            params.setdefault("validation_window", 3 * scenario.step_seconds)
            params.setdefault("job_duration", 3 * scenario.step_seconds)
            params.setdefault("decision_delay", 1)
            params.setdefault("invite", 3)
            if params.get("validator"):  # a client that names its own validator uses it for every job
                params["validator"] = self._address(params["validator"])
                params["scheme"] = ValidationScheme.VALIDATOR
            if chosen.seeded:
                params.setdefault("seed", scenario.seed * 1000 + int.from_bytes(keccak(text=name)[:4], "big"))
            params.setdefault("cost_model", CostModel(token_symbol=TOKEN_SYMBOL, token_decimals=scenario.token_decimals))
            return ClientAgent(name, Role.CLIENT, key, self.connection, chosen.build(**params), store=self.store,
                               max_open_requests=3, config=self.config, sources=self.sources)

        return build

    def _validator(self, name: str, key: LocalAccount, group: ValidatorGroup) -> Callable[[], Agent]:
        chosen = strategy(group.strategy, Role.VALIDATOR)
        unit = 10**self.scenario.token_decimals

        def build() -> Agent:
            params = dict(group.params)
            if "partner" in params:
                params["partner"] = self._address(params["partner"])
            return ValidatorAgent(name, Role.VALIDATOR, key, self.connection, chosen.build(**params),
                                  workdir=self.workdir / "jobs" / name, stake=int(group.stake_tokens * unit),
                                  billed_seconds=self._billing(group.hardware), job_runner=self.job_runner,
                                  config=self.config,
                                  sources=replace(self.sources, region=group.region))

        return build

    def _court(self) -> Callable[[], Agent]:
        court = self.scenario.court
        chosen = strategy(court.strategy, Role.COURT)

        def build() -> Agent:
            return CourtAgent("court", Role.COURT, self.court_key, self.connection, chosen.build(**court.params),
                              workdir=self.workdir / "jobs" / "court",
                              billed_seconds=self._billing(court.hardware), job_runner=self.job_runner,
                              config=self.config,
                              sources=replace(self.sources, region=court.region))

        return build

    @staticmethod
    def _billing(machine: Hardware) -> Callable:
        """Machine-seconds at full power billed for a job on a simulated machine: its run time times the share of
        the machine's cores it holds. Deterministic, unlike measured wall time."""
        def billed(spec, result) -> float:
            share = min(1.0, spec.requirements.min_cores / machine.capacity.cores)
            return simulated_job_seconds(spec, machine.speed) * share

        return billed


def directory_profile(group: ProviderGroup, deployment: Deployment) -> Profile:
    """What a provider of `group` lists in the service directory: its region and machine."""
    capacity = group.hardware.capacity
    return Profile(
        roles=DirectoryRole.SELLER, market=deployment.market, token=deployment.token, region=group.region,
        cpu_cores=capacity.cores, ram_bytes=capacity.ram_bytes, gpu_count=capacity.gpus,
    )
