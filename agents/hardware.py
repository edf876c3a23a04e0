"""What a provider's machine is: measured, not typed in.

`profile_machine()` reads the CPU model from /proc/cpuinfo, core counts and memory from psutil, GPUs from
`nvidia-smi` when it is installed, and runs a short CPU benchmark. Power draw cannot be measured without a
meter (and RAPL energy counters are usually root-only), so it is ESTIMATED from the hardware: see
`estimate_power`. Scenario files describe synthetic machines with `HardwareProfile.from_dict`.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import psutil

from agents.policy import Capacity

GIB = 1024**3
MIB = 1024**2

# Power heuristics (watts), for an estimate of the right order of magnitude, not a measurement:
PLATFORM_WATTS = 20.0  # motherboard, storage, fans
CPU_WATTS_PER_PHYSICAL_CORE = 8.0  # desktop 65-125 W over 6-16 cores, servers 200-400 W over 32-96 cores
CPU_MIN_WATTS = 15.0
CPU_IDLE_FRACTION = 0.2  # of the CPU's full-load power
RAM_WATTS_PER_GIB = 0.375  # about 3 W per 8 GiB module
GPU_DEFAULT_WATTS = 250.0  # board power of a typical data-centre or high-end consumer GPU
GPU_IDLE_FRACTION = 0.1
GPU_MIN_IDLE_WATTS = 8.0
PSU_EFFICIENCY = 0.9  # wall power = DC power / efficiency

# Board power of common GPUs, for synthetic machines and GPUs whose driver does not report a limit.
GPU_BOARD_WATTS = {
    "H100": 700.0,
    "A100": 400.0,
    "L40": 300.0,
    "A10": 150.0,
    "L4": 72.0,
    "T4": 70.0,
    "V100": 300.0,
    "RTX 4090": 450.0,
    "RTX 4080": 320.0,
    "RTX 3090": 350.0,
    "RTX 3080": 320.0,
}


class Gpu(NamedTuple):
    model: str
    memory_bytes: int


@dataclass(frozen=True)
class HardwareProfile:
    """A machine: CPU, memory, GPUs, measured speed and estimated power draw.

    `benchmark_score` is SHA-256 throughput in MiB/s summed over all logical cores (see `benchmark_cpu`).
    Power draw is at the wall, in watts, idle and at full load of every CPU core and GPU.
    """

    cpu_model: str
    physical_cores: int
    logical_cores: int
    ram_bytes: int
    gpus: tuple[Gpu, ...]
    benchmark_score: float
    power_idle_watts: float
    power_full_watts: float

    def __post_init__(self):
        object.__setattr__(self, "gpus", tuple(Gpu(str(model), int(memory)) for model, memory in self.gpus))
        if self.physical_cores < 1:
            raise ValueError(f"physical_cores must be at least 1, got {self.physical_cores}")
        if self.logical_cores < self.physical_cores:
            raise ValueError(f"logical_cores ({self.logical_cores}) < physical_cores ({self.physical_cores})")
        if self.ram_bytes <= 0:
            raise ValueError(f"ram_bytes must be positive, got {self.ram_bytes}")
        if any(gpu.memory_bytes <= 0 for gpu in self.gpus):
            raise ValueError(f"every GPU needs positive memory: {self.gpus}")
        if self.benchmark_score < 0:
            raise ValueError(f"benchmark_score must not be negative, got {self.benchmark_score}")
        if not 0 <= self.power_idle_watts <= self.power_full_watts:
            raise ValueError(
                f"need 0 <= idle power ({self.power_idle_watts}) <= full-load power ({self.power_full_watts})"
            )

    @property
    def capacity(self) -> Capacity:
        """What the machine offers, in the resource units jobs ask for and locks hold."""
        return Capacity(self.logical_cores, self.ram_bytes, len(self.gpus))

    def can_serve(self, needed: Capacity, min_gpu_memory_bytes: int = 0) -> bool:
        """Whether the machine has what a job needs (capacity only: current commitments are not counted).
        A GPU memory figure implies a GPU at least that large."""
        if not needed.fits_within(self.capacity):
            return False
        if min_gpu_memory_bytes > 0:
            return any(gpu.memory_bytes >= min_gpu_memory_bytes for gpu in self.gpus)
        return True

    def power_watts(self, utilisation: float) -> float:
        """Estimated draw at a utilisation in [0, 1], linear between idle and full load."""
        if not 0 <= utilisation <= 1:
            raise ValueError(f"utilisation must be in [0, 1], got {utilisation}")
        return self.power_idle_watts + utilisation * (self.power_full_watts - self.power_idle_watts)

    def to_dict(self) -> dict:
        return {
            "cpu_model": self.cpu_model,
            "physical_cores": self.physical_cores,
            "logical_cores": self.logical_cores,
            "ram_bytes": self.ram_bytes,
            "gpus": [{"model": gpu.model, "memory_bytes": gpu.memory_bytes} for gpu in self.gpus],
            "benchmark_score": self.benchmark_score,
            "power_idle_watts": self.power_idle_watts,
            "power_full_watts": self.power_full_watts,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> "HardwareProfile":
        """A profile from `to_dict`'s output or a scenario file.

        For hand-written files: `ram_gib` may replace `ram_bytes`, a GPU's `memory_gib` its `memory_bytes`
        (or a GPU may be a `[model, memory_bytes]` pair), `logical_cores` defaults to `physical_cores`, and
        missing power figures are estimated with `estimate_power`.
        """
        data = dict(data)
        known = set(cls.__dataclass_fields__) | {"ram_gib"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown hardware field(s): {', '.join(sorted(unknown))}")
        if "ram_gib" in data:
            if "ram_bytes" in data:
                raise ValueError("give ram_bytes or ram_gib, not both")
            data["ram_bytes"] = round(data.pop("ram_gib") * GIB)
        missing = {"cpu_model", "physical_cores", "ram_bytes", "benchmark_score"} - set(data)
        if missing:
            raise ValueError(f"missing hardware field(s): {', '.join(sorted(missing))}")
        data.setdefault("logical_cores", data["physical_cores"])
        data["gpus"] = tuple(_gpu_from_entry(entry) for entry in data.get("gpus", ()))
        if "power_idle_watts" not in data or "power_full_watts" not in data:
            idle, full = estimate_power(data["physical_cores"], data["ram_bytes"], data["gpus"])
            data.setdefault("power_idle_watts", idle)
            data.setdefault("power_full_watts", full)
        return cls(**data)


def _gpu_from_entry(entry) -> Gpu:
    if isinstance(entry, Mapping):
        if "memory_gib" in entry:
            return Gpu(str(entry["model"]), round(entry["memory_gib"] * GIB))
        return Gpu(str(entry["model"]), int(entry["memory_bytes"]))
    model, memory_bytes = entry
    return Gpu(str(model), int(memory_bytes))


def gpu_board_watts(model: str) -> float:
    """Board power of a GPU model from the table above, or `GPU_DEFAULT_WATTS` if it is not listed."""
    normalised = model.upper()
    # Longest names first, so that "A100" is not taken for "A10".
    for name in sorted(GPU_BOARD_WATTS, key=len, reverse=True):
        if name.upper() in normalised:
            return GPU_BOARD_WATTS[name]
    return GPU_DEFAULT_WATTS


def estimate_power(
    physical_cores: int,
    ram_bytes: int,
    gpus: tuple[Gpu, ...] = (),
    *,
    cpu_watts: float | None = None,
    gpu_watts: list[float | None] | None = None,
) -> tuple[float, float]:
    """Estimated (idle, full-load) wall power in watts. An estimate from rules of thumb, not a measurement:
    the CPU's full-load power is `cpu_watts` (e.g. a RAPL limit) or 8 W per physical core (at least 15 W),
    and it idles at 20% of that; each GPU draws its board power (`gpu_watts`, e.g. the driver's power
    limit, or the table) at full load and 10% of it idle; memory 0.375 W/GiB, the platform 20 W, and the
    power supply is 90% efficient."""
    cpu_full = cpu_watts if cpu_watts is not None else max(CPU_MIN_WATTS, CPU_WATTS_PER_PHYSICAL_CORE * physical_cores)
    limits = gpu_watts or [None] * len(gpus)
    gpu_full = [limit if limit is not None else gpu_board_watts(gpu.model) for gpu, limit in zip(gpus, limits)]
    base = PLATFORM_WATTS + RAM_WATTS_PER_GIB * ram_bytes / GIB
    idle = base + CPU_IDLE_FRACTION * cpu_full + sum(max(GPU_MIN_IDLE_WATTS, GPU_IDLE_FRACTION * w) for w in gpu_full)
    full = base + cpu_full + sum(gpu_full)
    return idle / PSU_EFFICIENCY, full / PSU_EFFICIENCY


# ---------------------------------------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------------------------------------


def cpu_model_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's name: "model name" on x86, "Hardware"/"Processor"/"cpu model" on other architectures."""
    try:
        fields = {}
        for line in cpuinfo.read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep and value.strip():
                fields.setdefault(key.strip().lower(), value.strip())
        for key in ("model name", "hardware", "processor", "cpu model", "cpu"):
            # On x86 "processor" is the core index: a digit string is not a name.
            if key in fields and not fields[key].isdigit():
                return fields[key]
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cpu_count() -> int:
    """Logical cores this process may run on (fewer than the machine's in a container or under taskset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return psutil.cpu_count(logical=True) or 1


def benchmark_cpu(seconds: float = 0.2, threads: int | None = None) -> float:
    """SHA-256 throughput in MiB/s, hashing 1 MiB blocks on `threads` threads (default: every usable core)
    for about `seconds`. hashlib releases the GIL on large buffers, so the threads run in parallel."""
    threads = threads or usable_cpu_count()
    block = os.urandom(MIB)
    counts = [0] * threads
    start = threading.Barrier(threads + 1)

    def hash_blocks(slot: int, deadline_box: list[float]) -> None:
        start.wait()
        deadline = deadline_box[0]
        count = 0
        while time.perf_counter() < deadline:
            hashlib.sha256(block).digest()
            count += 1
        counts[slot] = count

    deadline_box = [0.0]
    workers = [threading.Thread(target=hash_blocks, args=(i, deadline_box)) for i in range(threads)]
    for worker in workers:
        worker.start()
    began = time.perf_counter()
    deadline_box[0] = began + seconds
    start.wait()
    for worker in workers:
        worker.join()
    # Each thread finishes the block it started before the deadline: time until the last one is done.
    elapsed = time.perf_counter() - began
    return sum(counts) / elapsed


def nvidia_gpus(timeout: float = 10.0) -> list[tuple[Gpu, float | None]]:
    """GPUs reported by nvidia-smi, each with its power limit in watts (None if not reported); [] without
    nvidia-smi or a working driver."""
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return []
    try:
        result = subprocess.run(
            [executable, "--query-gpu=name,memory.total,power.limit", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=timeout, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in result.stdout.strip().splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 3:
            continue
        name, memory_mib, power_limit = parts
        try:
            memory_bytes = int(float(memory_mib) * MIB)
        except ValueError:
            continue
        try:
            watts = float(power_limit)
        except ValueError:  # "[N/A]" on GPUs without power management
            watts = None
        gpus.append((Gpu(name, memory_bytes), watts))
    return gpus


def rapl_package_watts(root: Path = Path("/sys/class/powercap")) -> float | None:
    """The CPU packages' long-term power limit (about their TDP) from RAPL, if the kernel exposes it."""
    total = 0.0
    for zone in sorted(root.glob("intel-rapl:*")):
        if zone.name.count(":") != 1:  # sub-zones (core, uncore, dram) are inside the package's figure
            continue
        try:
            total += int((zone / "constraint_0_power_limit_uw").read_text()) / 1e6
        except (OSError, ValueError):
            return None
    return total or None


def profile_machine(benchmark_seconds: float = 0.2) -> HardwareProfile:
    """Measure this machine (about `benchmark_seconds` for the benchmark, plus nvidia-smi if installed)."""
    logical = psutil.cpu_count(logical=True) or usable_cpu_count()
    physical = psutil.cpu_count(logical=False) or logical
    ram_bytes = psutil.virtual_memory().total
    found_gpus = nvidia_gpus()
    gpus = tuple(gpu for gpu, _ in found_gpus)
    idle, full = estimate_power(
        physical, ram_bytes, gpus, cpu_watts=rapl_package_watts(), gpu_watts=[watts for _, watts in found_gpus]
    )
    return HardwareProfile(
        cpu_model=cpu_model_name(),
        physical_cores=physical,
        logical_cores=logical,
        ram_bytes=ram_bytes,
        gpus=gpus,
        benchmark_score=benchmark_cpu(benchmark_seconds),
        power_idle_watts=idle,
        power_full_watts=full,
    )


__all__ = [
    "Gpu",
    "HardwareProfile",
    "benchmark_cpu",
    "cpu_model_name",
    "estimate_power",
    "gpu_board_watts",
    "nvidia_gpus",
    "profile_machine",
]
