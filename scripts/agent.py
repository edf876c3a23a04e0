"""`ape run agent`: one agent as a long-lived process, trading on a deployed market until stopped.

    ape run agent --role provider --account my-provider --rpc https://sepolia.base.org \\
        --deployment deployments/base-sepolia.json
    ape run agent --role client --test-account 1 --jobs jobs.json      # a local anvil, a test account
    ape run agent --role validator --account my-validator --stake 20 ...   # keeps 20 tokens staked in escrow
    ape run agent --role court --account market-court ...              # the account the market names as court

The key comes from an Ape account (its keystore, the passphrase from APE_ACCOUNTS_<alias>_PASSPHRASE or
a prompt) or, on local chains, a test account. A provider profiles the machine it runs on. Stopping the
process (Ctrl-C, SIGTERM, or a crash) loses nothing: started again, the agent rebuilds its dialogues
from the chain and finishes its open deals.
"""

import asyncio
import json
import logging
import os
import signal
from pathlib import Path

import click
from ape import accounts
from eth_account import Account
from rich.console import Console

from agents.chain.sync import SyncClient
from agents.deploy.addresses import Deployment
from agents.hardware import profile_machine
from agents.jobs.spec import JobSpec
from agents.jobs.store import HttpResultStore, ResultStore
from agents.oracles.feeds import GasOracle
from agents.oracles.source import GlobalStateSource
from agents.policy import Role
from agents.roles import ClientAgent, CourtAgent, ProviderAgent, ValidatorAgent
from agents.runtime.agent import AgentConfig
from agents.runtime.connection import MarketConnection
from agents.runtime.context import ContextSources
from agents.strategies.registry import strategy, strategy_names


def _load_key(alias: str | None, test_account: int | None):
    if (alias is None) == (test_account is None):
        raise click.UsageError("give exactly one of --account ALIAS or --test-account N")
    if test_account is not None:
        return Account.from_key(accounts.test_accounts[test_account].private_key)
    try:
        account = accounts.load(alias)
    except Exception as error:  # noqa: BLE001 - Ape raises several kinds for a missing alias
        raise click.BadParameter(f"no Ape account {alias!r} ({error}); see `ape accounts list`") from error
    keystore = json.loads(Path(account.keyfile_path).read_text())
    passphrase = os.environ.get(f"APE_ACCOUNTS_{alias}_PASSPHRASE") or click.prompt(
        f"passphrase for {alias}", hide_input=True
    )
    try:
        return Account.from_key(Account.decrypt(keystore, passphrase))
    except ValueError as error:
        raise click.BadParameter(f"wrong passphrase for {alias}") from error


@click.command()
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--account", "alias", default=None, help="Ape account alias whose key the agent signs with.")
@click.option("--test-account", type=int, default=None, help="Use Ape's test account N (local chains).")
@click.option("--rpc", default="http://127.0.0.1:8545", show_default=True, help="The node's JSON-RPC URL.")
@click.option("--deployment", "deployment_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The deployments file of the market to trade on.")
@click.option("--strategy", type=click.Choice(sorted(strategy_names(Role.PROVIDER, adversarial=False))),
              default="cost-plus", show_default=True, help="Provider pricing strategy.")
@click.option("--budget", type=float, default=1.0, show_default=True, help="Client: most it pays per job (tokens).")
@click.option("--jobs", "jobs_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Client: a JSON list of job specs to submit.")
@click.option("--stake", type=float, default=0.0, show_default=True,
              help="Validator: tokens it keeps deposited in escrow for stakes, topped up from its wallet.")
@click.option("--store", "store_dir", default="agent-store", show_default=True, type=click.Path(file_okay=False),
              help="Where specs and results are published.")
@click.option("--serve-http/--no-serve-http", default=False,
              help="Publish over HTTP on 127.0.0.1 (for counterparties on other machines, put it behind a proxy).")
@click.option("--duration", type=float, default=0.0, help="Stop after this many seconds (0: run until stopped).")
def cli(role, alias, test_account, rpc, deployment_file, strategy, budget, jobs_file, stake, store_dir, serve_http,
        duration):
    logging.basicConfig(level=os.environ.get("AGENT_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    key = _load_key(alias, test_account)
    deployment = Deployment.load(Path(deployment_file))
    jobs = []
    if jobs_file:
        try:
            jobs = [JobSpec.from_dict(j) for j in json.loads(Path(jobs_file).read_text())]
        except (ValueError, TypeError) as error:
            raise click.BadParameter(f"{jobs_file}: {error}") from error
    asyncio.run(_run(Role(role), key, rpc, deployment, strategy, budget, jobs, stake, Path(store_dir), serve_http,
                     duration))


async def _run(role, key, rpc, deployment, provider_strategy, budget, jobs, stake, store_dir, serve_http, duration):
    console = Console()
    connection = MarketConnection.open(rpc, deployment)
    store = HttpResultStore(store_dir) if serve_http else ResultStore(store_dir)
    unit = 10**18
    name = f"{role.value}-{key.address[:8]}"
    config = AgentConfig()
    if role == Role.PROVIDER:
        hardware = profile_machine()
        state = GlobalStateSource(gas=GasOracle(SyncClient.connect(rpc)))
        policy = strategy(provider_strategy, role).build()
        agent = ProviderAgent(name, role, key, connection, policy, capacity=hardware.capacity, store=store,
                              workdir=store_dir / "jobs", config=config,
                              sources=ContextSources(hardware=hardware, global_state_source=state))
        console.print(f"{name}: {hardware.cpu_model}, {hardware.logical_cores} cores, "
                      f"{hardware.ram_bytes / 2**30:.1f} GiB")
    elif role == Role.CLIENT:
        policy = strategy("budget", role).build(budget=int(budget * unit))
        agent = ClientAgent(name, role, key, connection, policy, store=store, config=config)
        for spec in jobs:
            agent.submit(spec)
    elif role == Role.VALIDATOR:
        agent = ValidatorAgent(name, role, key, connection, strategy("validator", role).build(),
                               workdir=store_dir / "jobs", stake=int(stake * unit), config=config)
    else:
        agent = CourtAgent(name, role, key, connection, strategy("court", role).build(), workdir=store_dir / "jobs",
                           config=config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, agent.stop)
    feed = asyncio.create_task(connection.feed.run())
    if duration:
        loop.call_later(duration, agent.stop)
    console.print(f"{name} ({key.address}) trading on market {deployment.market}, chain {deployment.chain_id}")
    try:
        await agent.run()
    finally:
        await connection.close()
        feed.cancel()
        if serve_http:
            store.close()
    state = agent.state()
    console.print(f"{name} stopped: {state['dialogues_by_status']}, {state['transactions']} transactions")
