"""`ape run sweep`: many runs of a scenario, a grid of overrides x seeds x backends, each a Ray task, into
one Parquet table and sweep.html (means and 95% intervals per configuration, and a plot).

    ape run sweep sweeps/margin.yaml                          # a local Ray on this machine's cores
    ape run sweep sweeps/margin.yaml --workers 1              # one cell at a time
    ape run sweep sweeps/margin.yaml --address 10.0.0.5:6379  # an existing Ray cluster (`ray start --head`)

Running it again skips the cells already finished and retries the failed ones (README: Sweeps).
"""

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from agents.cli import BadInput, OneLineErrors
from agents.sweeps.spec import SweepError, load_sweep


def _sweep(ctx, param, value):
    """Every cell's scenario is built and checked while the options are parsed, before Ray or any run starts."""
    try:
        return load_sweep(value)
    except SweepError as error:
        raise BadInput(str(error)) from error


@click.command(cls=OneLineErrors)
@click.argument("sweep", metavar="SWEEP.yaml", callback=_sweep)
@click.option("--address", default=None, help="Join this Ray cluster (host:port of its head, as `ray start --head` "
              "prints) instead of starting a local Ray.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="The sweep's folder (default: runs/sweeps/<sweep name>); rerunning into it resumes.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Cells run at once (default: this machine's cores, or the cluster's CPUs).")
def cli(sweep, address, out_dir, workers):
    from agents.sweeps.runner import run_sweep  # Ray and the report's libraries: only once the input is good

    console = Console()
    out = Path(out_dir) if out_dir else Path("runs") / "sweeps" / sweep.name
    outcome = run_sweep(sweep, out, address=address, workers=workers, console=console)
    _print_headline(console, sweep, out)
    console.print(f"{outcome.ran} cells run ({outcome.failed} failed), {outcome.skipped} finished earlier")
    console.print(f"table: {outcome.parquet}")
    console.print(f"report: {outcome.html}")
    if outcome.failed:
        raise click.exceptions.Exit(1)


def _print_headline(console: Console, sweep, out: Path) -> None:
    """The plotted metrics per configuration, as in sweep.html's first table."""
    import pandas as pd

    summary = pd.read_csv(out / "configurations.csv")
    keys = [*sweep.swept, "backend"]
    table = Table(title=f"{sweep.name}: mean ± half the 95% interval, over seeds {', '.join(map(str, sweep.seeds))}")
    metrics = [m for m in sweep.plot_metrics if m in set(summary["metric"])]
    if "allocative_efficiency" in set(summary["metric"]) and "allocative_efficiency" not in metrics:
        metrics.append("allocative_efficiency")
    for column in [*keys, "n", *metrics]:
        table.add_column(column, justify="right", overflow="fold")  # long dotted names wrap, never cut
    for config, group in summary.groupby(keys, sort=False, dropna=False):
        config = config if isinstance(config, tuple) else (config,)
        figures = group.set_index("metric")
        cells = []
        for metric in metrics:
            row = figures.loc[metric]
            cells.append(f"{row['mean']:.3f}" if row["n"] < 2 else f"{row['mean']:.3f} ± {row['ci_high'] - row['mean']:.3f}")
        n = int(figures["n"].max()) if len(figures) else 0
        table.add_row(*map(str, config), str(n), *cells)
    console.print(table)
