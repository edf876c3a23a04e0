"""`ape run evaluate --policy policies/provider.json`: the learned provider against Thompson sampling and cost-plus
(its margin tuned on the training seeds) in the same seat of the training market, on held-out seeds: at least 20
on the memory backend and 3 on the chain (agents/learning/evaluate.py; README: Learning). The last line is
`learned/best-baseline sortino: X` (the memory seeds' mean Sortino of the learned seat over the best baseline's).

    ape run evaluate --policy policies/provider.json                          # 20 memory + 3 chain seeds: ~15 min
    ape run evaluate --policy runs/train/provider/policy.json --chain-seeds 0  # memory only
"""

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from agents.cli import BadInput, OneLineErrors
from agents.learning.cli import progress_bar


@click.command(cls=OneLineErrors)
@click.option("--policy", default="policies/provider.json", show_default=True, type=click.Path(dir_okay=False),
              help="The learned policy file to evaluate.")
@click.option("--scenario", default="train-provider", show_default=True,
              help="The market: a scenario with a provider group whose strategy is `learned` (the seat).")
@click.option("--memory-seeds", type=click.IntRange(min=1, max=20), default=20, show_default=True,
              help="How many of the 20 held-out memory seeds to run.")
@click.option("--chain-seeds", type=click.IntRange(min=0, max=3), default=3, show_default=True,
              help="How many of the 3 held-out chain seeds to run (0: none).")
@click.option("--margins", default="0.1,0.2,0.3,0.5,0.8,1.2", show_default=True,
              help="Cost-plus margins swept on the training seeds (at least 5).")
@click.option("--tuning-seeds", type=click.IntRange(min=1), default=None,
              help="How many training seeds the margin sweep runs on (default: all of them).")
@click.option("--out", "out_dir", default="runs/evaluate/provider", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Runs at once (default: this machine's cores, or the cluster's CPUs).")
@click.option("--address", default=None, help="Join this Ray cluster (host:port of its head) instead of a local Ray.")
def cli(policy, scenario, memory_seeds, chain_seeds, margins, tuning_seeds, out_dir, workers, address):
    from agents.learning.evaluate import EvaluateConfig, evaluate, headline_line
    from agents.learning.policy import LinearPolicy
    from agents.learning.seat import SeatError, seat_groups
    from agents.learning.seeds import HELD_OUT_CHAIN_SEEDS, HELD_OUT_MEMORY_SEEDS, TRAINING_SEEDS
    from agents.simulation.scenario import ScenarioError, load_scenario

    try:
        swept = tuple(float(m) for m in margins.split(",") if m.strip())
    except ValueError:
        raise BadInput(f"--margins: comma-separated numbers, got {margins!r}") from None
    try:
        config = EvaluateConfig(policy=Path(policy), scenario=scenario,
                                memory_seeds=HELD_OUT_MEMORY_SEEDS[:memory_seeds],
                                chain_seeds=HELD_OUT_CHAIN_SEEDS[:chain_seeds], margins=swept,
                                tuning_seeds=TRAINING_SEEDS[:tuning_seeds] if tuning_seeds else TRAINING_SEEDS,
                                out_dir=Path(out_dir), workers=workers, address=address)
        config.check()
        LinearPolicy.load(config.policy)
        seat_groups(load_scenario(scenario))
    except (ValueError, ScenarioError, SeatError) as error:
        raise BadInput(str(error)) from error
    console = Console()
    if console.width < 140:  # the tables' intervals need the room (a pipe or a log file gets 80 columns)
        console = Console(width=140)
    with progress_bar(console, "runs") as advance:
        result = evaluate(config, progress=advance)
    print_tuning(console, result, config)
    print_table(console, result)
    print_paired(console, result)
    console.print(f"runs: {config.out_dir / 'runs.csv'}; table: {config.out_dir / 'table.csv'}; "
                  f"plot: {result.plot}")
    if result.best_baseline:
        console.print(f"best baseline on the memory seeds: {result.best_baseline}")
    print(headline_line(result.ratio))


def _interval(row, digits: int = 3) -> str:
    """mean ± half the 95% interval (Student's t is symmetric), or the mean alone from one value."""
    if row is None or row["n"] == 0:
        return "-"
    if row["n"] < 2:
        return f"{row['mean']:.{digits}f}"
    return f"{row['mean']:.{digits}f} ±{(row['high'] - row['low']) / 2:.{digits}f}"


def print_tuning(console: Console, result, config) -> None:
    table = Table(title=f"cost-plus in the seat, margin sweep on {len(config.tuning_seeds)} training seeds "
                        "(Sortino: mean [95% interval])")
    for column in ("margin", "Sortino", "trading P&L USD", "deals"):
        table.add_column(column, justify="right")
    for _, row in result.tuning.iterrows():
        chosen = " (chosen)" if row["margin"] == result.best_margin else ""
        table.add_row(f"{row['margin']:.0%}{chosen}",
                      _interval({"n": row["n"], "mean": row["sortino"], "low": row["sortino_low"],
                                 "high": row["sortino_high"]}),
                      f"{row['trading_pnl_usd']:.3f}", f"{row['deals_done']:.1f}")
    console.print(table)


# The figures the terminal shows (table.csv has every one), their headers and decimals.
SEAT_COLUMNS = (("pnl_usd", "P&L USD", 2), ("sharpe", "Sharpe", 3), ("sortino", "Sortino", 3),
                ("differential_sharpe", "diff. Sharpe", 2), ("deals_done", "deals", 1))
MARKET_COLUMNS = (("allocative_efficiency", "efficiency", 3), ("price_per_core_hour", "price", 4),
                  ("seat_price_per_core_hour", "seat's price", 4), ("surplus_clients_usd", "clients' surplus", 2),
                  ("surplus_providers_usd", "providers'", 2), ("deals_settled", "settled", 1))


def print_table(console: Console, result) -> None:
    label = {"cost-plus": f"cost-plus {result.best_margin:.0%}"}
    by_key = {(r["backend"], r["strategy"], r["figure"]): r for _, r in result.table.iterrows()}
    keys = list(dict.fromkeys(zip(result.table["backend"], result.table["strategy"])))
    for title, columns in (("the seat: mean ± half the 95% interval over held-out seeds", SEAT_COLUMNS),
                           ("the market with that strategy in the seat: allocative efficiency, prices (tokens per core-hour), "
                            "surplus (USD), deals settled", MARKET_COLUMNS)):
        table = Table(title=title)
        for column in ("backend", "seat", "n"):
            table.add_column(column, no_wrap=True)
        for _, header, _ in columns:
            table.add_column(header, justify="right", no_wrap=True)
        for backend, strategy in keys:
            rows = [by_key.get((backend, strategy, figure)) for figure, _, _ in columns]
            n = max(int(r["n"]) for r in rows if r is not None)
            table.add_row(backend, label.get(strategy, strategy), str(n),
                          *(_interval(r, digits) for r, (_, _, digits) in zip(rows, columns)))
        console.print(table)


def print_paired(console: Console, result) -> None:
    label = {"cost-plus": f"cost-plus {result.best_margin:.0%}"}
    names = {"sortino": "Sortino", "trading_pnl_usd": "trading P&L USD"}
    table = Table(title="learned minus each baseline on the same memory seeds: mean ± half the 95% interval")
    for column in ("baseline", "figure", "n", "difference", "learned better on"):
        table.add_column(column, justify="right", no_wrap=True)
    for _, row in result.paired.iterrows():
        table.add_row(label.get(row["baseline"], row["baseline"]), names[row["figure"]], str(row["n"]),
                      _interval(row), f"{row['learned_better']} of {row['n']} seeds")
    console.print(table)
