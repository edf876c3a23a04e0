"""`ape run agent`: one agent as a long-lived process, trading on a deployed market until stopped.

    ape run agent --role provider --account my-provider --rpc https://sepolia.base.org \\
        --deployment deployments/base-sepolia.json
    ape run agent --role client --test-account 1 --jobs jobs.json      # a local anvil, a test account
    ape run agent --role validator --account my-validator --stake 20 ...   # keeps 20 tokens staked in escrow
    ape run agent --role court --account market-court ...              # the account the market names as court
    ape run agent --role provider --strategy thompson --param margin=0.1 ...   # a strategy's parameters

Every option is checked before anything is sent: bad input is one line and exit code 2.

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
from rich.console import Console

from agents.chain.rpc import RPCError, RPCUnavailable
from agents.chain.sync import SyncClient
from agents.chain.transactions import TransactionReverted
from agents.cli import BadInput, OneLineErrors, check_rpc, load_deployment, load_key
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
TOKEN_UNIT = 10**18  # the deployment's token has 18 decimals (the test token's)


DEFAULT_BUDGET = 1.0  # tokens a client pays at most per job unless told
# The strategy each role plays; a provider chooses its own with --strategy.
ROLE_STRATEGY = {Role.CLIENT: "budget", Role.VALIDATOR: "validator", Role.COURT: "court"}


@click.command(cls=OneLineErrors)
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--account", "alias", default=None, help="Ape account alias whose key the agent signs with.")
@click.option("--test-account", type=int, default=None, help="Use Ape's test account N (local chains).")
@click.option("--rpc", default="http://127.0.0.1:8545", show_default=True, help="The node's JSON-RPC URL.")
@click.option("--deployment", "deployment_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The deployments file of the market to trade on.")
@click.option("--strategy", type=click.Choice(sorted(strategy_names(Role.PROVIDER, adversarial=False))),
              default="cost-plus", show_default=True, help="Provider pricing strategy.")
@click.option("--param", "param_pairs", multiple=True, metavar="NAME=VALUE",
              help="A parameter of the role's strategy, as a scenario's `params` gives it (e.g. --param margin=0.1); "
                   "repeat for more. The parameters are the policy class's fields (agents/strategies/registry.py).")
@click.option("--budget", type=float, default=None,
              help=f"Client: most it pays per job (tokens; default {DEFAULT_BUDGET}). Same as --param budget=X.")
@click.option("--jobs", "jobs_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Client: a JSON list of job specs to submit.")
@click.option("--stake", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Validator: tokens it keeps deposited in escrow for stakes, topped up from its wallet.")
@click.option("--store", "store_dir", default="agent-store", show_default=True, type=click.Path(file_okay=False),
              help="Where specs and results are published.")
@click.option("--serve-http/--no-serve-http", default=False,
              help="Publish over HTTP on 127.0.0.1 (for counterparties on other machines, put it behind a proxy).")
@click.option("--duration", type=click.FloatRange(min=0), default=0.0,
              help="Stop after this many seconds (0: run until stopped).")
def cli(role, alias, test_account, rpc, deployment_file, strategy, param_pairs, budget, jobs_file, stake, store_dir,
        serve_http, duration):
    # Every option is checked here, before the node is asked for anything or a transaction is signed.
    role = Role(role)
    policy = _policy(role, strategy, param_pairs, budget)
    if jobs_file and role != Role.CLIENT:
        raise BadInput("--jobs is for clients (--role client)")
    if stake and role != Role.VALIDATOR:
        raise BadInput("--stake is for validators (--role validator)")
    jobs = []
    if jobs_file:
        try:
            jobs = [JobSpec.from_dict(j) for j in json.loads(Path(jobs_file).read_text())]
        except (ValueError, TypeError) as error:
            raise BadInput(f"--jobs {jobs_file}: {error}") from error
    deployment = load_deployment(deployment_file)
    check_rpc(rpc, deployment, deployment_file)
    key = load_key(alias, test_account)
    logging.basicConfig(level=os.environ.get("AGENT_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_run(role, key, rpc, deployment, policy, jobs, stake, Path(store_dir), serve_http, duration))


def _policy(role: Role, provider_strategy: str, param_pairs: tuple[str, ...], budget: float | None):
    """The role's policy from its strategy and `--param NAME=VALUE` (a client's `--budget` is its budget
    parameter), checked by the registry as a scenario's params are."""
    chosen = strategy(provider_strategy if role == Role.PROVIDER else ROLE_STRATEGY[role], role)
    params = {}
    for pair in param_pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise BadInput(f"--param takes NAME=VALUE, got {pair!r}")
        params[name.strip()] = _scalar(value.strip())
    if budget is not None:
        if role != Role.CLIENT:
            raise BadInput("--budget is for clients (--role client)")
        if "budget" in params:
            raise BadInput("give the budget once: --budget X or --param budget=X")
        params["budget"] = budget
    if role == Role.CLIENT:
        params.setdefault("budget", DEFAULT_BUDGET)
    try:
        chosen.check_params(params)
    except ValueError as error:
        raise BadInput(str(error)) from error
    if role == Role.CLIENT:
        params["budget"] = int(params["budget"] * TOKEN_UNIT)
        params.setdefault("invite", INVITED_PROVIDERS)  # providers from the directory, as simulated clients do
    return chosen.build(**params)


def _scalar(text: str):
    """A --param value: an integer, a number, true/false, or else the text itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


async def _run(role, key, rpc, deployment, policy, jobs, stake, store_dir, serve_http, duration):
    console = Console()
    connection = MarketConnection.open(rpc, deployment)
    store = HttpResultStore(store_dir) if serve_http else ResultStore(store_dir)
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
        agent = ProviderAgent(name, role, key, connection, policy, capacity=hardware.capacity, store=store,
                              workdir=store_dir / "jobs", config=config,
                              sources=replace(sources, hardware=hardware, global_state_source=state))
        console.print(f"{name}: {hardware.cpu_model}, {hardware.logical_cores} cores, "
                      f"{hardware.ram_bytes / 2**30:.1f} GiB")
    elif role == Role.CLIENT:
        agent = ClientAgent(name, role, key, connection, policy, store=store, config=config, sources=sources)
        for spec in jobs:
            agent.submit(spec)
        console.print(f"{name}: {len(knowledge.listings())} providers listed in the service directory; requests "
                      f"invite up to {INVITED_PROVIDERS} of them (none listed: broadcast)")
    elif role == Role.VALIDATOR:
        agent = ValidatorAgent(name, role, key, connection, policy, workdir=store_dir / "jobs",
                               stake=int(stake * TOKEN_UNIT), config=config)
    else:
        agent = CourtAgent(name, role, key, connection, policy, workdir=store_dir / "jobs", config=config)
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
