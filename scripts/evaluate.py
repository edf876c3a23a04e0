"""`ape run evaluate --policy policies/provider.json`: the learned provider against Thompson sampling and cost-plus
(its margin tuned on the training seeds) in the same seat of the training market, on held-out seeds: at least 20
on the memory backend and 3 on the chain (agents/learning/evaluate.py; README: Learning). The last line is
`learned/best-baseline sortino: X` (the memory seeds' mean Sortino of the learned seat over the best baseline's).
`--role client` evaluates a learned client against the baseline client (its target tuned) in train-client, by
its surplus: `learned/best-baseline client surplus: X`.

    ape run evaluate --policy policies/provider.json                          # 20 memory + 3 chain seeds: ~15 min
    ape run evaluate --policy runs/train/provider/policy.json --chain-seeds 0  # memory only
    ape run evaluate --role client                                            # policies/client.json
"""

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from agents.cli import BadInput, OneLineErrors
from agents.learning.cli import progress_bar


@click.command(cls=OneLineErrors)
@click.option("--role", type=click.Choice(["provider", "client"]), default="provider", show_default=True,
              help="Whose seat: a provider's pricing or a client's buying.")
@click.option("--policy", default=None, type=click.Path(dir_okay=False),
              help="The learned policy file to evaluate (default: policies/ROLE.json).")
@click.option("--scenario", default=None,
              help="The market: a scenario with a group of the role whose strategy is `learned` (a provider) or "
              "`learned-client` (a client): the seat. Default: train-provider or train-client.")
@click.option("--memory-seeds", type=click.IntRange(min=1, max=20), default=20, show_default=True,
              help="How many of the 20 held-out memory seeds to run.")
@click.option("--chain-seeds", type=click.IntRange(min=0, max=3), default=3, show_default=True,
              help="How many of the 3 held-out chain seeds to run (0: none).")
@click.option("--margins", default="0.1,0.2,0.3,0.5,0.8,1.2", show_default=True,
              help="A provider seat: cost-plus margins swept on the training seeds (at least 5).")
@click.option("--targets", default="0.5,0.6,0.7,0.8,0.9,1.0", show_default=True,
              help="A client seat: the baseline client's target fractions swept on the training seeds (at least 5).")
@click.option("--tuning-seeds", type=click.IntRange(min=1), default=None,
              help="How many training seeds the margin sweep runs on (default: all of them).")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Where to write (default: runs/evaluate/ROLE).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Runs at once (default: this machine's cores, or the cluster's CPUs).")
@click.option("--address", default=None, help="Join this Ray cluster (host:port of its head) instead of a local Ray.")
def cli(role, policy, scenario, memory_seeds, chain_seeds, margins, targets, tuning_seeds, out_dir, workers,
        address):
    from agents.learning.evaluate import EvaluateConfig, evaluate, headline_line
    from agents.learning.policy import policy_class
    from agents.learning.seat import SeatError, seat_groups
    from agents.learning.seeds import HELD_OUT_CHAIN_SEEDS, HELD_OUT_MEMORY_SEEDS, TRAINING_SEEDS
    from agents.simulation.scenario import ScenarioError, load_scenario

    option, values = ("--margins", margins) if role == "provider" else ("--targets", targets)
    try:
        swept = tuple(float(m) for m in values.split(",") if m.strip())
    except ValueError:
        raise BadInput(f"{option}: comma-separated numbers, got {values!r}") from None
    scenario = scenario or f"train-{role}"
    try:
        config = EvaluateConfig(policy=Path(policy or f"policies/{role}.json"), scenario=scenario,
                                memory_seeds=HELD_OUT_MEMORY_SEEDS[:memory_seeds],
                                chain_seeds=HELD_OUT_CHAIN_SEEDS[:chain_seeds], tuned=swept,
                                tuning_seeds=TRAINING_SEEDS[:tuning_seeds] if tuning_seeds else TRAINING_SEEDS,
                                out_dir=Path(out_dir or f"runs/evaluate/{role}"), workers=workers, address=address,
                                role=role)
        config.check()
        policy_class(role).load(config.policy)
        seat_groups(load_scenario(scenario), role)
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
    print(headline_line(result.ratio, config.baselines.figure_name))


def _interval(row, digits: int = 3) -> str:
    """mean ± half the 95% interval (Student's t is symmetric), or the mean alone from one value."""
    if row is None or row["n"] == 0:
        return "-"
    if row["n"] < 2:
        return f"{row['mean']:.{digits}f}"
    return f"{row['mean']:.{digits}f} ±{(row['high'] - row['low']) / 2:.{digits}f}"


def print_tuning(console: Console, result, config) -> None:
    tuned = result.baselines
    figure = tuned.figure
    name = {"sortino": "Sortino", "client_surplus_usd": "surplus USD"}[figure]
    table = Table(title=f"{tuned.tuned} in the seat, {tuned.parameter} sweep on {len(config.tuning_seeds)} training "
                        f"seeds ({name}: mean [95% interval])")
    for column in (tuned.parameter, name, "trading P&L USD", "deals"):
        table.add_column(column, justify="right")
    for _, row in result.tuning.iterrows():
        chosen = " (chosen)" if row["value"] == result.best_value else ""
        table.add_row(f"{row['value']:.0%}{chosen}",
                      _interval({"n": row["n"], "mean": row[figure], "low": row[f"{figure}_low"],
                                 "high": row[f"{figure}_high"]}),
                      f"{row['trading_pnl_usd']:.3f}", f"{row['deals_done']:.1f}")
    console.print(table)


# The figures the terminal shows (table.csv has every one), their headers and decimals.
SEAT_COLUMNS = (("pnl_usd", "P&L USD", 2), ("sharpe", "Sharpe", 3), ("sortino", "Sortino", 3),
                ("differential_sharpe", "diff. Sharpe", 2), ("deals_done", "deals", 1))
# A client's: its surplus first; its Sharpe and Sortino would count only what it pays.
CLIENT_SEAT_COLUMNS = (("client_surplus_usd", "surplus USD", 2), ("pnl_usd", "P&L USD", 2),
                       ("seat_price_per_core_hour", "price paid", 4), ("deals_done", "deals", 1))
MARKET_COLUMNS = (("allocative_efficiency", "efficiency", 3), ("price_per_core_hour", "price", 4),
                  ("seat_price_per_core_hour", "seat's price", 4), ("surplus_clients_usd", "clients' surplus", 2),
                  ("surplus_providers_usd", "providers'", 2), ("deals_settled", "settled", 1))


def print_table(console: Console, result) -> None:
    label = result.labels
    seat_columns = CLIENT_SEAT_COLUMNS if result.baselines.figure == "client_surplus_usd" else SEAT_COLUMNS
    by_key = {(r["backend"], r["strategy"], r["figure"]): r for _, r in result.table.iterrows()}
    keys = list(dict.fromkeys(zip(result.table["backend"], result.table["strategy"])))
    for title, columns in (("the seat: mean ± half the 95% interval over held-out seeds", seat_columns),
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
    label = result.labels
    names = {"sortino": "Sortino", "trading_pnl_usd": "trading P&L USD", "client_surplus_usd": "surplus USD"}
    table = Table(title="learned minus each baseline on the same memory seeds: mean ± half the 95% interval")
    for column in ("baseline", "figure", "n", "difference", "learned better on"):
        table.add_column(column, justify="right", no_wrap=True)
    for _, row in result.paired.iterrows():
        table.add_row(label.get(row["baseline"], row["baseline"]), names[row["figure"]], str(row["n"]),
                      _interval(row), f"{row['learned_better']} of {row['n']} seeds")
    console.print(table)
