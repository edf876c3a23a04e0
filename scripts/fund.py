"""`ape run fund`: put an agent's trading tokens into its escrow account at a deployment's market, where deals
lock them (the agent's wallet alone is not enough).

    ape run fund --test-account 1 --tokens 50 --deployment runs/default-seed7/deployment.json   # a local anvil
    ape run fund --account my-client --tokens 50 --rpc https://sepolia.base.org \\
        --deployment deployments/base-sepolia.json

On the project's test token (the one `--with-test-token` and the simulation deploy: anyone may mint it) the
agent mints the tokens, approves the market and deposits them. On any other token its wallet must hold them
already: if it does not, the command sends nothing and says what to send to which address, and what it will
do once they are there. It prints the agent's available escrow balance at the end. The account options are
`ape run agent`'s.
"""

from decimal import Decimal

import click
from rich.console import Console

from agents.chain.rpc import RPCError, RPCUnavailable
from agents.chain.sync import SyncClient
from agents.chain.transactions import Signer, TransactionReverted
from agents.cli import BadInput, OneLineErrors, check_rpc, load_deployment, load_key
from agents.deploy.funding import FundingNeeded, fund, read_token


@click.command(cls=OneLineErrors)
@click.option("--account", "alias", default=None, help="Ape account alias of the agent (as for `ape run agent`).")
@click.option("--test-account", type=int, default=None, help="Use Ape's test account N (local chains).")
@click.option("--tokens", required=True, type=click.FloatRange(min=0, min_open=True),
              help="How many tokens to deposit into the agent's escrow account (whole tokens, e.g. 50 or 2.5).")
@click.option("--deployment", "deployment_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The deployments file of the market (or a simulation run's deployment.json).")
@click.option("--rpc", default="http://127.0.0.1:8545", show_default=True, help="The node's JSON-RPC URL.")
def cli(alias, test_account, tokens, deployment_file, rpc):
    console = Console(highlight=False, soft_wrap=True)  # addresses and hashes stay whole
    deployment = load_deployment(deployment_file)
    check_rpc(rpc, deployment, deployment_file)
    key = load_key(alias, test_account)
    client = SyncClient.connect(rpc)
    try:
        token = read_token(client, deployment.token)
        try:
            amount = token.units(Decimal(str(tokens)))
        except ValueError as error:
            raise BadInput(f"--tokens {error}") from error
        funded = fund(client, Signer(key.key), deployment, token, amount, log=console.print)
    except FundingNeeded as error:
        raise click.ClickException(str(error)) from error
    except (RPCError, RPCUnavailable, TransactionReverted) as error:
        raise click.ClickException(f"funding {key.address} failed: {error}") from error
    minted = f"minted {token.show(funded.minted)}, " if funded.minted else ""
    console.print(f"{key.address}: {minted}deposited {token.show(funded.deposited)} into the escrow of market "
                  f"{deployment.market}; available: {token.show(funded.available)}")
