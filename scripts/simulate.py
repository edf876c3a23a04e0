"""`ape run simulate`: a whole compute market on a local chain (the embedded default: an anvil Ape starts)
or on any Ape network, with a report.

    ape run simulate                               # default scenario on a fresh local anvil
    ape run simulate --scenario adversarial --seed 3
    ape run simulate --scenario path/to/market.yaml --network ethereum:local:foundry
    ape run simulate --network base:sepolia:http://127.0.0.1:8545   # contracts from deployments/base-sepolia.json
    ape run simulate --backend memory              # the market in memory: no node at all, gas from the gas table
"""

from pathlib import Path

import click
from ape import accounts, chain
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agents.cli import NetworkCommand
from agents.deploy.addresses import Deployment
from agents.deploy.record import deployments_path_for
from agents.deploy.system import deploy_system
from agents.simulation.markets import BACKENDS
from agents.simulation.run import CLOCK_START, run_blocking
from agents.simulation.scenario import ScenarioError, load_scenario


def _scenario(ctx, param, value):
    """Loaded while the options are parsed, before a node is started or anything deployed."""
    try:
        return load_scenario(value)
    except ScenarioError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from error


@click.command(cls=NetworkCommand)
@click.option("--scenario", "scenario", default="default", show_default=True, callback=_scenario,
              help="A shipped scenario (default, large, adversarial) or a path to a YAML file.")
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--out", "out_dir", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Where run directories are written.")
@click.option("--deployment", "deployment_file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Use the contracts recorded in this deployments file instead of deploying new ones.")
@click.option("--backend", type=click.Choice(BACKENDS), default="chain", show_default=True,
              help="chain: the contracts on a node (--network); memory: the same rules in this process, no node "
                   "(the addresses a fresh anvil gives, gas from the gas table).")
def cli(scenario, seed, out_dir, deployment_file, backend):
    console = Console()
    if seed is not None:
        scenario = scenario.__class__(**{**scenario.__dict__, "seed": seed})
    if backend == "memory":
        _run_in_memory(console, scenario, out_dir, deployment_file)
        return
    network = chain.provider.network
    if network.name == "local" and chain.provider.name != "foundry":
        # `ethereum:local:http://...` gives Ape's geth provider, whose signer assumes geth's dev chain id.
        uri = getattr(chain.provider, "http_uri", None) or "URL"
        raise click.UsageError(f"for a local node use --network ethereum:local:foundry --provider-settings "
                               f"'{{\"host\": \"{uri}\"}}'")
    funder = accounts.test_accounts[0]
    if not deployment_file and chain.provider.network.name != "local":
        # Any other network: the contracts `ape run deploy` recorded for it.
        deployment_file = deployments_path_for(chain.provider)
        if not deployment_file.exists():
            raise click.UsageError(f"no {deployment_file}: run `ape run deploy --network ... --with-test-token` "
                                   "first, or pass --deployment FILE")
    if deployment_file:
        try:
            deployment = Deployment.load(Path(deployment_file))
        except (ValueError, TypeError) as error:
            raise click.UsageError(f"{deployment_file}: {error}") from error
        node_chain = int(chain.provider.make_request("eth_chainId", []), 16)  # Ape's own can be a default
        if deployment.chain_id != node_chain:
            raise click.UsageError(f"{deployment_file} is for chain {deployment.chain_id}, not {node_chain}")
    else:
        # Plain JSON-RPC (anvil and Hardhat both answer it), so that any provider Ape picks for a local URL works.
        chain.provider.make_request("evm_setNextBlockTimestamp", [CLOCK_START])
        chain.provider.make_request("anvil_setBlockTimestampInterval", [1])
        # The funder is the market's court: the simulation's court agent signs its rulings with its key.
        deployment = Deployment.from_system(deploy_system(funder, court=funder.address))
        chain.provider.make_request("anvil_removeBlockTimestampInterval", [])
    console.print(f"[bold]{scenario.name}[/] seed {scenario.seed}: {scenario.agent_count} agents, "
                  f"{scenario.steps} steps on chain {deployment.chain_id}: market {deployment.market}, "
                  f"EAS {deployment.eas}, court {deployment.court} (all addresses: deployment.json in the run's "
                  "folder)")
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("steps", total=scenario.steps + scenario.drain_steps)
        result = run_blocking(
            scenario, node_url=chain.provider.http_uri, deployment=deployment, funder_key=funder.private_key,
            out_dir=Path(out_dir),
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    _print_summary(console, result)


def _run_in_memory(console: Console, scenario, out_dir: str, deployment_file: str | None) -> None:
    """The run on the memory backend: Ape's first test account is the funder and the court, as on a fresh anvil."""
    deployment = Deployment.load(Path(deployment_file)) if deployment_file else None
    funder = accounts.test_accounts[0]
    console.print(f"[bold]{scenario.name}[/] seed {scenario.seed}: {scenario.agent_count} agents, "
                  f"{scenario.steps} steps on the memory backend (no node; gas from the gas table)")
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("steps", total=scenario.steps + scenario.drain_steps)
        result = run_blocking(
            scenario, deployment=deployment, funder_key=funder.private_key, out_dir=Path(out_dir), backend="memory",
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    _print_summary(console, result)
    console.print(f"gas figures: {result.summary['gas_source']}")


# Light borders and one space between columns: the tables fit 80 columns without cutting a name.
_COMPACT = dict(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)


def _print_summary(console: Console, result) -> None:
    """Three tables that stay readable at 80 columns: names are never cut, numbers never wrap."""
    s = result.summary
    table = Table(title=f"Outcome by strategy ({s['scenario']}, seed {s['seed']})", **_COMPACT)
    names = list(s["per_strategy"])
    table.add_column("strategy", min_width=max(map(len, names), default=8), no_wrap=True)
    for column in ("n", "done", "failed", "P&L USD", "return", "Sharpe", "Sortino"):
        table.add_column(column, justify="right", no_wrap=True)
    for name, row in s["per_strategy"].items():
        table.add_row(name, str(row["agents"]), str(row["deals_done"]), str(row["deals_failed"]),
                      f"{row['pnl_usd']:,.4f}", _pct(row["mean_return"]), _num(row["mean_sharpe"]),
                      _num(row["mean_sortino"]))
    console.print(table)
    agents = Table(title="Outcome by agent (P&L net of gas and electricity)",
                   caption="lost: disputes the agent lost before the court", **_COMPACT)
    agents.add_column("agent", min_width=max(map(len, result.agents.agent), default=5), no_wrap=True)
    agents.add_column("role", no_wrap=True)
    for column in ("done", "failed", "lost", "P&L USD", "surplus USD"):
        agents.add_column(column, justify="right", no_wrap=True)
    for row in result.agents.itertuples(index=False):
        surplus = "-" if row.client_surplus_usd is None or row.client_surplus_usd != row.client_surplus_usd \
            else f"{row.client_surplus_usd:,.4f}"
        agents.add_row(row.agent, row.role, str(row.deals_done), str(row.deals_failed),
                       str(row.disputes_lost), f"{row.pnl_usd:,.4f}", surplus)
    console.print(agents)
    market = Table(title="Market", **_COMPACT)
    market.add_column("metric")
    market.add_column("value", justify="right")
    for key in ("deals_requested", "deals_agreed", "deals_settled", "deals_failed", "deals_open", "deals_by_outcome",
                "requests_unfilled", "validator_deals", "disputes", "court_rulings", "fill_rate",
                "median_time_to_agreement_s", "mean_price", "gas_per_settled_deal", "funds_conserved", "restarts",
                "wall_seconds"):
        value = s.get(key)
        market.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    console.print(market)
    console.print(f"report: {result.html}")
    console.print(f"tables (CSV and Parquet) and plots: {result.run_dir} ({', '.join(result.plots)})")


def _pct(x):
    return "-" if x is None else f"{x:+.2%}"


def _num(x):
    return "-" if x is None else f"{x:.2f}"
