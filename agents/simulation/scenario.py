"""Scenario files: who trades (populations of providers, clients and validators with their strategies,
hardware and regions, and the market's court), what jobs arrive, which faults strike, for how long, from
which seed.

Every field is checked when the file is loaded; a bad file raises `ScenarioError` naming the field and
what is wrong with it, before anything touches a chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from agents.jobs.spec import InvalidJobSpec, JobSpec, Limits, Requirements
from agents.policy import Capacity, Role
from agents.simulation.fields import DEFAULTS_APPLIED, FieldReader, ScenarioError, mapping_reader
from agents.strategies.registry import strategy_names

FAULT_KINDS = ("restart", "rpc-outage")
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"


GIB = 2**30

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


def simulated_job_seconds(spec, speed: float = 1.0) -> float:
    """How long a job takes on a simulated machine `speed` times as fast as the reference machine: its declared
    duration, else its real workload's."""
    if spec.duration_seconds is not None:
        return spec.duration_seconds / speed
    if spec.workload is None:
        return spec.limits.wall_seconds
    return spec.estimated_cost() * REFERENCE_SECONDS_PER_UNIT[spec.workload] / speed



@dataclass(frozen=True)
class Hardware:
    """A simulated provider's machine: its resources, and what the simulation needs beyond them. The file
    gives memory as `ram_gb`; the capacity holds it in bytes, like every other machine in the project."""

    capacity: Capacity = Capacity(cores=8, ram_bytes=32 * GIB)
    power_watts: float = 250  # at full load
    speed: float = 1.0  # how many times faster than the reference machine it runs jobs
    price_usd: float = 0.0  # what the machine cost: amortised over its life into every job's cost
    life_years: float = 4.0

    @property
    def usd_per_hour(self) -> float:
        """The machine's amortisation per hour of its life."""
        return self.price_usd / (self.life_years * 24 * 365.25)


@dataclass(frozen=True)
class ProviderGroup:
    name: str
    count: int
    strategy: str
    params: dict[str, Any]
    region: str
    hardware: Hardware
    float_tokens: float


@dataclass(frozen=True)
class ClientGroup:
    name: str
    count: int
    strategy: str
    params: dict[str, Any]
    jobs_per_step: float  # Poisson arrival rate of jobs per client and step
    float_tokens: float


@dataclass(frozen=True)
class ValidatorGroup:
    name: str
    count: int
    strategy: str
    params: dict[str, Any]
    region: str
    hardware: Hardware  # what re-running jobs costs it in electricity (only power and speed matter)
    float_tokens: float  # minted to its wallet
    stake_tokens: float  # what it keeps deposited in escrow for stakes, topped up from its wallet


@dataclass(frozen=True)
class CourtSpec:
    """The market's court, one per market: an agent that rules on disputed deals (honest by assumption)."""

    strategy: str = "court"
    params: dict[str, Any] = field(default_factory=dict)
    region: str = "eu-west"
    hardware: Hardware = Hardware()


@dataclass(frozen=True)
class JobMixEntry:
    weight: float
    spec: JobSpec
    # What a job of this kind is worth to its client, per core-hour of its declared size, and the spread of
    # each job's private value around it (the sigma of a mean-one lognormal factor). None: clients value
    # their jobs at their budget.
    value_per_core_hour: float | None = None
    value_spread: float = 0.0

    @property
    def core_hours(self) -> float:
        return self.spec.requirements.min_cores * self.spec.estimated_seconds() / 3600

    def draw_value_usd(self, rng) -> float | None:
        """One job's private value: value per core-hour x its size x a mean-one lognormal factor."""
        if self.value_per_core_hour is None:
            return None
        factor = math.exp(self.value_spread * rng.standard_normal() - self.value_spread**2 / 2)
        return self.value_per_core_hour * self.core_hours * factor


@dataclass(frozen=True)
class Demand:
    """How the arrival rate of jobs moves around each client group's `jobs_per_step`: a daily cycle (chain time, UTC)
    and bursts. The mean over a whole day, outside bursts, is `jobs_per_step`."""

    daily_amplitude: float = 0.0  # the rate swings by this fraction of its mean over the day (0: flat)
    peak_hour: float = 14.0  # the hour of the day (UTC) at which the rate peaks
    burst_probability: float = 0.0  # the chance that a step is a burst
    burst_factor: float = 1.0  # arrivals are multiplied by this in a burst

    def factor(self, time: float, burst: bool) -> float:
        """The multiplier of the mean rate at chain time `time` (seconds since the epoch)."""
        hour = (time % 86_400) / 3600
        daily = 1.0 + self.daily_amplitude * math.cos(2 * math.pi * (hour - self.peak_hour) / 24)
        return daily * (self.burst_factor if burst else 1.0)


@dataclass(frozen=True)
class Fault:
    kind: str
    at_step: int
    steps: int  # how long it lasts
    agent: str | None = None  # for restarts: the agent's name, e.g. "cheap-2"


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    steps: int
    step_seconds: int
    drain_steps: int
    providers: tuple[ProviderGroup, ...]
    clients: tuple[ClientGroup, ...]
    validators: tuple[ValidatorGroup, ...]
    validator_share: float  # fraction of requests that use the validator scheme
    jobs: tuple[JobMixEntry, ...]
    faults: tuple[Fault, ...] = field(default_factory=tuple)
    token_decimals: int = 18
    eth_usd: float = 3000.0
    court: CourtSpec = CourtSpec()
    # The chain's base fee, held at this level block after block (an L2's is a few hundredths of a gwei):
    # what every transaction of the market pays per gas, with the agents' small priority fee.
    base_fee_gwei: float = 0.0
    demand: Demand = Demand()
    # The fields the file left out and the defaults they took, "where: field = value" (summary.json lists them).
    defaults_applied: tuple[str, ...] = ()

    @property
    def agent_count(self) -> int:
        """Every agent of the market, the court included."""
        return sum(g.count for g in (*self.providers, *self.clients, *self.validators)) + 1

    def scaled(self, agents: int) -> "Scenario":
        """The same market with about `agents` agents, in the same proportions (for benchmarks)."""
        factor = agents / self.agent_count

        def scale(n):
            return max(1, round(n * factor))

        return Scenario(
            name=f"{self.name}-x{agents}", seed=self.seed, steps=self.steps, step_seconds=self.step_seconds,
            drain_steps=self.drain_steps,
            providers=tuple(_replace_count(g, scale(g.count)) for g in self.providers),
            clients=tuple(_replace_count(g, scale(g.count)) for g in self.clients),
            validators=tuple(_replace_count(g, scale(g.count)) for g in self.validators),
            validator_share=self.validator_share, jobs=self.jobs, faults=(), token_decimals=self.token_decimals,
            eth_usd=self.eth_usd, court=self.court, base_fee_gwei=self.base_fee_gwei, demand=self.demand,
            defaults_applied=self.defaults_applied,
        )


def _replace_count(group, count):
    return replace(group, count=count)


def load_scenario(path_or_name: str | Path) -> Scenario:
    """Load a scenario file, or a shipped scenario by name ("default", "large", "adversarial")."""
    path = Path(path_or_name)
    if not path.exists():
        shipped = SCENARIO_DIR / f"{path_or_name}.yaml"
        if not shipped.exists():
            names = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
            raise ScenarioError(f"no scenario file {path_or_name!r}; shipped scenarios: {names}")
        path = shipped
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ScenarioError(f"{path}: not valid YAML: {error}") from error
    return parse_scenario(data, source=str(path))


def parse_scenario(data: Any, source: str = "scenario") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: the top level must be a mapping")
    applied: list[str] = []
    token = DEFAULTS_APPLIED.set(applied)
    try:
        scenario = _parse(data, source)
    finally:
        DEFAULTS_APPLIED.reset(token)
    # Said relative to the file: "providers[0]: float = 100.0", "seed = 0".
    relative = [entry.removeprefix(f"{source}: ").removeprefix(source).removeprefix(": ") for entry in applied]
    return replace(scenario, defaults_applied=tuple(relative))


def _parse(data: dict, source: str) -> Scenario:
    reader = FieldReader(data, source)
    reader.known(*TOP_LEVEL_FIELDS)
    reader.done()  # a misspelt top-level field first: it explains any "missing field" that would follow
    reader.read.clear()
    providers = tuple(_provider_group(g, f"{source}: providers[{i}]") for i, g in enumerate(reader.list("providers")))
    clients = tuple(_client_group(g, f"{source}: clients[{i}]") for i, g in enumerate(reader.list("clients")))
    if not providers or not clients:
        raise ScenarioError(f"{source}: a market needs at least one provider group and one client group")
    validators = tuple(
        _validator_group(g, f"{source}: validators[{i}]") for i, g in enumerate(reader.list("validators", []))
    )
    names = [g.name for g in providers + clients + validators]
    if len(set(names)) != len(names):
        raise ScenarioError(f"{source}: group names must be unique, got {names}")
    jobs = tuple(_job(j, f"{source}: jobs[{i}]") for i, j in enumerate(reader.list("jobs")))
    if not jobs:
        raise ScenarioError(f"{source}: jobs: give at least one job in the mix")
    validator_share = reader.number("validator_share", 0.0, minimum=0.0, maximum=1.0)
    if validator_share > 0 and not sum(g.count for g in validators):
        raise ScenarioError(f"{source}: validator_share > 0 needs at least one validator")
    steps = reader.int("steps", minimum=1)
    agents = {f"{g.name}-{i}" for g in providers + clients + validators for i in range(g.count)} | {"court"}
    faults = tuple(
        _fault(f, f"{source}: faults[{i}]", steps, agents) for i, f in enumerate(reader.list("faults", []))
    )
    scenario = Scenario(
        name=reader.str("name", Path(source).stem),
        seed=reader.int("seed", 0, minimum=0),
        steps=steps,
        step_seconds=reader.int("step_seconds", 10, minimum=1),
        drain_steps=reader.int("drain_steps", 40, minimum=1),
        providers=providers,
        clients=clients,
        validators=validators,
        validator_share=validator_share,
        jobs=jobs,
        faults=faults,
        token_decimals=reader.int("token_decimals", 18, minimum=0, maximum=36),
        eth_usd=reader.number("eth_usd", 3000.0, minimum=0.0),
        court=_court(reader.mapping("court"), f"{source}: court"),
        base_fee_gwei=reader.number("base_fee_gwei", 0.0, minimum=0.0, maximum=1000.0),
        demand=_demand(reader.mapping("demand"), f"{source}: demand"),
    )
    reader.done()
    return scenario


TOP_LEVEL_FIELDS = ("name", "seed", "steps", "step_seconds", "drain_steps", "providers", "clients", "validators",
                    "validator_share", "jobs", "faults", "token_decimals", "eth_usd", "court", "base_fee_gwei",
                    "demand")


def _hardware(r: FieldReader, where: str) -> Hardware:
    hw = FieldReader(r.mapping("hardware"), f"{where}: hardware")
    hardware = Hardware(
        capacity=Capacity(
            cores=hw.int("cpu_cores", 8, minimum=1),
            ram_bytes=int(hw.number("ram_gb", 32, minimum=0.1) * GIB),
            gpus=hw.int("gpus", 0, minimum=0),
        ),
        power_watts=hw.number("power_watts", 250, minimum=1),
        speed=hw.number("speed", 1.0, minimum=0.01),
        price_usd=hw.number("price_usd", 0.0, minimum=0.0),
        life_years=hw.number("life_years", 4.0, minimum=0.1),
    )
    hw.done()
    return hardware


def _provider_group(data, where) -> ProviderGroup:
    r = mapping_reader(data, where)
    strategy = r.str("strategy", "cost-plus", strategy_names(Role.PROVIDER))
    group = ProviderGroup(
        name=r.str("name"),
        count=r.int("count", 1, minimum=0),
        strategy=strategy,
        params=r.params(strategy),
        region=r.region(),
        hardware=_hardware(r, where),
        float_tokens=r.number("float", 100.0, minimum=0.0),
    )
    r.done()
    return group


def _validator_group(data, where) -> ValidatorGroup:
    r = mapping_reader(data, where)
    float_tokens = r.number("float", 20.0, minimum=0.0)
    strategy = r.str("strategy", "validator", strategy_names(Role.VALIDATOR))
    group = ValidatorGroup(
        name=r.str("name", "validator"),
        count=r.int("count", 1, minimum=0),
        strategy=strategy,
        params=r.params(strategy),
        region=r.region(),
        hardware=_hardware(r, where),
        float_tokens=float_tokens,
        stake_tokens=r.number("stake", float_tokens, minimum=0.0),
    )
    r.done()
    return group


def _court(data: dict, where) -> CourtSpec:
    r = mapping_reader(data, where)
    strategy = r.str("strategy", "court", strategy_names(Role.COURT))
    court = CourtSpec(strategy=strategy, params=r.params(strategy), region=r.region(), hardware=_hardware(r, where))
    r.done()
    return court


def _client_group(data, where) -> ClientGroup:
    r = mapping_reader(data, where)
    strategy = r.str("strategy", "budget", strategy_names(Role.CLIENT))
    group = ClientGroup(
        name=r.str("name"),
        count=r.int("count", 1, minimum=0),
        strategy=strategy,
        params=r.params(strategy),
        jobs_per_step=r.number("jobs_per_step", 0.3, minimum=0.0),
        float_tokens=r.number("float", 100.0, minimum=0.0),
    )
    r.done()
    return group


def _job(data, where) -> JobMixEntry:
    r = mapping_reader(data, where)
    weight = r.number("weight", 1.0, minimum=0.0)
    duration = r.number("duration_hours", 0.0, minimum=0.0) * 3600 or None
    value = FieldReader(r.mapping("value"), f"{where}: value")
    per_core_hour = value.number("usd_per_core_hour", 0.0, minimum=0.0) or None
    spread = value.number("spread", 0.0, minimum=0.0, maximum=2.0)
    value.done()
    r.known("limits", "requirements", "command")
    if per_core_hour and duration is None:
        raise ScenarioError(f"{where}: a job valued per core-hour needs its size: give duration_hours")
    try:
        limits = Limits(**r.mapping("limits")) if "limits" in data else None
        requirements = Requirements(**r.mapping("requirements")) if "requirements" in data else None
        if "command" in data:
            spec = JobSpec.for_command(data["command"], limits=limits, requirements=requirements)
        else:
            spec = JobSpec.for_workload(
                r.str("workload"), r.mapping("params"), r.int("seed", 0, minimum=0),
                limits=limits, requirements=requirements,
            )
        # A simulated job always declares its size: a job file that gives none takes its workload's time on the
        # reference machine, not a time measured on the machine that runs the simulation (which would make prices,
        # and with them the deals, differ from one machine or process to the next).
        spec = replace(spec, duration_seconds=duration or simulated_job_seconds(spec))
    except (InvalidJobSpec, TypeError) as error:
        raise ScenarioError(f"{where}: {error}") from error
    r.done()
    return JobMixEntry(weight, spec, per_core_hour, spread)


def _demand(data: dict, where: str) -> Demand:
    r = mapping_reader(data, where)
    bursts = FieldReader(r.mapping("bursts"), f"{where}: bursts")
    demand = Demand(
        daily_amplitude=r.number("daily_amplitude", 0.0, minimum=0.0, maximum=1.0),
        peak_hour=r.number("peak_hour", 14.0, minimum=0.0, maximum=24.0),
        burst_probability=bursts.number("probability", 0.0, minimum=0.0, maximum=1.0),
        burst_factor=bursts.number("factor", 1.0, minimum=1.0, maximum=100.0),
    )
    bursts.done()
    r.done()
    return demand


def _fault(data, where, steps, agents: set[str]) -> Fault:
    r = mapping_reader(data, where)
    kind = r.str("kind", choices=FAULT_KINDS)
    agent = r.str("agent") if kind == "restart" else None
    if agent is not None and agent not in agents:
        raise ScenarioError(f"{where}: agent {agent!r} is not in this market (its agents: {', '.join(sorted(agents))})")
    fault = Fault(kind=kind, at_step=r.int("at_step", minimum=0, maximum=steps - 1), steps=r.int("steps", 1, minimum=1),
                  agent=agent)
    r.done()
    return fault
