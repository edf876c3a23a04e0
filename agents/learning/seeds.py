"""Which seeds train and which judge: the one place both lists live. Training (`ape run train`) and the
cost-plus baseline's margin sweep see only TRAINING_SEEDS; `ape run evaluate` judges on the held-out ones, which
no training or tuning ever ran on (a test checks the lists stay disjoint)."""

from __future__ import annotations

# 40 markets, not 16: a policy's Sortino moves by about 1 from seed to seed, so on 16 the finalists' ranking
# (agents.learning.train) was within the noise, and a search that cycles through 16 fits them.
TRAINING_SEEDS: tuple[int, ...] = tuple(range(1, 41))
# Held out: never trained or tuned on. The chain's seeds are the first memory ones, so the two backends can be
# read side by side on the same markets.
HELD_OUT_MEMORY_SEEDS: tuple[int, ...] = tuple(range(1001, 1021))
HELD_OUT_CHAIN_SEEDS: tuple[int, ...] = HELD_OUT_MEMORY_SEEDS[:3]


def generation_seeds(generation: int, count: int, seeds: tuple[int, ...] = TRAINING_SEEDS) -> tuple[int, ...]:
    """The `count` training seeds generation `generation` is scored on: the list taken in turn, so every candidate
    of a generation meets the same markets (their ranking is fair) and successive generations meet others (the
    policy must do well on all of them, not on a few)."""
    if not 0 < count <= len(seeds):
        raise ValueError(f"seeds per generation must be between 1 and {len(seeds)}, got {count}")
    start = generation * count
    return tuple(seeds[(start + i) % len(seeds)] for i in range(count))


def check_held_out(seeds) -> None:
    """ValueError (one line) if any of `seeds` is a training seed: evaluating there would flatter the policy."""
    overlap = sorted(set(seeds) & set(TRAINING_SEEDS))
    if overlap:
        raise ValueError(f"seeds {overlap} are training seeds; held-out seeds must be disjoint from them")
