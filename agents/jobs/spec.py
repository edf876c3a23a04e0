"""Job specs: what a client asks a provider to run, and the canonical bytes whose keccak256 goes on chain.

A spec is either a catalogue workload (name, integer params, seed) or a command (argv), plus the limits the
provider enforces and the resources a provider needs to serve it. Its canonical JSON (sorted keys, no
whitespace, ASCII only) is the same on every machine, so `spec_hash = keccak256(canonical_json)` is the
request's `specHash`, and the same bytes are what the client publishes at the spec URI.

Example, a workload spec's canonical JSON:
    {"limits":{"cpu_seconds":60,"memory_bytes":1073741824,"wall_seconds":60.0},"params":{"n":1000},
     "requirements":{"min_cores":1,"min_ram_bytes":0,"needs_gpu":false},"seed":7,"version":1,
     "workload":"sha256-chain"}
A command spec has "command" (the argv) and "output_file" (null: the result is the command's stdout)
instead of "workload", "params" and "seed".
"""

from __future__ import annotations

import functools
import json
import math
import posixpath
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from agents.jobs.workloads import SEED_LIMIT, WORKLOADS
from agents.keccak import keccak256

if TYPE_CHECKING:
    from agents.policy import Capacity

SPEC_VERSION = 1


class InvalidJobSpec(ValueError):
    """A job spec that cannot be run: the message says what is wrong and where."""


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Limits:
    """What the provider enforces on a run; exceeding one ends the run."""

    wall_seconds: float = 60.0  # wall-clock time, then the process group is killed
    # Address space (RLIMIT_AS, not RSS) of each process of the job. The workload worker needs about
    # 128 MiB of address space for Python and numpy before any work; below that it fails at start-up.
    memory_bytes: int = 1 << 30
    cpu_seconds: int = 60  # CPU time (RLIMIT_CPU) of each process of the job

    def __post_init__(self):
        wall = self.wall_seconds
        if not isinstance(wall, (int, float)) or isinstance(wall, bool) or not math.isfinite(wall) or wall <= 0:
            raise InvalidJobSpec(f"limits.wall_seconds must be a positive finite number, got {wall!r}")
        # Stored as a float so 2 and 2.0 serialise (and hash) alike.
        object.__setattr__(self, "wall_seconds", float(wall))
        for name in ("memory_bytes", "cpu_seconds"):
            value = getattr(self, name)
            if not _is_int(value) or value <= 0:
                raise InvalidJobSpec(f"limits.{name} must be a positive integer, got {value!r}")

    def as_dict(self) -> dict[str, Any]:
        return {"wall_seconds": self.wall_seconds, "memory_bytes": self.memory_bytes, "cpu_seconds": self.cpu_seconds}


@dataclass(frozen=True)
class Requirements:
    """What a machine needs to serve the job; providers compare it with their measured hardware."""

    min_cores: int = 1
    min_ram_bytes: int = 0
    needs_gpu: bool = False

    def __post_init__(self):
        if not _is_int(self.min_cores) or self.min_cores < 1:
            raise InvalidJobSpec(f"requirements.min_cores must be an integer >= 1, got {self.min_cores!r}")
        if not _is_int(self.min_ram_bytes) or self.min_ram_bytes < 0:
            raise InvalidJobSpec(f"requirements.min_ram_bytes must be an integer >= 0, got {self.min_ram_bytes!r}")
        if not isinstance(self.needs_gpu, bool):
            raise InvalidJobSpec(f"requirements.needs_gpu must be true or false, got {self.needs_gpu!r}")

    def as_dict(self) -> dict[str, Any]:
        return {"min_cores": self.min_cores, "min_ram_bytes": self.min_ram_bytes, "needs_gpu": self.needs_gpu}

    @property
    def capacity(self) -> "Capacity":
        """The machine resources the job holds while it runs."""
        from agents.policy import Capacity  # imported here: the worker subprocess parses specs and must start fast

        return Capacity(self.min_cores, self.min_ram_bytes, 1 if self.needs_gpu else 0)


@dataclass(frozen=True)
class JobSpec:
    """A job: a catalogue workload (`workload`, `params`, `seed`) or a `command`, with limits and requirements.

    Build one with `JobSpec.for_workload(...)`, `JobSpec.for_command(...)` or `JobSpec.from_json(...)`;
    every constructor validates and raises `InvalidJobSpec` with a clear message.
    """

    workload: str | None = None
    params: Mapping[str, int] = field(default_factory=dict)
    seed: int = 0
    command: tuple[str, ...] | None = None
    output_file: str | None = None  # commands only: result is this file (relative to the workdir), else stdout
    limits: Limits = field(default_factory=Limits)
    requirements: Requirements = field(default_factory=Requirements)
    # The job's declared size: seconds it holds `requirements.min_cores` on the reference machine. A simulated
    # market's jobs are hours of compute that run, verified, as scaled-down real workloads; providers price,
    # bill and value them at this size. None: the run's own estimate.
    duration_seconds: float | None = None

    def __post_init__(self):
        if (self.workload is None) == (self.command is None):
            raise InvalidJobSpec("a job spec names exactly one of a catalogue workload or a command")
        duration = self.duration_seconds
        if duration is not None:
            if not isinstance(duration, (int, float)) or isinstance(duration, bool) or not math.isfinite(duration) \
                    or duration <= 0:
                raise InvalidJobSpec(f"duration_seconds must be a positive finite number, got {duration!r}")
            object.__setattr__(self, "duration_seconds", float(duration))
        if not isinstance(self.limits, Limits):
            raise InvalidJobSpec(f"limits must be a Limits, got {type(self.limits).__name__}")
        if not isinstance(self.requirements, Requirements):
            raise InvalidJobSpec(f"requirements must be a Requirements, got {type(self.requirements).__name__}")
        if self.workload is not None:
            self._validate_workload()
        else:
            self._validate_command()

    def _validate_workload(self):
        if not isinstance(self.workload, str) or self.workload not in WORKLOADS:
            raise InvalidJobSpec(f"unknown workload {self.workload!r}; known workloads: {', '.join(sorted(WORKLOADS))}")
        errors = WORKLOADS[self.workload].param_errors(self.params)
        if errors:
            raise InvalidJobSpec(f"bad params for workload {self.workload!r}: " + "; ".join(errors))
        if not _is_int(self.seed) or not 0 <= self.seed < SEED_LIMIT:
            raise InvalidJobSpec(f"seed must be an integer in [0, 2**64), got {self.seed!r}")
        if self.output_file is not None:
            raise InvalidJobSpec("output_file applies to commands only; a workload's result is its output")
        # A read-only copy: the spec is hashed, so it must not change after construction.
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def _validate_command(self):
        if isinstance(self.command, (str, bytes)) or not isinstance(self.command, Sequence) or not self.command:
            raise InvalidJobSpec(f"command must be a non-empty list of strings (an argv), got {self.command!r}")
        for index, arg in enumerate(self.command):
            if not isinstance(arg, str) or "\0" in arg:
                raise InvalidJobSpec(f"command[{index}] must be a string without NUL characters, got {arg!r}")
        if self.params or self.seed != 0:
            raise InvalidJobSpec("params and seed apply to catalogue workloads only, not to commands")
        if self.output_file is not None:
            # The result must come from inside the job's working directory.
            normalised = posixpath.normpath(self.output_file) if isinstance(self.output_file, str) else ""
            if not normalised or normalised.startswith(("/", "..")) or normalised == "." or "\0" in normalised:
                raise InvalidJobSpec(
                    f"output_file must be a relative path inside the job's working directory, got {self.output_file!r}"
                )
        object.__setattr__(self, "command", tuple(self.command))

    # --- construction ---------------------------------------------------------------------------------

    @classmethod
    def for_workload(
        cls,
        name: str,
        params: Mapping[str, int],
        seed: int = 0,
        *,
        limits: Limits | None = None,
        requirements: Requirements | None = None,
        duration_seconds: float | None = None,
    ) -> "JobSpec":
        return cls(
            workload=name,
            params=params,
            seed=seed,
            limits=limits or Limits(),
            requirements=requirements or Requirements(),
            duration_seconds=duration_seconds,
        )

    @classmethod
    def for_command(
        cls,
        argv: Sequence[str],
        *,
        output_file: str | None = None,
        limits: Limits | None = None,
        requirements: Requirements | None = None,
    ) -> "JobSpec":
        return cls(
            command=argv,
            output_file=output_file,
            limits=limits or Limits(),
            requirements=requirements or Requirements(),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "JobSpec":
        if not isinstance(data, Mapping):
            raise InvalidJobSpec(f"a job spec is a JSON object, got {type(data).__name__}")
        if data.get("version") != SPEC_VERSION:
            raise InvalidJobSpec(f"unsupported job spec version {data.get('version')!r} (expected {SPEC_VERSION})")
        if ("workload" in data) == ("command" in data):
            raise InvalidJobSpec("a job spec has exactly one of the keys 'workload' or 'command'")
        kind_keys = {"workload", "params", "seed"} if "workload" in data else {"command", "output_file"}
        allowed = {"version", "limits", "requirements", "duration_seconds"} | kind_keys
        unknown = sorted(set(data) - allowed, key=str)
        if unknown:
            raise InvalidJobSpec(f"unknown job spec keys {unknown} (allowed: {sorted(allowed)})")
        missing = sorted(allowed - {"output_file", "duration_seconds"} - set(data))
        if missing:
            raise InvalidJobSpec(f"job spec is missing keys {missing}")
        limits = _sub_object(data, "limits", Limits)
        requirements = _sub_object(data, "requirements", Requirements)
        if "workload" in data:
            return cls(
                workload=data["workload"],
                params=data["params"],
                seed=data["seed"],
                limits=limits,
                requirements=requirements,
                duration_seconds=data.get("duration_seconds"),
            )
        return cls(
            command=data["command"],
            output_file=data.get("output_file"),
            limits=limits,
            requirements=requirements,
            duration_seconds=data.get("duration_seconds"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> "JobSpec":
        """Parse a spec (canonical or not) and validate it. Specs are immutable, and in a market every provider
        reads every request's spec: the same text gives the same spec object, parsed and hashed once."""
        return _parse_json(cls, text)

    # --- canonical form -------------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        return "workload" if self.workload is not None else "command"

    def as_dict(self) -> dict[str, Any]:
        common = {"version": SPEC_VERSION, "limits": self.limits.as_dict(), "requirements": self.requirements.as_dict()}
        if self.duration_seconds is not None:  # only when declared: undeclared specs keep their hashes
            common["duration_seconds"] = self.duration_seconds
        if self.workload is not None:
            return {**common, "workload": self.workload, "params": dict(self.params), "seed": self.seed}
        return {**common, "command": list(self.command), "output_file": self.output_file}

    def canonical_json(self) -> bytes:
        """Sorted keys, no whitespace, ASCII: the bytes that are hashed and published."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    @functools.cached_property  # immutable: hashed once (the frozen dataclass's __dict__ keeps it)
    def spec_hash(self) -> bytes:
        """keccak256 of the canonical JSON: the request's `specHash`."""
        return keccak256(self.canonical_json())

    def __hash__(self):
        return hash(self.canonical_json())

    def estimated_cost(self) -> float | None:
        """Work units of a catalogue workload; None for commands, whose cost only their limits bound."""
        return WORKLOADS[self.workload].estimated_cost(self.params) if self.workload is not None else None

    def estimated_seconds(self) -> float:
        """The run time a provider expects on its machine: the declared duration, else the catalogue's estimate
        for a workload, the wall time limit for a command."""
        if self.duration_seconds is not None:
            return self.duration_seconds
        if self.workload is not None:
            return WORKLOADS[self.workload].estimated_seconds(self.params)
        return self.limits.wall_seconds


def _sub_object(data: Mapping[str, Any], key: str, cls):
    value = data[key]
    if not isinstance(value, Mapping):
        raise InvalidJobSpec(f"{key} must be an object, got {value!r}")
    names = set(cls.__dataclass_fields__)
    if set(value) != names:
        raise InvalidJobSpec(f"{key} must have exactly the keys {sorted(names)}, got {sorted(value, key=str)}")
    return cls(**value)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a valid number in a job spec")


@functools.lru_cache(maxsize=1024)
def _parse_json(cls, text: str | bytes) -> JobSpec:
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidJobSpec(f"job spec is not valid JSON: {error}") from None
    return cls.from_dict(data)
