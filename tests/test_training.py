"""Training and evaluating a learned provider (agents/learning/train.py, evaluate.py): the seed lists stay
disjoint, the statistics are Student's t, the headline line is exact, a tiny CMA-ES run on a local Ray writes a
loadable policy and its curve, and a tiny evaluation ends with the headline. The tiny runs use the training
market with one seed each (about 2 minutes together on 2 cores)."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agents.learning.evaluate import EvaluateConfig, headline, headline_line, paired, summarise
from agents.learning.features import ACTIONS, DECLINE, OBSERVATION_NAMES
from agents.learning.policy import LinearPolicy
from agents.learning.seat import SEAT_FIGURES, seat_figures, seat_groups, with_seat
from agents.learning.seeds import (
    HELD_OUT_CHAIN_SEEDS,
    HELD_OUT_MEMORY_SEEDS,
    TRAINING_SEEDS,
    check_held_out,
    generation_seeds,
)
from agents.learning.train import TrainConfig, cma_options, leading_candidates, train
from agents.simulation.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent


def test_held_out_seeds_are_disjoint_from_training_and_enough():
    assert not set(TRAINING_SEEDS) & (set(HELD_OUT_MEMORY_SEEDS) | set(HELD_OUT_CHAIN_SEEDS))
    assert len(set(HELD_OUT_MEMORY_SEEDS)) >= 20 and len(set(HELD_OUT_CHAIN_SEEDS)) >= 3
    with pytest.raises(ValueError, match=r"seeds \[3\] are training seeds"):
        check_held_out([1001, 3])


def test_generations_take_the_training_seeds_in_turn():
    assert generation_seeds(0, 4) == TRAINING_SEEDS[:4]
    assert generation_seeds(1, 4) == TRAINING_SEEDS[4:8]
    assert generation_seeds(5, 3, (1, 2, 3, 4)) == (4, 1, 2)  # wraps around


def test_finalists_are_the_candidates_that_beat_the_start_most_on_the_same_seeds():
    """A candidate of a generation of easy markets scores high and gains little; one met on hard markets scores
    lower and gains more: the second is the better policy, and the first finalist."""
    easy, hard, worse = np.full(3, 1.0), np.full(3, 2.0), np.full(3, 3.0)
    gains = [(5.1 - 5.0, easy), (3.8 - 3.0, hard), (4.9 - 5.0, worse)]  # (raw score - the start's), same seeds
    leaders = leading_candidates(gains, 2)
    assert [v[0] for v in leaders] == [2.0, 1.0]
    assert len(leading_candidates(gains, 5)) == 3


def test_the_seat_is_filled_and_read_by_group():
    scenario = load_scenario("train-provider")
    groups = seat_groups(scenario)
    assert groups == ("learner",)
    filled = with_seat(scenario, "cost-plus", {"margin": 0.5}, seed=7)
    seat = [g for g in filled.providers if g.name == "learner"][0]
    assert (seat.strategy, seat.params, filled.seed) == ("cost-plus", {"margin": 0.5}, 7)
    assert [g.strategy for g in filled.providers if g.name != "learner"] == ["cost-plus", "thompson"]
    agents = pd.DataFrame([
        {"group": "learner", "agent": "learner-0", "pnl_usd": 1.0, "trading_pnl_usd": 0.5, "sharpe": 0.2,
         "sortino": None, "mean_differential_sharpe": 2.0, "deals_done": 3},
        {"group": "learner", "agent": "learner-1", "pnl_usd": 3.0, "trading_pnl_usd": 1.5, "sharpe": 0.4,
         "sortino": 1.0, "mean_differential_sharpe": 4.0, "deals_done": 5},
        {"group": "thompson", "agent": "thompson-0", "pnl_usd": 9.0, "trading_pnl_usd": 9.0, "sharpe": 9.0,
         "sortino": 9.0, "mean_differential_sharpe": 9.0, "deals_done": 9},
    ])
    figures = seat_figures(agents, groups)
    # An undefined ratio counts as 0: (0 + 1) / 2.
    assert figures == {"pnl_usd": 2.0, "trading_pnl_usd": 1.0, "sharpe": pytest.approx(0.3), "sortino": 0.5,
                       "differential_sharpe": 3.0, "deals_done": 4.0}



def test_the_self_play_market_is_the_training_market_with_every_provider_in_the_seat():
    """Self-play scores a policy against copies of itself: no provider may stay outside the seat, and the market
    around the seat (clients, jobs, the day, the machines) is train-provider's, so that the two compare."""
    selfplay, training = load_scenario("selfplay-provider"), load_scenario("train-provider")
    assert seat_groups(selfplay) == tuple(g.name for g in selfplay.providers) and len(selfplay.providers) == 3
    filled = with_seat(selfplay, "thompson", {}, seed=3)
    assert {g.strategy for g in filled.providers} == {"thompson"}
    machines = [(g.count, g.region, g.hardware, g.float_tokens) for g in selfplay.providers]
    assert machines == [(g.count, g.region, g.hardware, g.float_tokens) for g in training.providers]
    assert replace(selfplay, name=training.name, providers=training.providers) == training

def _runs(sortinos: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for strategy, values in sortinos.items():
        for seed, value in enumerate(values):
            rows.append({"backend": "memory", "strategy": strategy, "seed": seed,
                         **{f: value for f in SEAT_FIGURES}})
    return pd.DataFrame(rows)


def test_statistics_are_means_with_students_t_intervals_and_the_headline_is_exact():
    runs = _runs({"learned": [1.0, 2.0, 3.0], "thompson": [1.0, 1.0, 1.0], "cost-plus": [0.5, 2.5, 1.5]})
    table = summarise(runs)
    row = table[(table["strategy"] == "learned") & (table["figure"] == "sortino")].iloc[0]
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) x sample deviation 1 / sqrt(3)
    assert (row["n"], row["mean"]) == (3, 2.0)
    assert row["low"] == pytest.approx(2.0 - half) and row["high"] == pytest.approx(2.0 + half)
    ratio, best = headline(table)
    assert (best, ratio) == ("cost-plus", pytest.approx(2.0 / 1.5))
    assert headline_line(ratio) == "learned/best-baseline sortino: 1.333"
    # Seed by seed: learned - thompson = 0, 1, 2 (mean 1, sample deviation 1); better on two seeds of three.
    against = paired(runs).set_index(["baseline", "figure"]).loc[("thompson", "sortino")]
    assert (against["n"], against["mean"], against["learned_better"]) == (3, 1.0, 2)
    assert against["high"] - against["mean"] == pytest.approx(half)


@pytest.mark.parametrize("fields, message", [
    ({"memory_seeds": (1001, 2)}, "seeds [2] are training seeds"),
    ({"chain_seeds": (5,)}, "seeds [5] are training seeds"),
    ({"tuning_seeds": (1001,)}, "tuned on training seeds only"),
    ({"tuned": (0.1, 0.2, 0.3, 0.3)}, "at least 5 values"),
])
def test_an_evaluation_that_would_not_be_honest_is_refused(fields, message):
    with pytest.raises(ValueError) as refused:
        EvaluateConfig(**fields).check()
    assert message in str(refused.value)


def test_a_search_confined_to_some_actions_or_fields_fixes_every_other_number_at_the_start():
    start = np.arange(LinearPolicy.size(), dtype=float)
    vector = LinearPolicy.from_vector(start)
    row, column = ACTIONS.index("offer at the max price"), OBSERVATION_NAMES.index("is_counter")

    def searched(**confined) -> list[float]:
        options = cma_options(TrainConfig(**confined), start)
        assert all(options["fixed_variables"][i] == start[i] for i in options["fixed_variables"])
        return [start[i] for i in sorted(set(range(len(start))) - set(options["fixed_variables"]))]

    # An action: its row of weights and its bias. A field: every action's weight on it. Both: the one weight.
    assert searched(actions=("offer at the max price",)) == [*vector.weights[row], vector.bias[row]]
    assert searched(fields=("is_counter",)) == list(vector.weights[:, column])
    assert searched(actions=("offer at the max price",), fields=("is_counter",)) == [vector.weights[row, column]]
    assert "fixed_variables" not in cma_options(TrainConfig(), start)
    with pytest.raises(ValueError, match="not an action: 'offer at cost'"):
        TrainConfig(actions=("offer at cost",)).check()
    with pytest.raises(ValueError, match="not a field: 'mood'"):
        TrainConfig(fields=("mood",)).check()


def test_training_refuses_held_out_seeds(tmp_path):
    with pytest.raises(ValueError, match="held out for evaluation"):
        train(TrainConfig(seeds=(1, 1001), seeds_per_generation=1, out_dir=tmp_path))


def test_a_tiny_training_run_writes_a_loadable_policy_and_its_curve(tmp_path):
    """Two generations of three candidates on one seed, on a local Ray of two workers."""
    outcome = train(TrainConfig(generations=2, population=3, seeds=(1,), seeds_per_generation=1,
                                out_dir=tmp_path, workers=2))
    policy = LinearPolicy.load(outcome.policy)
    assert policy.to_vector().shape == (LinearPolicy.size(),)
    curve = pd.read_csv(outcome.curve_csv)
    assert list(curve["generation"]) == [1, 2] and curve["best"].ge(curve["mean"]).all()
    # The start (cost-plus at 30%) is scored on the same seed each generation: the same market, the same figure.
    assert curve["start"].nunique() == 1 and curve["start"].iloc[0] > 0
    assert outcome.curve_png.stat().st_size > 10_000
    assert outcome.runs == 2 * 4 + 5  # 2 generations of 3 candidates and the start; 5 finalists
    assert list(outcome.final.index) == ["start", "cma mean", "best candidate", "2nd best candidate",
                                         "3rd best candidate"]
    assert outcome.final.loc[outcome.chosen, "mean"] == outcome.final["mean"].max()


def test_training_starts_from_the_policy_file_it_is_given(tmp_path):
    """A warm start: the search starts from `start`, which is the curve's reference and a finalist. A policy that
    declines every request never trades (Sortino counted 0), unlike cost-plus at 30% (above)."""
    bias = np.full(len(ACTIONS), -1.0)
    bias[DECLINE] = 0.0  # no weights: declining always scores best
    start = LinearPolicy(np.zeros(LinearPolicy.shape()), bias).save(tmp_path / "declining.json")
    outcome = train(TrainConfig(generations=1, population=3, seeds=(1,), seeds_per_generation=1, start=start,
                                out_dir=tmp_path / "out", workers=2))
    curve = pd.read_csv(outcome.curve_csv)
    assert curve["start"].tolist() == [0.0] and outcome.final.loc["start", "mean"] == 0.0
    assert outcome.runs == 1 * 4 + 5


def test_a_tiny_evaluation_prints_its_tables_and_ends_with_the_headline(tmp_path):
    """The command, end to end on one held-out memory seed (5 margins tuned on one training seed)."""
    ape = Path(sys.executable).with_name("ape")
    result = subprocess.run(
        [str(ape), "run", "evaluate", "--policy", "policies/initial.json", "--memory-seeds", "1", "--chain-seeds", "0",
         "--margins", "0.1,0.2,0.3,0.5,0.8", "--tuning-seeds", "1", "--workers", "2", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("learned/best-baseline sortino: ")
    ratio = float(last.split(": ")[1])
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert sorted(runs["strategy"]) == ["cost-plus", "learned", "thompson"] and set(runs["seed"]) == {1001}
    sortino = runs.set_index("strategy")["sortino"]
    assert ratio == pytest.approx(sortino["learned"] / max(sortino["thompson"], sortino["cost-plus"]), abs=1e-3)
    assert "cost-plus in the seat, margin sweep" in result.stdout and "efficiency" in result.stdout and "learned minus each baseline" in result.stdout
    assert (tmp_path / "evaluation.png").exists() and len(pd.read_csv(tmp_path / "tuning.csv")) == 5


def test_bad_input_is_one_line():
    ape = Path(sys.executable).with_name("ape")
    for args, named in ((["train", "--role", "provider", "--seeds", "1001"], "held out for evaluation"),
                        (["train", "--role", "provider", "--seeds", "x"], "seeds are numbers"),
                        (["train", "--role", "provider", "--start", "nowhere.json"], "does not exist"),
                        (["train", "--role", "provider", "--actions", "offer at cost"], "not an action: 'offer at cost'"),
                        (["train", "--role", "provider", "--fields", "round,mood"], "not a field: 'mood'"),
                        (["evaluate", "--policy", "nowhere.json"], "does not exist"),
                        (["evaluate", "--margins", "0.1,0.2"], "at least 5 values"),
                        (["train", "--role", "client", "--objective", "sortino"], "objective is one of surplus"),
                        (["train", "--role", "client", "--scenario", "train-provider"], "no client group"),
                        (["evaluate", "--role", "client", "--targets", "0.5,0.7"], "at least 5 values"),
                        (["evaluate", "--role", "client", "--policy", "policies/provider.json"],
                         "was made for other observation")):
        result = subprocess.run([str(ape), "run", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1 and named in lines[0], (args, result.stderr)
