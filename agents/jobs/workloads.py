"""The catalogue of deterministic CPU workloads a job spec can name.

Every workload maps `(params, seed)` to the same bytes on every machine, so a validator that re-runs a job
gets the provider's result hash bit for bit. Two rules make that hold:

- randomness comes from numpy's legacy `RandomState`, whose streams numpy promises never to change
  (the newer `Generator` methods may change between numpy versions);
- floating point is used only where the result is exact (integer-valued float64 sums below 2**53 in
  `matmul`) or where every operation is a single IEEE-rounded step (`monte-carlo-pi`), so neither BLAS
  summation order, FMA nor SIMD width can change a bit.

Results and their encodings are part of the catalogue's contract: changing one changes every hash and
breaks validation against providers that run the old code.

Each workload states its cost in abstract work units (`estimated_cost`) and measures how many seconds one
unit takes on this machine (`seconds_per_unit`), so a provider can estimate a job's duration and energy.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

SEED_LIMIT = 2**64  # seeds are unsigned 64-bit integers


@dataclass(frozen=True)
class Param:
    """One integer parameter of a workload and its accepted range (inclusive)."""

    name: str
    minimum: int
    maximum: int
    description: str


@dataclass(frozen=True)
class Workload:
    """A named deterministic computation: `workload(params, seed) -> bytes`."""

    name: str
    description: str
    params: tuple[Param, ...]
    compute: Callable[[Mapping[str, int], int], bytes] = field(repr=False)
    cost: Callable[[Mapping[str, int]], float] = field(repr=False)
    calibration_params: Mapping[str, int] = field(repr=False)
    seeded: bool = True  # False: the seed is accepted but does not change the result

    def __call__(self, params: Mapping[str, int], seed: int) -> bytes:
        return self.compute(params, seed)

    def param_errors(self, params: Mapping) -> list[str]:
        """Everything wrong with `params` for this workload (empty when they are valid)."""
        if not isinstance(params, Mapping):
            return [f"params must be an object, got {type(params).__name__}"]
        errors = []
        expected = {p.name: p for p in self.params}
        for name in sorted(set(params) - set(expected), key=str):
            errors.append(f"unknown parameter {name!r} (expected: {', '.join(sorted(expected))})")
        for name, param in expected.items():
            if name not in params:
                errors.append(f"missing parameter {name!r} ({param.description})")
                continue
            value = params[name]
            # bool is an int in Python but `true` is not a size in JSON
            if not isinstance(value, int) or isinstance(value, bool):
                errors.append(f"parameter {name!r} must be an integer, got {value!r}")
            elif not param.minimum <= value <= param.maximum:
                errors.append(f"parameter {name!r} must be in [{param.minimum}, {param.maximum}], got {value}")
        return errors

    def estimated_cost(self, params: Mapping[str, int]) -> float:
        """Abstract work units the job takes; multiply by `seconds_per_unit()` for seconds."""
        return float(self.cost(params))

    def seconds_per_unit(self) -> float:
        """Seconds one work unit takes on this machine, measured once per process (best of three runs).

        Measured in-process: it leaves out the worker subprocess's start-up (interpreter and imports),
        which `estimate_seconds` adds back.
        """
        if self.name not in _SECONDS_PER_UNIT:
            timings = []
            for _ in range(3):
                started = time.perf_counter()
                self.compute(self.calibration_params, 0)
                timings.append(time.perf_counter() - started)
            _SECONDS_PER_UNIT[self.name] = min(timings) / self.estimated_cost(self.calibration_params)
        return _SECONDS_PER_UNIT[self.name]

    def estimated_seconds(self, params: Mapping[str, int]) -> float:
        """Expected wall-clock seconds of a run on this machine, worker start-up included."""
        return WORKER_STARTUP_SECONDS + self.estimated_cost(params) * self.seconds_per_unit()


_SECONDS_PER_UNIT: dict[str, float] = {}

# Start-up of `python -m agents.jobs.worker` with numpy's import (~0.1 s without), measured on a 2-core VM.
WORKER_STARTUP_SECONDS = 0.25


def _random_state(seed: int):
    """A numpy RandomState for a 64-bit seed; RandomState's stream is frozen across numpy versions."""
    import numpy as np

    # RandomState takes seeds below 2**32 directly; a two-word array seeds it from all 64 bits.
    return np.random.RandomState(np.array([seed & 0xFFFFFFFF, seed >> 32], dtype=np.uint32))


def _canonical_json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


# --- sha256-chain: n iterations of SHA-256, inherently sequential --------------------------------------


def _sha256_chain(params: Mapping[str, int], seed: int) -> bytes:
    digest = hashlib.sha256(b"sha256-chain:" + seed.to_bytes(8, "big")).digest()
    for _ in range(params["n"]):
        digest = hashlib.sha256(digest).digest()
    return digest  # the 32-byte final digest


# --- matmul: repeated modular products of seeded integer matrices ---------------------------------------

MATMUL_MODULUS = 1021  # entries stay below 1024, so every dot product of n <= 4096 terms is < 2**32


def _matmul(params: Mapping[str, int], seed: int) -> bytes:
    import numpy as np

    n, repeat = params["n"], params["repeat"]
    rng = _random_state(seed)
    product = rng.randint(0, MATMUL_MODULUS, size=(n, n)).astype(np.float64)
    factor = rng.randint(0, MATMUL_MODULUS, size=(n, n)).astype(np.float64)
    for _ in range(repeat):
        # Integer-valued float64 with sums below 2**53 is exact in any summation order, so BLAS gives
        # the same bits everywhere while running at BLAS speed.
        product = np.fmod(product @ factor, MATMUL_MODULUS)
    return product.astype("<u2").tobytes()  # row-major little-endian uint16, n*n*2 bytes


# --- monte-carlo-pi: seeded points in the unit square ---------------------------------------------------

MONTE_CARLO_CHUNK = 1 << 20  # fixed, so the random stream is consumed identically on every machine


def _monte_carlo_pi(params: Mapping[str, int], seed: int) -> bytes:
    import numpy as np

    samples = params["samples"]
    rng = _random_state(seed)
    inside = 0
    for start in range(0, samples, MONTE_CARLO_CHUNK):
        size = min(MONTE_CARLO_CHUNK, samples - start)
        x = rng.random_sample(size)
        y = rng.random_sample(size)
        inside += int(np.count_nonzero(x * x + y * y <= 1.0))
    return _canonical_json({"inside": inside, "pi": repr(4 * inside / samples), "samples": samples})


# --- prime-sieve: Eratosthenes up to n ------------------------------------------------------------------


def _prime_sieve(params: Mapping[str, int], seed: int) -> bytes:
    import numpy as np

    limit = params["n"]
    is_prime = np.ones(limit + 1, dtype=bool)
    is_prime[:2] = False
    for candidate in range(2, math.isqrt(limit) + 1):
        if is_prime[candidate]:
            is_prime[candidate * candidate :: candidate] = False
    primes = np.flatnonzero(is_prime)
    return _canonical_json(
        {
            "count": int(primes.size),
            "largest": int(primes[-1]) if primes.size else None,
            "limit": limit,
            "sha256": hashlib.sha256(primes.astype("<u8").tobytes()).hexdigest(),
            "sum": int(primes.sum(dtype=np.uint64)),
        }
    )


# --- sort: seeded 64-bit integers -----------------------------------------------------------------------


def _sort(params: Mapping[str, int], seed: int) -> bytes:
    import numpy as np

    values = _random_state(seed).randint(-(2**62), 2**62, size=params["n"], dtype=np.int64)
    values.sort()  # integers have one sorted order whatever the algorithm
    return values.astype("<i8").tobytes()  # the sorted array, little-endian int64, 8 bytes per value


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            name="sha256-chain",
            description="n iterations of SHA-256 from a seed-derived start; result: the final 32-byte digest",
            params=(Param("n", 1, 10**10, "number of hash iterations"),),
            compute=_sha256_chain,
            cost=lambda p: p["n"],
            calibration_params={"n": 50_000},
        ),
        Workload(
            name="matmul",
            description=(
                f"X <- (X @ B) mod {MATMUL_MODULUS}, repeated, for seeded n x n integer matrices; "
                "result: X as row-major little-endian uint16"
            ),
            params=(
                Param("n", 1, 4096, "matrix size"),
                Param("repeat", 1, 10_000, "number of products"),
            ),
            compute=_matmul,
            cost=lambda p: p["repeat"] * p["n"] ** 3,
            calibration_params={"n": 256, "repeat": 4},
        ),
        Workload(
            name="monte-carlo-pi",
            description="estimate pi from seeded points in the unit square; result: canonical JSON counts",
            params=(Param("samples", 1, 10**11, "number of random points"),),
            compute=_monte_carlo_pi,
            cost=lambda p: p["samples"],
            calibration_params={"samples": 1 << 20},
        ),
        Workload(
            name="prime-sieve",
            description="sieve of Eratosthenes up to n; result: canonical JSON count, sum, largest, digest",
            params=(Param("n", 2, 2 * 10**9, "largest number sieved"),),
            compute=_prime_sieve,
            cost=lambda p: p["n"] * math.log(math.log(max(p["n"], 3))),
            calibration_params={"n": 2_000_000},
            seeded=False,
        ),
        Workload(
            name="sort",
            description="sort n seeded random int64 values; result: the sorted array, little-endian int64",
            params=(Param("n", 1, 10**9, "number of values"),),
            compute=_sort,
            cost=lambda p: p["n"] * math.log2(max(p["n"], 2)),
            calibration_params={"n": 500_000},
        ),
    )
}


def seconds_per_unit(name: str) -> float:
    """Seconds one work unit of workload `name` takes on this machine (measured once per process)."""
    return WORKLOADS[name].seconds_per_unit()
