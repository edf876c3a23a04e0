"""Evaluating a trained provider policy against the baselines, on held-out seeds (agents.learning.seeds).

The seat of the training scenario (agents.learning.seat) is filled in turn with the learned policy, Thompson
sampling, and cost-plus at its best margin, everything else in the market unchanged. Cost-plus's margin is
tuned first, by a sweep over at least five margins on the training seeds (the seeds the learned policy was
trained on: the baseline gets the same chance to fit them), choosing the margin with the best mean Sortino.
Then each strategy runs on every held-out memory seed and chain seed (full runs, reports kept) and the table
gives, per backend and strategy, the mean and 95% Student-t interval of the seat's P&L, Sharpe, Sortino and
differential Sharpe, and what the seat's strategy does to the market: allocative efficiency, prices per
core-hour (the market's and the seat's), clients' and providers' surplus.

The headline is the ratio of the learned seat's mean Sortino to the best baseline's, on the memory seeds:
`learned/best-baseline sortino: X`.

The output folder:
    tuning.csv   cost-plus margin sweep: per margin, the seat's mean Sortino and its interval on the training seeds
    runs.csv     one row per held-out run: backend, strategy, seed, the seat's figures, the market's
    table.csv    per backend, strategy and figure: n, mean, 95% interval
    paired.csv   the learned seat minus each baseline on the same memory seeds: mean difference, 95% interval
    runs/        every held-out run's report (runs/<backend>/<strategy>/<scenario>-seed<N>/report.html)
    evaluation.png  the seat's Sortino and P&L per strategy and backend, means with 95% intervals
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from agents.learning.pool import SeatRun, run_all
from agents.learning.seat import LEARNED, MARKET_FIGURES, SEAT_FIGURES, seat_groups
from agents.learning.seeds import HELD_OUT_CHAIN_SEEDS, HELD_OUT_MEMORY_SEEDS, TRAINING_SEEDS, check_held_out
from agents.simulation.scenario import load_scenario
from agents.sweeps.ray_session import ray_session
from agents.sweeps.report import confidence_interval

DEFAULT_MARGINS = (0.1, 0.2, 0.3, 0.5, 0.8, 1.2)
MIN_MARGINS = 5
BASELINES = ("thompson", "cost-plus")
HEADLINE_LABEL = "learned/best-baseline sortino"


@dataclass(frozen=True)
class EvaluateConfig:
    policy: Path = Path("policies/provider.json")
    scenario: str = "train-provider"
    memory_seeds: tuple[int, ...] = HELD_OUT_MEMORY_SEEDS
    chain_seeds: tuple[int, ...] = HELD_OUT_CHAIN_SEEDS
    margins: tuple[float, ...] = DEFAULT_MARGINS
    tuning_seeds: tuple[int, ...] = TRAINING_SEEDS
    out_dir: Path = Path("runs/evaluate/provider")
    workers: int | None = None
    address: str | None = None

    def check(self) -> None:
        """ValueError (one line) for an evaluation that would not be honest or cannot run."""
        if not self.memory_seeds:
            raise ValueError("evaluation needs at least one held-out memory seed")
        check_held_out((*self.memory_seeds, *self.chain_seeds))
        outside = sorted(set(self.tuning_seeds) - set(TRAINING_SEEDS))
        if outside or not self.tuning_seeds:
            raise ValueError(f"cost-plus is tuned on training seeds only; {outside or 'none given'} are not")
        if len(set(self.margins)) < MIN_MARGINS:
            raise ValueError(f"cost-plus's margin is tuned over at least {MIN_MARGINS} values, got "
                             f"{len(set(self.margins))}")


@dataclass
class Evaluation:
    tuning: pd.DataFrame
    best_margin: float
    runs: pd.DataFrame
    table: pd.DataFrame
    ratio: float
    best_baseline: str
    plot: Path
    paired: pd.DataFrame  # the learned seat minus each baseline, seed by seed (memory seeds)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per backend, strategy and figure: n, mean and the 95% Student-t interval over the runs (seeds)."""
    rows = []
    for (backend, strategy), group in runs.groupby(["backend", "strategy"], sort=False):
        for figure in (*SEAT_FIGURES, *MARKET_FIGURES):
            if figure not in group:
                continue
            n, mean, low, high = confidence_interval(group[figure].tolist())
            rows.append({"backend": backend, "strategy": strategy, "figure": figure, "n": n, "mean": mean,
                         "low": low, "high": high})
    return pd.DataFrame(rows)


PAIRED_FIGURES = ("sortino", "trading_pnl_usd")


def paired(runs: pd.DataFrame, backend: str = "memory") -> pd.DataFrame:
    """The learned seat minus each baseline on the same seeds (the same market, the same clients' draws): per
    baseline and figure, n, the mean difference and its 95% interval, and on how many seeds the learned seat did
    better. Pairing removes what a seed does to every strategy alike, so these intervals are narrower than the
    per-strategy ones."""
    rows = []
    mine = runs[runs["backend"] == backend]
    for figure in PAIRED_FIGURES:
        wide = mine.pivot(index="seed", columns="strategy", values=figure)
        if LEARNED not in wide:
            continue
        for baseline in (c for c in wide.columns if c != LEARNED):
            difference = (wide[LEARNED] - wide[baseline]).dropna()
            n, mean, low, high = confidence_interval(difference.tolist())
            rows.append({"backend": backend, "baseline": baseline, "figure": figure, "n": n, "mean": mean,
                         "low": low, "high": high, "learned_better": int((difference > 0).sum())})
    return pd.DataFrame(rows)


def headline(table: pd.DataFrame, backend: str = "memory") -> tuple[float, str]:
    """(the learned seat's mean Sortino over the best baseline's, that baseline's name) on `backend`."""
    sortino = table[(table["backend"] == backend) & (table["figure"] == "sortino")].set_index("strategy")["mean"]
    baselines = sortino.drop(LEARNED, errors="ignore")
    if LEARNED not in sortino or baselines.empty:
        raise ValueError(f"the {backend} table needs the learned seat and at least one baseline")
    best = str(baselines.idxmax())
    return float(sortino[LEARNED] / baselines[best]) if baselines[best] else math.nan, best


def headline_line(ratio: float) -> str:
    return f"{HEADLINE_LABEL}: {ratio:.3f}"


def evaluate(config: EvaluateConfig, progress=None) -> Evaluation:
    """Tune cost-plus, run every strategy on every held-out seed, write the output folder."""
    from agents.learning.policy import LinearPolicy

    config.check()
    policy = LinearPolicy.load(config.policy)  # a missing or mismatched file: one line, before any run
    scenario = load_scenario(config.scenario)
    groups = seat_groups(scenario)
    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    margins = tuple(sorted(set(config.margins)))
    tuning_runs = [SeatRun(seed=s, strategy="cost-plus", params={"margin": m})
                   for m in margins for s in config.tuning_seeds]
    plan = {LEARNED: {"strategy": LEARNED, "policy_vector": tuple(float(v) for v in policy.to_vector())},
            "thompson": {"strategy": "thompson"}}
    held_out = [("memory", s) for s in config.memory_seeds] + [("chain", s) for s in config.chain_seeds]
    total = len(tuning_runs) + (len(plan) + 1) * len(held_out)
    done = 0

    def advance(_run):
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    if config.chain_seeds:
        _compile_contracts()
    with ray_session(config.workers, config.address) as at_once:
        figures = run_all(scenario, groups, tuning_runs, at_once=at_once, on_done=advance)
        tuning = pd.DataFrame([{"margin": run.params["margin"], "seed": run.seed, **f}
                               for run, f in zip(tuning_runs, figures)])
        tuning_table = _tuning_table(tuning)
        tuning_table.to_csv(out / "tuning.csv", index=False)
        best_margin = float(tuning_table.loc[tuning_table["sortino"].idxmax(), "margin"])
        plan["cost-plus"] = {"strategy": "cost-plus", "params": {"margin": best_margin}}
        labelled = [(label, backend, SeatRun(seed=seed, lean=False, backend=backend,
                                             keep_dir=str((out / "runs" / backend / label).resolve()), **fields))
                    for backend, seed in held_out for label, fields in plan.items()]
        figures = run_all(scenario, groups, [run for _, _, run in labelled], at_once=at_once, on_done=advance)
    runs = pd.DataFrame([{"backend": backend, "strategy": label, "seed": run.seed, **f}
                         for (label, backend, run), f in zip(labelled, figures)])
    runs.to_csv(out / "runs.csv", index=False)
    table = summarise(runs)
    table.to_csv(out / "table.csv", index=False)
    ratio, best = headline(table)
    differences = paired(runs)
    differences.to_csv(out / "paired.csv", index=False)
    plot = plot_evaluation(table, best_margin, out / "evaluation.png")
    return Evaluation(tuning_table, best_margin, runs, table, ratio, best, plot, differences)


def _compile_contracts() -> None:
    """Compile the contracts (if they changed) once, here, rather than in several chain runs at the same time."""
    from agents.deploy.contracts import artifact

    for name in ("ComputeMarket", "TestToken"):
        artifact(name)


def _tuning_table(tuning: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for margin, group in tuning.groupby("margin"):
        n, mean, low, high = confidence_interval(group["sortino"].tolist())
        rows.append({"margin": margin, "n": n, "sortino": mean, "sortino_low": low, "sortino_high": high,
                     "trading_pnl_usd": float(group["trading_pnl_usd"].mean()),
                     "deals_done": float(group["deals_done"].mean())})
    return pd.DataFrame(rows)


def plot_evaluation(table: pd.DataFrame, best_margin: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = list(dict.fromkeys(table["backend"]))
    strategies = list(dict.fromkeys(table["strategy"]))
    names = {"cost-plus": f"cost-plus {best_margin:.0%}"}
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.8 / len(backends)
    for panel, (figure_name, title) in zip(axes, (("sortino", "Sortino of the seat"),
                                                  ("trading_pnl_usd", "trading P&L of the seat (USD)"))):
        for b, backend in enumerate(backends):
            rows = table[(table["backend"] == backend) & (table["figure"] == figure_name)].set_index("strategy")
            rows = rows.reindex(strategies)
            x = [i + (b - (len(backends) - 1) / 2) * width for i in range(len(strategies))]
            errors = [(rows["mean"] - rows["low"]).fillna(0).clip(lower=0),
                      (rows["high"] - rows["mean"]).fillna(0).clip(lower=0)]
            n = int(rows["n"].max()) if rows["n"].notna().any() else 0
            panel.bar(x, rows["mean"], width, yerr=errors, capsize=4, label=f"{backend} ({n} held-out seeds)")
        panel.set_xticks(range(len(strategies)), [names.get(s, s) for s in strategies])
        panel.set_title(f"{title}: mean, 95% interval", fontsize=10)
        panel.axhline(0, color="black", linewidth=0.6)
        panel.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
