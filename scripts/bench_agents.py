"""`ape run bench_agents`: event-to-transaction latency of live agents on anvil.

Runs providers and clients as live asyncio agents (the runtime a long-lived agent process uses) on a
fresh local deployment, lets them trade for a while, and reports the time from the event feed delivering
an event that calls for a reply to the node accepting the reply's transaction. Last line:
`event-to-tx p99 ms: X`.
"""

import asyncio
import tempfile
import time
from pathlib import Path

import click
import numpy as np
from ape import accounts, chain
from ape.cli import ConnectedProviderCommand
from eth_account import Account
from eth_utils import keccak
from rich.console import Console
from rich.table import Table

from agents.deploy.addresses import Deployment
from agents.deploy.system import deploy_system
from agents.jobs.spec import JobSpec, Limits
from agents.jobs.store import ResultStore
from agents.policy import Capacity, Role
from agents.protocol import Status
from agents.roles import ClientAgent, ProviderAgent
from agents.runtime.agent import Agent, AgentConfig
from agents.runtime.connection import MarketConnection
from agents.strategies.registry import strategy

UNIT = 10**18
LIVE = AgentConfig(agent_timeout=0.01, services_interval=0.25, max_reactions=50)


async def _fund(connection: MarketConnection, keys) -> None:
    """Each agent approves the escrow and deposits a float, from its own key."""
    for key in keys:
        escrow = Agent("funding", Role.CLIENT, key, connection, policy=None).transactions
        await escrow.approve_token()
        await escrow.deposit(500 * UNIT)


async def _trade(deployment: Deployment, url: str, keys, providers: int, seconds: float, rate: float,
                 workdir: Path):
    connection = MarketConnection.open(url, deployment, poll_interval=0.002)
    await _fund(connection, keys)
    store = ResultStore(workdir / "store")
    agents, clients = [], []
    for i, key in enumerate(keys):
        if i < providers:
            policy = strategy("cost-plus", Role.PROVIDER).build(margin=0.1 + 0.05 * i)
            agents.append(ProviderAgent(
                f"provider-{i}", Role.PROVIDER, key, connection, policy,
                capacity=Capacity(cores=64, ram_bytes=256 << 30), store=store, workdir=workdir / f"p{i}",
                config=LIVE,
            ))
        else:
            policy = strategy("budget", Role.CLIENT).build(budget=UNIT, decision_delay=1, offer_window=30,
                                                           validation_window=5)
            client = ClientAgent(f"client-{i}", Role.CLIENT, key, connection, policy, store=store, config=LIVE,
                                 max_open_requests=4)
            clients.append(client)
            agents.append(client)
    tasks = [asyncio.create_task(connection.feed.run())] + [asyncio.create_task(a.run()) for a in agents]
    # Jobs arrive as a Poisson process at `rate` per second (0: as fast as clients take them), spread
    # over the clients in turn.
    rng = np.random.default_rng(1)
    job = 0
    started = time.monotonic()
    next_arrival = started
    while time.monotonic() < started + seconds:
        if rate > 0:
            while next_arrival <= time.monotonic():
                job += 1
                clients[job % len(clients)].submit(_job(job))
                next_arrival += rng.exponential(1 / rate)
        else:
            for client in clients:
                if len(client.queue) < 2:
                    job += 1
                    client.submit(_job(job))
        await asyncio.sleep(0.05)
    for agent in agents:
        agent.stop()
    connection.feed.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    await connection.rpc.close()
    return agents


def _job(n: int) -> JobSpec:
    return JobSpec.for_command(["echo", f"job {n}"], limits=Limits(wall_seconds=10))


@click.command(cls=ConnectedProviderCommand)
@click.option("--providers", default=3, show_default=True)
@click.option("--clients", default=3, show_default=True)
@click.option("--seconds", default=30.0, show_default=True, help="How long the agents trade.")
@click.option("--rate", default=3.0, show_default=True,
              help="Jobs arriving per second, over all clients; 0 saturates the market (clients always busy).")
def cli(providers: int, clients: int, seconds: float, rate: float):
    funder = accounts.test_accounts[0]
    system = deploy_system(funder)
    deployment = Deployment.from_system(system)
    keys = [Account.from_key(keccak(text=f"bench agent {i}")) for i in range(providers + clients)]
    for key in keys:
        chain.provider.set_balance(key.address, 10**20)
        system.token.mint(key.address, 1000 * UNIT, sender=funder)
    with tempfile.TemporaryDirectory() as workdir:
        agents = asyncio.run(_trade(deployment, chain.provider.http_uri, keys, providers, seconds, rate,
                                    Path(workdir)))
    samples = np.array([s for agent in agents for s in agent.latency.samples]) * 1000
    settled = sum(1 for a in agents if a.role == Role.CLIENT for d in a.dialogues.by_id.values()
                  if d.status == Status.SETTLED)
    load = f"{rate:g} jobs/s" if rate > 0 else "saturated"
    table = Table(title=f"Event-to-transaction latency: {providers} providers + {clients} clients, {load}, "
                        f"{seconds:.0f} s")
    for column in ("replies", "p50 ms", "p90 ms", "p99 ms", "max ms", "deals settled", "failed txs"):
        table.add_column(column, justify="right")
    failed = sum(len(a.failed_transactions) for a in agents)
    if len(samples) == 0:
        raise click.ClickException("no replies were sent: nothing to measure")
    p50, p90, p99 = np.percentile(samples, [50, 90, 99])
    table.add_row(str(len(samples)), f"{p50:.1f}", f"{p90:.1f}", f"{p99:.1f}", f"{samples.max():.1f}",
                  str(settled), str(failed))
    Console().print(table)
    accepted = [tx.accepted_at - tx.trigger_at for a in agents for tx in a.outbox.sent
                if tx.trigger_at is not None and tx.accepted_at]
    stages = {"accepted by the node": accepted}
    for agent in agents:
        for stage, values in agent.latency.stages.items():
            stages.setdefault(f"reaction {stage}", []).extend(values)
    breakdown = Table(title="Where the time goes (ms after the event was delivered)")
    for column in ("stage", "n", "p50", "p99"):
        breakdown.add_column(column, justify="right" if column != "stage" else "left")
    for stage, values in stages.items():
        v = np.array(values) * 1000
        breakdown.add_row(stage, str(len(v)), f"{np.percentile(v, 50):.1f}", f"{np.percentile(v, 99):.1f}")
    Console().print(breakdown)
    failed_kinds: dict[str, int] = {}
    for agent in agents:
        for tx in agent.failed_transactions:
            failed_kinds[f"{agent.role.value} {tx.kind}"] = failed_kinds.get(f"{agent.role.value} {tx.kind}", 0) + 1
    if failed_kinds:
        click.echo(f"reverted transactions: {failed_kinds}")
    click.echo(f"event-to-tx p99 ms: {p99:.1f}")
