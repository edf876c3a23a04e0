"""Evaluating a trained provider policy (or client policy: `role`) against the baselines, on held-out seeds
(agents.learning.seeds).

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

A client seat (ROLE_BASELINES) is measured the same way against the baseline client (BudgetClient), the share of
its max price at which it accepts at once (`target_fraction`) tuned over at least five values, by the seat's
surplus: `learned/best-baseline client surplus: X`.

The output folder:
    tuning.csv   the tuned baseline's sweep: per value, the seat's mean figure and its interval on the training seeds
    runs.csv     one row per held-out run: backend, strategy, seed, the seat's figures, the market's
    table.csv    per backend, strategy and figure: n, mean, 95% interval
    paired.csv   the learned seat minus each baseline on the same memory seeds: mean difference, 95% interval
    runs/        every held-out run's report (runs/<backend>/<strategy>/<scenario>-seed<N>/report.html)
    evaluation.png  the seat's Sortino and P&L (a client's surplus and price) per strategy and backend, means with
                    95% intervals
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from agents.learning.pool import SeatRun, run_all
from agents.learning.seat import CLIENT_SEAT_FIGURES, LEARNED, MARKET_FIGURES, learned_strategy, seat_groups
from agents.learning.seeds import HELD_OUT_CHAIN_SEEDS, HELD_OUT_MEMORY_SEEDS, TRAINING_SEEDS, check_held_out
from agents.simulation.scenario import load_scenario
from agents.sweeps.ray_session import ray_session
from agents.sweeps.report import confidence_interval

DEFAULT_MARGINS = (0.1, 0.2, 0.3, 0.5, 0.8, 1.2)
DEFAULT_TARGETS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
MIN_MARGINS = 5  # values a tuned baseline's parameter is swept over, at least


@dataclass(frozen=True)
class SeatBaselines:
    """What a role's learned seat is measured against and by: a baseline whose parameter is tuned by a sweep on the
    training seeds, the baselines taken as they are, and the figure of the headline."""

    tuned: str  # the tuned baseline's strategy
    parameter: str  # its parameter the sweep tunes
    defaults: tuple[float, ...]  # the values swept by default
    fixed: tuple[str, ...]  # baselines without a parameter to tune
    figure: str  # the seat figure the tuning and the headline compare
    figure_name: str  # its name in the headline
    paired: tuple[str, ...]  # the figures compared seed by seed with each baseline (paired.csv)

    def label(self, value: float) -> str:
        """The tuned baseline's name at its chosen value: "cost-plus 50%", "budget 70%"."""
        return f"{self.tuned} {value:.0%}"


# A provider: Thompson sampling, and cost-plus with its margin tuned, on Sortino. A client: the baseline client
# with the share of the max price it accepts at once tuned, on its surplus (its Sortino would count only payments).
ROLE_BASELINES = {
    "provider": SeatBaselines("cost-plus", "margin", DEFAULT_MARGINS, ("thompson",), "sortino", "sortino",
                              ("sortino", "trading_pnl_usd")),
    "client": SeatBaselines("budget", "target_fraction", DEFAULT_TARGETS, (), "client_surplus_usd",
                            "client surplus", ("client_surplus_usd", "trading_pnl_usd")),
}


@dataclass(frozen=True)
class EvaluateConfig:
    policy: Path = Path("policies/provider.json")
    scenario: str = "train-provider"
    memory_seeds: tuple[int, ...] = HELD_OUT_MEMORY_SEEDS
    chain_seeds: tuple[int, ...] = HELD_OUT_CHAIN_SEEDS
    tuned: tuple[float, ...] = DEFAULT_MARGINS  # the tuned baseline's values (a provider: cost-plus margins)
    tuning_seeds: tuple[int, ...] = TRAINING_SEEDS
    out_dir: Path = Path("runs/evaluate/provider")
    workers: int | None = None
    address: str | None = None
    role: str = "provider"

    @property
    def baselines(self) -> SeatBaselines:
        return ROLE_BASELINES[self.role]

    def check(self) -> None:
        """ValueError (one line) for an evaluation that would not be honest or cannot run."""
        learned_strategy(self.role)
        if not self.memory_seeds:
            raise ValueError("evaluation needs at least one held-out memory seed")
        check_held_out((*self.memory_seeds, *self.chain_seeds))
        tuned = self.baselines
        outside = sorted(set(self.tuning_seeds) - set(TRAINING_SEEDS))
        if outside or not self.tuning_seeds:
            raise ValueError(f"{tuned.tuned} is tuned on training seeds only; {outside or 'none given'} are not")
        if len(set(self.tuned)) < MIN_MARGINS:
            raise ValueError(f"{tuned.tuned}'s {tuned.parameter} is tuned over at least {MIN_MARGINS} values, got "
                             f"{len(set(self.tuned))}")


@dataclass
class Evaluation:
    tuning: pd.DataFrame
    best_value: float  # the tuned baseline's chosen value (a margin, a target fraction)
    runs: pd.DataFrame
    table: pd.DataFrame
    ratio: float
    best_baseline: str
    plot: Path
    paired: pd.DataFrame  # the learned seat minus each baseline, seed by seed (memory seeds)
    baselines: SeatBaselines = ROLE_BASELINES["provider"]

    @property
    def labels(self) -> dict[str, str]:
        """Strategy names as the tables show them: the tuned baseline with its value."""
        return {self.baselines.tuned: self.baselines.label(self.best_value)}


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per backend, strategy and figure: n, mean and the 95% Student-t interval over the runs (seeds)."""
    rows = []
    for (backend, strategy), group in runs.groupby(["backend", "strategy"], sort=False):
        for figure in (*CLIENT_SEAT_FIGURES, *MARKET_FIGURES):
            if figure not in group:
                continue
            n, mean, low, high = confidence_interval(group[figure].tolist())
            rows.append({"backend": backend, "strategy": strategy, "figure": figure, "n": n, "mean": mean,
                         "low": low, "high": high})
    return pd.DataFrame(rows)


PAIRED_FIGURES = ("sortino", "trading_pnl_usd")


def paired(runs: pd.DataFrame, backend: str = "memory", figures: tuple[str, ...] = PAIRED_FIGURES) -> pd.DataFrame:
    """The learned seat minus each baseline on the same seeds (the same market, the same clients' draws): per
    baseline and figure, n, the mean difference and its 95% interval, and on how many seeds the learned seat did
    better. Pairing removes what a seed does to every strategy alike, so these intervals are narrower than the
    per-strategy ones."""
    rows = []
    mine = runs[runs["backend"] == backend]
    for figure in figures:
        wide = mine.pivot(index="seed", columns="strategy", values=figure)
        if LEARNED not in wide:
            continue
        for baseline in (c for c in wide.columns if c != LEARNED):
            difference = (wide[LEARNED] - wide[baseline]).dropna()
            n, mean, low, high = confidence_interval(difference.tolist())
            rows.append({"backend": backend, "baseline": baseline, "figure": figure, "n": n, "mean": mean,
                         "low": low, "high": high, "learned_better": int((difference > 0).sum())})
    return pd.DataFrame(rows)


def headline(table: pd.DataFrame, backend: str = "memory", figure: str = "sortino") -> tuple[float, str]:
    """(the learned seat's mean `figure` over the best baseline's, that baseline's name) on `backend`."""
    means = table[(table["backend"] == backend) & (table["figure"] == figure)].set_index("strategy")["mean"]
    baselines = means.drop(LEARNED, errors="ignore")
    if LEARNED not in means or baselines.empty:
        raise ValueError(f"the {backend} table needs the learned seat and at least one baseline")
    best = str(baselines.idxmax())
    return float(means[LEARNED] / baselines[best]) if baselines[best] else math.nan, best


def headline_line(ratio: float, figure_name: str = "sortino") -> str:
    return f"learned/best-baseline {figure_name}: {ratio:.3f}"


def evaluate(config: EvaluateConfig, progress=None) -> Evaluation:
    """Tune the tuned baseline, run every strategy on every held-out seed, write the output folder."""
    from agents.learning.policy import policy_class

    config.check()
    # A missing or mismatched file: one line, before any run.
    policy = policy_class(config.role).load(config.policy)
    scenario = load_scenario(config.scenario)
    role, baselines = config.role, config.baselines
    groups = seat_groups(scenario, role)
    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    values = tuple(sorted(set(config.tuned)))
    tuning_runs = [SeatRun(seed=s, strategy=baselines.tuned, params={baselines.parameter: v}, role=role)
                   for v in values for s in config.tuning_seeds]
    plan = {LEARNED: {"strategy": learned_strategy(role), "policy_vector": tuple(float(v) for v in policy.to_vector())},
            **{name: {"strategy": name} for name in baselines.fixed}}
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
        tuning = pd.DataFrame([{"value": run.params[baselines.parameter], "seed": run.seed, **f}
                               for run, f in zip(tuning_runs, figures)])
        tuning_table = _tuning_table(tuning, baselines.figure)
        tuning_table.to_csv(out / "tuning.csv", index=False)
        best_value = float(tuning_table.loc[tuning_table[baselines.figure].idxmax(), "value"])
        plan[baselines.tuned] = {"strategy": baselines.tuned, "params": {baselines.parameter: best_value}}
        labelled = [(label, backend, SeatRun(seed=seed, lean=False, backend=backend, role=role,
                                             keep_dir=str((out / "runs" / backend / label).resolve()), **fields))
                    for backend, seed in held_out for label, fields in plan.items()]
        figures = run_all(scenario, groups, [run for _, _, run in labelled], at_once=at_once, on_done=advance)
    runs = pd.DataFrame([{"backend": backend, "strategy": label, "seed": run.seed, **f}
                         for (label, backend, run), f in zip(labelled, figures)])
    runs.to_csv(out / "runs.csv", index=False)
    table = summarise(runs)
    table.to_csv(out / "table.csv", index=False)
    ratio, best = headline(table, figure=baselines.figure)
    differences = paired(runs, figures=baselines.paired)
    differences.to_csv(out / "paired.csv", index=False)
    plot = plot_evaluation(table, baselines.label(best_value), out / "evaluation.png", baselines)
    return Evaluation(tuning_table, best_value, runs, table, ratio, best, plot, differences, baselines)


def _compile_contracts() -> None:
    """Compile the contracts (if they changed) once, here, rather than in several chain runs at the same time."""
    from agents.deploy.contracts import artifact

    for name in ("ComputeMarket", "TestToken"):
        artifact(name)


def _tuning_table(tuning: pd.DataFrame, figure: str = "sortino") -> pd.DataFrame:
    """Per swept value: the tuned figure's mean and 95% interval on the tuning seeds, trading P&L, deals."""
    rows = []
    for value, group in tuning.groupby("value"):
        n, mean, low, high = confidence_interval(group[figure].tolist())
        rows.append({"value": value, "n": n, figure: mean, f"{figure}_low": low, f"{figure}_high": high,
                     "trading_pnl_usd": float(group["trading_pnl_usd"].mean()),
                     "deals_done": float(group["deals_done"].mean())})
    return pd.DataFrame(rows)


# The evaluation plot's two panels per role: (figure, title).
PLOT_PANELS = {"sortino": (("sortino", "Sortino of the seat"), ("trading_pnl_usd", "trading P&L of the seat (USD)")),
               "client_surplus_usd": (("client_surplus_usd", "surplus of the seat (USD)"),
                                      ("seat_price_per_core_hour", "the seat's price (tokens per core-hour)"))}


def plot_evaluation(table: pd.DataFrame, tuned_label: str, path: Path,
                    baselines: SeatBaselines = ROLE_BASELINES["provider"]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = list(dict.fromkeys(table["backend"]))
    strategies = list(dict.fromkeys(table["strategy"]))
    names = {baselines.tuned: tuned_label}
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.8 / len(backends)
    for panel, (figure_name, title) in zip(axes, PLOT_PANELS[baselines.figure]):
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
