"""Training a provider's pricing policy (or a client's buying policy: `role`) with CMA-ES (the `cma` package) over
the weights of a LinearPolicy (LinearClientPolicy).

Each generation, CMA-ES proposes `population` weight vectors; each is put in the seat of the training scenario
(agents.learning.seat) and scored by the mean, over the generation's training seeds, of the seat's Sortino ratio
or trading P&L (a client seat: its surplus) in lean memory-backend runs, every (candidate, seed) run a Ray task.
The starting policy (LinearPolicy.initial(): cost-plus at 30%; LinearClientPolicy.initial(): near the baseline
client) is scored on the same seeds every generation, as the curve's reference. `start` warm-starts the search
from a saved policy instead (a policy trained before: training can be resumed in runs that each fit the time
limit), and `actions` and `fields` confine the search to some actions' weights and biases, to every action's
weights on some observation fields, or to those actions' weights on those fields (an action just added to a
trained policy, on the fields of one kind of decision, say), every other number staying at the start's. CMA-ES is separable (a diagonal covariance, `CMA_diagonal`): with hundreds of weights and
a few hundred scored candidates, the full covariance could not be learned anyway.

After the last generation, the finalists are scored on every training seed: the start, the distribution's mean
and the `finalists` candidates that beat the start by the most on their generation's seeds (a gain over the start
on the same seeds, not a raw score: generations meet easier and harder markets); the best of them is written as
the trained policy. Only training seeds are used (agents.learning.seeds); the held-out ones are evaluate's.

The output folder:
    policy.json     the trained policy (LinearPolicy's file: it names the observation and actions it expects)
    curve.csv       per generation: its seeds, best / mean / median fitness, the start's fitness, sigma
    curve.png       best and mean fitness per generation against the start's
    final.csv       the final choice: each finalist's fitness on every training seed
"""

from __future__ import annotations

import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from agents.learning.pool import SeatRun, run_all
from agents.learning.seat import learned_strategy, seat_groups
from agents.learning.seeds import TRAINING_SEEDS, generation_seeds
from agents.simulation.scenario import load_scenario
from agents.sweeps.ray_session import ray_session

OBJECTIVES = {"sortino": "sortino", "pnl": "trading_pnl_usd", "surplus": "client_surplus_usd"}
# What each role's seat may be trained for. A client's trading P&L only counts what it pays, so buying nothing
# would score best: its objective is its surplus (the value of the jobs it was delivered, net of what it paid).
ROLE_OBJECTIVES = {"provider": ("sortino", "pnl"), "client": ("surplus",)}


@dataclass(frozen=True)
class TrainConfig:
    role: str = "provider"  # whose seat: "provider" (agents.strategies.learned.LearnedProvider) or "client"
    scenario: str = "train-provider"
    generations: int = 10
    population: int = 8
    seeds: tuple[int, ...] = TRAINING_SEEDS
    # 8, not 4: with 4, a generation's ranking is mostly its seeds' noise (a candidate's Sortino moves by about 1
    # from seed to seed); from cost-plus at 30%, 10 generations on 8 seeds each moved CMA-ES's mean to 4.31 on the
    # training seeds 1-16 against 4.09 on 4 seeds each
    seeds_per_generation: int = 8
    # CMA-ES's initial step: the start's scores differ by 1 or 2, and about 30 features are O(1), so a step of
    # 0.25 on every weight changes many decisions without drowning the start
    sigma: float = 0.25
    objective: str = "sortino"
    seed: int = 1  # CMA-ES's own random numbers (cma reads 0 as "pick one at random")
    start: Path | None = None  # a policy file to start from; None: the role's policy class's initial()
    # what the search moves, every other number staying at the start's (cma's fixed_variables): these actions'
    # weights and biases, every action's weights on these observation fields, or with both, those actions' weights on
    # those fields (LinearPolicy.searched_indices); both empty: every number
    actions: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    # candidates re-scored on every training seed at the end: the best of 80 on a few seeds each is a noisy pick
    finalists: int = 3
    out_dir: Path = Path("runs/train/provider")
    workers: int | None = None
    address: str | None = None

    def check(self) -> None:
        """ValueError (one line) for a configuration that cannot train."""
        learned_strategy(self.role)  # ValueError (one line) for a role without a learned seat
        if self.objective not in ROLE_OBJECTIVES[self.role]:
            raise ValueError(f"a {self.role}'s objective is one of {', '.join(ROLE_OBJECTIVES[self.role])}, "
                             f"got {self.objective!r}")
        # cma's step-size adaptation injects a direction into each population: it needs room for two more.
        if self.generations < 1 or self.population < 3:
            raise ValueError("training needs at least 1 generation and a population of at least 3")
        if not self.seeds:
            raise ValueError("training needs at least one seed")
        _check_training_seeds(self.seeds)
        if not 0 < self.seeds_per_generation <= len(self.seeds):
            raise ValueError(f"seeds per generation must be between 1 and the {len(self.seeds)} training seeds")
        if self.sigma <= 0:
            raise ValueError(f"sigma must be positive, got {self.sigma}")
        if self.finalists < 1:
            raise ValueError(f"training needs at least 1 finalist candidate, got {self.finalists}")
        policy = self.policy_class()
        policy.searched_indices(self.actions, self.fields)  # ValueError (one line) for an unknown name
        if self.start is not None:
            policy.load(self.start)  # PolicyFileError (a ValueError, one line) if it cannot be used

    def policy_class(self):
        from agents.learning.policy import policy_class

        return policy_class(self.role)


@dataclass
class TrainOutcome:
    policy: Path
    curve_csv: Path
    curve_png: Path
    final: pd.DataFrame  # the finalists' fitness on every training seed
    chosen: str
    seconds: float
    runs: int
    curve: pd.DataFrame = field(repr=False, default=None)


def train(config: TrainConfig, progress=None) -> TrainOutcome:
    """Train, write the output folder, return where everything is. `progress(done, total)` after each run."""
    import cma

    config.check()
    policy_class = config.policy_class()
    scenario = load_scenario(config.scenario)
    groups = seat_groups(scenario, config.role)
    fitness_of = OBJECTIVES[config.objective]
    config.out_dir.mkdir(parents=True, exist_ok=True)
    start = (policy_class.load(config.start) if config.start else policy_class.initial()).to_vector()
    strategy = cma.CMAEvolutionStrategy(start, config.sigma, cma_options(config, start))
    finalist_candidates = min(config.finalists, config.generations * config.population)
    total = (config.generations * (config.population + 1) * config.seeds_per_generation
             + (2 + finalist_candidates) * len(config.seeds))
    done = 0
    started = time.perf_counter()

    def score(vectors: list[np.ndarray], seeds: tuple[int, ...], at_once: int) -> np.ndarray:
        """fitness[candidate, seed]."""
        nonlocal done
        runs = [SeatRun(seed=seed, strategy=learned_strategy(config.role), role=config.role,
                        policy_vector=tuple(float(v) for v in vector))
                for vector in vectors for seed in seeds]

        def advance(_run):
            nonlocal done
            done += 1
            if progress:
                progress(done, total)

        figures = run_all(scenario, groups, runs, at_once=at_once, on_done=advance)
        return np.array([f[fitness_of] for f in figures], dtype=float).reshape(len(vectors), len(seeds))

    rows = []
    curve_csv = config.out_dir / "curve.csv"
    gains: list[tuple[float, np.ndarray]] = []  # every candidate's fitness minus the start's, same seeds
    with ray_session(config.workers, config.address) as at_once:
        for generation in range(config.generations):
            seeds = generation_seeds(generation, config.seeds_per_generation, config.seeds)
            candidates = strategy.ask()
            fitness = score([*candidates, start], seeds, at_once).mean(axis=1)
            candidate_fitness, reference = fitness[:-1], float(fitness[-1])
            strategy.tell(candidates, [-f for f in candidate_fitness])  # cma minimises
            gains += [(float(f) - reference, np.array(c)) for f, c in zip(candidate_fitness, candidates)]
            rows.append({"generation": generation + 1, "seeds": " ".join(map(str, seeds)),
                         "best": float(candidate_fitness.max()), "mean": float(candidate_fitness.mean()),
                         "median": float(np.median(candidate_fitness)), "start": reference,
                         "sigma": float(strategy.sigma), "seconds": round(time.perf_counter() - started, 1)})
            pd.DataFrame(rows).to_csv(curve_csv, index=False)  # after every generation: a long run shows its progress
        # xfavorite: the distribution's mean with the fixed numbers in place (`mean` holds only the searched ones)
        finalists = {"start": start, "cma mean": np.array(strategy.result.xfavorite),
                     **{candidate_name(rank): vector
                        for rank, vector in enumerate(leading_candidates(gains, finalist_candidates))}}
        final_fitness = score(list(finalists.values()), config.seeds, at_once)
    final = pd.DataFrame(final_fitness, index=list(finalists), columns=[f"seed {s}" for s in config.seeds])
    final.insert(0, "mean", final_fitness.mean(axis=1))
    chosen = str(final["mean"].idxmax())
    policy = policy_class.from_vector(finalists[chosen]).save(config.out_dir / "policy.json")
    final.to_csv(config.out_dir / "final.csv", index_label="policy")
    curve = pd.DataFrame(rows)
    curve_png = plot_curve(curve, config, config.out_dir / "curve.png")
    return TrainOutcome(policy, curve_csv, curve_png, final, chosen, time.perf_counter() - started, done, curve)


def cma_options(config: TrainConfig, start: np.ndarray) -> dict:
    """CMA-ES's options: separable, the population and seed configured, and, when the search is confined to some
    actions or fields, every other number of the vector fixed at the start's."""
    options = {"popsize": config.population, "seed": config.seed, "CMA_diagonal": True, "verbose": -9}
    if config.actions or config.fields:
        searched = set(config.policy_class().searched_indices(config.actions, config.fields))
        options["fixed_variables"] = {i: float(v) for i, v in enumerate(start) if i not in searched}
    return options


def confinement(config: TrainConfig) -> str:
    """What a confined search moves, for the curve's title and the console ("" when it moves every number)."""
    parts = []
    if config.actions:
        parts.append(f"the actions {', '.join(config.actions)}")
    if config.fields:
        parts.append(f"the weights on {', '.join(config.fields)}")
    return ", searching only " + ": ".join(parts) if parts else ""


def leading_candidates(gains: list[tuple[float, np.ndarray]], count: int) -> list[np.ndarray]:
    """The `count` candidates that beat the start by the most on their own generation's seeds, best first: the
    seeds of a generation move every policy's score alike, so a raw score would favour a generation of easy
    markets over a better candidate met on hard ones."""
    return [vector for _, vector in sorted(gains, key=lambda gain: gain[0], reverse=True)[:count]]


def candidate_name(rank: int) -> str:
    """The finalists' names in final.csv: "best candidate", "2nd best candidate", ..."""
    return "best candidate" if rank == 0 else f"{rank + 1}{ {1: 'nd', 2: 'rd'}.get(rank, 'th')} best candidate"


def _check_training_seeds(seeds: tuple[int, ...]) -> None:
    """Training may use any seeds but the held-out ones."""
    from agents.learning.seeds import HELD_OUT_CHAIN_SEEDS, HELD_OUT_MEMORY_SEEDS

    held_out = sorted(set(seeds) & (set(HELD_OUT_MEMORY_SEEDS) | set(HELD_OUT_CHAIN_SEEDS)))
    if held_out:
        raise ValueError(f"seeds {held_out} are held out for evaluation; train on others (default: "
                         f"{TRAINING_SEEDS[0]}..{TRAINING_SEEDS[-1]})")


def start_name(config: TrainConfig) -> str:
    if config.start:
        return str(config.start)
    return "cost-plus 30%" if config.role == "provider" else "near the baseline client"


def plot_curve(curve: pd.DataFrame, config: TrainConfig, path: Path) -> Path:
    """Left: best and mean fitness per generation with the start's on the same seeds (each generation meets other
    seeds, which move all three together). Right: best and mean minus the start's, the gain the seeds do not hide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    label = {"sortino": "Sortino ratio of the seat", "pnl": "trading P&L of the seat (USD)",
             "surplus": "client surplus of the seat (USD)"}[config.objective]
    figure, (raw, gain) = plt.subplots(1, 2, figsize=(11, 4.6))
    x = curve["generation"]
    raw.plot(x, curve["best"], marker="o", label="best candidate")
    raw.plot(x, curve["mean"], marker=".", label="mean of the population")
    raw.plot(x, curve["start"], linestyle="--", color="grey", label=f"start ({start_name(config)}), same seeds")
    raw.set_ylabel(f"fitness: {label}")
    gain.plot(x, curve["best"] - curve["start"], marker="o", label="best candidate - start")
    gain.plot(x, curve["mean"] - curve["start"], marker=".", label="population mean - start")
    gain.axhline(0, color="grey", linestyle="--", linewidth=1)
    gain.set_ylabel("fitness over the start's, same seeds")
    per_generation = config.seeds_per_generation
    searched = confinement(config)
    title = (f"CMA-ES on {config.scenario}: population {config.population}, {per_generation} training "
             f"seed{'s' if per_generation > 1 else ''} per generation{searched}")
    figure.suptitle("\n".join(textwrap.wrap(title, 130)), fontsize=10)  # a confined search's title runs long
    for axes in (raw, gain):
        axes.set_xlabel("generation")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        # Under the axes: inside, the legend would hide a stretch of some curve.
        axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
