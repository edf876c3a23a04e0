"""`ape run agent`: one agent as a long-lived process, trading on a deployed market until stopped.

    ape run agent --role provider --account my-provider --rpc https://sepolia.base.org \\
        --deployment deployments/base-sepolia.json
    ape run agent --role client --test-account 1 --jobs jobs.json      # a local anvil, a test account
    ape run agent --role validator --account my-validator --stake 20 ...   # keeps 20 tokens staked in escrow
    ape run agent --role court --account market-court ...              # the account the market names as court

The key comes from an Ape account (its keystore, the passphrase from APE_ACCOUNTS_<alias>_PASSPHRASE or
a prompt) or, on local chains, a test account. A provider profiles the machine it runs on and lists it in
the service directory (a revocable EAS attestation of the profile schema, which it registers if the chain
has not got it); a clean stop (Ctrl-C, SIGTERM, --duration) revokes the listing. A client reads the
directory (re-read every few seconds) and addresses each request to providers listed there, the better
their reputation in the market's history the likelier; with nobody listed it broadcasts.

Stopping the process (Ctrl-C, SIGTERM, or a crash) loses nothing: started again, the agent rebuilds its
dialogues from the chain and finishes its open deals (a provider that crashed finds its listing still
live and keeps it).
"""

import asyncio
import json
import logging
import os
import signal
from dataclasses import replace
from pathlib import Path

import click
from ape import accounts
from eth_account import Account
from rich.console import Console

from agents.chain.rpc import RPCError, RPCUnavailable
from agents.chain.sync import SyncClient
from agents.chain.transactions import TransactionReverted
from agents.deploy.addresses import Deployment
from agents.hardware import profile_machine
from agents.jobs.spec import JobSpec
from agents.jobs.store import HttpResultStore, ResultStore
from agents.knowledge.directory import ServiceDirectory
from agents.knowledge.market import MarketKnowledge, seller_profile
from agents.oracles.feeds import GasOracle
from agents.oracles.source import GlobalStateSource
from agents.policy import Role
from agents.roles import ClientAgent, CourtAgent, ProviderAgent, ValidatorAgent
from agents.runtime.agent import AgentConfig
from agents.runtime.connection import MarketConnection
from agents.runtime.context import ContextSources
from agents.strategies.registry import strategy, strategy_names

# A client addresses each request to this many providers from the directory, as simulated clients do.
INVITED_PROVIDERS = 3


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
    # What traders read of the market beyond their deals (listings, reputations): read once before the agent
    # starts, then kept fresh while it runs.
    knowledge = MarketKnowledge(SyncClient.connect(rpc), market=deployment.market, eas=deployment.eas,
                                from_block=deployment.block)
    if role in (Role.PROVIDER, Role.CLIENT):
        await asyncio.to_thread(knowledge.refresh)
    sources = ContextSources(directory=knowledge.listings, reputation=knowledge.provider_reputation,
                             client_reputation=knowledge.client_reputation,
                             validator_reputation=knowledge.validator_reputation)
    hardware = None
    if role == Role.PROVIDER:
        hardware = profile_machine()
        state = GlobalStateSource(gas=GasOracle(SyncClient.connect(rpc)))
        policy = strategy(provider_strategy, role).build()
        agent = ProviderAgent(name, role, key, connection, policy, capacity=hardware.capacity, store=store,
                              workdir=store_dir / "jobs", config=config,
                              sources=replace(sources, hardware=hardware, global_state_source=state))
        console.print(f"{name}: {hardware.cpu_model}, {hardware.logical_cores} cores, "
                      f"{hardware.ram_bytes / 2**30:.1f} GiB")
    elif role == Role.CLIENT:
        policy = strategy("budget", role).build(budget=int(budget * unit), invite=INVITED_PROVIDERS)
        agent = ClientAgent(name, role, key, connection, policy, store=store, config=config, sources=sources)
        for spec in jobs:
            agent.submit(spec)
        console.print(f"{name}: {len(knowledge.listings())} providers listed in the service directory; requests "
                      f"invite up to {INVITED_PROVIDERS} of them (none listed: broadcast)")
    elif role == Role.VALIDATOR:
        agent = ValidatorAgent(name, role, key, connection, strategy("validator", role).build(),
                               workdir=store_dir / "jobs", stake=int(stake * unit), config=config)
    else:
        agent = CourtAgent(name, role, key, connection, strategy("court", role).build(), workdir=store_dir / "jobs",
                           config=config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, agent.stop)
    directory = None
    if hardware is not None:
        directory = await _list_provider(console, name, key, rpc, deployment, hardware)
    feed = asyncio.create_task(connection.feed.run())
    refreshing = asyncio.create_task(knowledge.keep_fresh()) if role in (Role.PROVIDER, Role.CLIENT) else None
    if duration:
        loop.call_later(duration, agent.stop)
    console.print(f"{name} ({key.address}) trading on market {deployment.market}, chain {deployment.chain_id}")
    try:
        await agent.run()
    finally:
        if refreshing is not None:
            refreshing.cancel()
        await connection.close()
        feed.cancel()
        if serve_http:
            store.close()
        if directory is not None:
            await _unlist_provider(console, name, directory)
    state = agent.state()
    console.print(f"{name} stopped: {state['dialogues_by_status']}, {state['transactions']} transactions")


async def _list_provider(console, name, key, rpc, deployment, hardware) -> ServiceDirectory:
    """List the provider's machine in the service directory (kept as it is if an earlier run of this agent
    listed the same): clients address their requests to the providers listed there."""
    def register() -> tuple[ServiceDirectory, str]:
        directory = ServiceDirectory.connect(SyncClient.connect(rpc), deployment.eas, key, market=deployment.market,
                                             from_block=deployment.block)
        profile = seller_profile(hardware, market=deployment.market, token=deployment.token)
        return directory, directory.register(profile)

    directory, uid = await asyncio.to_thread(register)
    console.print(f"{name}: listed in the service directory (attestation {uid})")
    return directory


async def _unlist_provider(console, name, directory: ServiceDirectory) -> None:
    """Revoke the provider's listing on a clean stop, so clients stop inviting it."""
    try:
        revoked = await asyncio.to_thread(directory.revoke)
    except (RPCUnavailable, RPCError, TransactionReverted, OSError) as error:
        console.print(f"{name}: could not revoke its directory listing ({error}); it stays listed until revoked")
        return
    if revoked:
        console.print(f"{name}: directory listing revoked")
