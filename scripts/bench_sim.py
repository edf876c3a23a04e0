"""`ape run bench_sim`: the benchmark market (scenarios/bench.yaml) at 10, 100 and 1000 agents.

For each size: deals settled per second of market time, transactions per second, gas per settled deal,
and the fraction of the chain's own ceiling the market reaches (the rate at which this anvil accepts the
run's own transactions replayed pre-signed, block by block, after rewinding the chain). Last line:
`deals/s at 100 agents: X`.
"""

import asyncio
from dataclasses import replace
from pathlib import Path

import click
from ape import accounts, chain, networks
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agents.chain.anvil import Anvil
from agents.deploy.addresses import Deployment
from agents.deploy.system import deploy_system
from agents.simulation.run import simulate
from agents.simulation.scenario import load_scenario


def _start_anvil() -> Anvil:
    """An anvil of the benchmark's own: it keeps only recent states in memory (a thousand agents' blocks
    otherwise grow it past 20 GB), which the anvil Ape starts cannot be told. Chain id 1337 is what Ape
    assumes for a network given by URL."""
    try:
        return Anvil("--chain-id", "1337", "--prune-history", "64", "--silent", "--base-fee", "0",
                     "--gas-price", "0", output=None)
    except RuntimeError as error:
        raise click.ClickException(str(error)) from error


@click.command()
@click.option("--sizes", default="10,100,1000", show_default=True, help="Agent counts to run.")
@click.option("--out", "out_dir", default="runs/bench", show_default=True, type=click.Path(file_okay=False))
def cli(sizes: str, out_dir: str):
    anvil = _start_anvil()
    try:
        with networks.parse_network_choice(f"ethereum:local:{anvil.url}"):
            _bench(sizes, out_dir)
    finally:
        anvil.stop(graceful=True)


def _bench(sizes: str, out_dir: str):
    console = Console()
    funder = accounts.test_accounts[0]
    deployment = Deployment.from_system(deploy_system(funder))
    base = load_scenario("bench")
    rows = []
    for size in [int(s) for s in sizes.split(",")]:
        # A seed per size: each market gets agents of its own on the shared deployment.
        scenario = replace(base.scaled(size), seed=base.seed + size)
        columns = (TextColumn(f"{scenario.agent_count} agents"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("steps", total=scenario.steps + scenario.drain_steps)
            result = asyncio.run(simulate(
                scenario, node_url=chain.provider.http_uri, deployment=deployment, funder_key=funder.private_key,
                out_dir=Path(out_dir), measure_ceiling=True,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            ))
        rows.append((size, result.summary))
    table = Table(title="Simulation throughput (bench scenario)")
    for column in ("agents", "deals settled", "market s", "deals/s", "tx/s", "chain ceiling tx/s",
                   "ceiling deals/s", "of ceiling", "gas / settled deal", "deals open"):
        table.add_column(column, justify="right")
    for size, s in rows:
        table.add_row(
            str(s["agents"]), str(s["deals_settled"]), f"{s['market_seconds']:.1f}", f"{s['deals_settled_per_s']:.1f}",
            f"{s.get('market_tx_per_s', 0):.0f}", f"{s.get('chain_ceiling_tx_per_s', 0):.0f}",
            f"{s.get('chain_ceiling_deals_per_s', 0):.1f}", f"{s.get('fraction_of_ceiling', 0):.0%}",
            f"{s['gas_per_settled_deal'] or 0:,.0f}", str(s["deals_open"]),
        )
    console.print(table)
    # The headline figure is at 100 agents; a run without that size reports its largest, named as such.
    size, headline = next(((size, s) for size, s in rows if size == 100), rows[-1])
    click.echo(f"deals/s at {size} agents: {headline['deals_settled_per_s']:.1f}")
