"""`ape run deploy`: the marketplace (market = escrow = EAS resolver, which registers its three schemas),
EAS where the chain has none, and optionally a test token, on any network; recorded in
deployments/<network>.json. Running it again deploys only what is missing or changed, and finishes a run
that was killed or cut off half way.

    ape run deploy --network base:sepolia:node --account deployer --with-test-token --dry-run
    ape run deploy --network base:sepolia:node --account deployer --with-test-token
    ape run deploy --network optimism:sepolia:node --account deployer --token 0x...   # an existing ERC-20
    ape run deploy --network base:sepolia:node --account deployer --with-test-token --court 0x...

The court is the top of the market's appeal chain: it rules on disputes and appeals, and every user of the
deployment must trust it. It and its window are constructor arguments, so naming another one deploys a new market.

The logic is in the agents.deploy package (plan, execute, record).
"""

import click
from ape import chain
from ape.cli import account_option
from ape.exceptions import ApeException
from eth_utils import is_address, to_checksum_address
from rich.console import Console
from rich.table import Table

from agents.cli import NetworkCommand
from agents.deploy.execute import ape_chain, ape_signer, execute, is_ephemeral
from agents.deploy.plan import estimate, plan
from agents.deploy.record import DeployError, Record, deployments_path_for, node_chain_id
from agents.deploy.system import DEFAULT_COURT_WINDOW

MAX_UINT24 = 2**24 - 1


@click.command(cls=NetworkCommand)
@account_option(prompt=False)
@click.option("--dry-run", is_flag=True, help="Print the plan with estimated gas and cost; send and write nothing.")
@click.option("--with-test-token", is_flag=True, help="Also deploy a mintable TestToken as the payment token.")
@click.option("--token", default=None, help="An existing ERC-20 to record as the payment token instead.")
@click.option("--court", default=None, metavar="ADDRESS",
              help="The market's court: the top of its appeal chain, which rules on disputes and appeals and is paid "
                   "for it. Every user of the deployment must trust it. Default: the recorded market's court, else the "
                   "deploying account. Another court means another market.")
@click.option("--court-window", type=click.IntRange(1, MAX_UINT24), default=None, metavar="SECONDS",
              help=f"Seconds the court has to rule before a disputed deal unwinds. Default: the recorded market's, "
                   f"else {DEFAULT_COURT_WINDOW} ({DEFAULT_COURT_WINDOW // 86400} days). Another window means another "
                   "market.")
@click.option("--timeout", type=float, default=600, show_default=True, help="Seconds to wait for each transaction.")
def cli(account, dry_run, with_test_token, token, court, court_window, timeout):
    console = Console()
    provider = chain.provider
    if account is None:
        raise click.UsageError("--account ALIAS is required (see `ape accounts list`; `ape accounts import ALIAS` "
                               "adds one; TEST::0 is Ape's first test account)")
    if token is not None and (with_test_token or not is_address(token)):
        raise click.UsageError("--token takes an ERC-20 address and excludes --with-test-token")
    if court is not None and (not is_address(court) or int(court, 16) == 0):
        raise click.UsageError("--court takes the address of the court (not the zero address)")
    if not dry_run and is_ephemeral(provider):
        raise click.UsageError(f"{provider.network.choice} runs a node Ape started for this command only; deploy to "
                               "a node that outlives it (e.g. --network base:sepolia:node or ethereum:local:http://"
                               "127.0.0.1:8545), or add --dry-run")
    node = ape_chain(provider)
    path = deployments_path_for(provider)
    network = f"{provider.network.ecosystem.name}:{provider.network.name}"
    try:
        if token is not None and not node.code(token):
            raise DeployError(f"no contract at --token {token} on this chain")
        token = to_checksum_address(token) if token else None
        record = Record.load(path, node_chain_id(provider), network)
        terms = dict(with_test_token=with_test_token, token=token, court=court, court_window=court_window)
        if dry_run:
            the_plan = plan(node, record, account.address, **terms)
            _print_dry_run(console, the_plan, estimate(node, the_plan), path, network)
            return
        signer = ape_signer(account, provider)
        steps = execute(node, record, signer, **terms, timeout=timeout,
                        confirmations=provider.network.required_confirmations or 0,
                        log=lambda line: console.print(line, highlight=False))
    except DeployError as error:
        raise click.ClickException(str(error)) from error
    except (ApeException, OSError) as error:  # the node failed or refused something half way
        raise click.ClickException(f"{type(error).__name__}: {error}\nEverything done so far is recorded in {path}: "
                                   "run the same command again to resume") from error
    _print_result(console, steps, record, path)


def _print_dry_run(console, the_plan, costs, path, network) -> None:
    table = Table(title=f"Deployment plan on {network} (chain {the_plan.chain_id}), deployer {the_plan.deployer}")
    for column in ("contract", "action", "address", "gas", "cost (ETH)", "note"):
        table.add_column(column, justify="right" if column in ("gas", "cost (ETH)") else "left")
    for step in the_plan.steps:
        gas = f"{step.gas:,}" if step.gas is not None else ""
        cost = f"{(step.gas or 0) * costs['gas_price'] / 1e18 + (step.l1_fee or 0) / 1e18:.6f}" if step.gas else ""
        note = "; ".join(x for x in (step.reason, step.estimate_note,
                                     f"incl. L1 data fee {step.l1_fee / 1e18:.6f}" if step.l1_fee else "") if x)
        table.add_row(step.name, step.action, step.address, gas, cost, note)
    console.print(table)
    console.print(f"court {the_plan.court.address}, {the_plan.court.window} s to rule", highlight=False)
    base_fee = f", base fee {costs['base_fee'] / 1e9:.4f} gwei" if costs["base_fee"] is not None else ""
    console.print(f"{len(the_plan.deploys)} transaction(s), {costs['gas']:,} gas at {costs['gas_price'] / 1e9:.4f} "
                  f"gwei{base_fee}: about {costs['cost'] / 1e18:.6f} ETH; deployer balance "
                  f"{costs['balance'] / 1e18:.6f} ETH", highlight=False)
    if costs["cost"] > costs["balance"]:
        console.print("[bold red]the deployer cannot pay for this: fund it first[/]")
    console.print(f"dry run: nothing sent, {path} not written", highlight=False)


def _print_result(console, steps, record, path) -> None:
    table = Table(title=f"Deployed on chain {record.data['chain_id']}")
    for column in ("contract", "address", "block", "version", "this run"):
        table.add_column(column)
    for step in steps:
        entry = record.contracts.get(step.name, {})
        table.add_row(step.name, entry.get("address", step.address), str(entry.get("block", "")),
                      str(entry.get("version") or ""), step.action)
    console.print(table)
    for kind, schema in record.data.get("schemas", {}).items():
        console.print(f"{kind} schema {schema['uid']}", highlight=False)
    deployment = record.data.get("deployment")
    if deployment:
        console.print(f"court {deployment['court']}, {deployment['court_window']} s to rule", highlight=False)
    if record.data.get("deployment") is None:
        console.print("no payment token recorded: agents need --with-test-token or --token ADDRESS")
    console.print(f"recorded in {path}", highlight=False)
