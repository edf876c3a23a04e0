"""An agent killed at any moment and restarted rebuilds its state from the chain and finishes its deals.

The provider runs as a real `ape run agent` process; it is killed with SIGKILL while its job runs (after
it attested commencement, before completion), started again, and must deliver the deal to settlement.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from eth_account import Account

from agents.deploy.addresses import Deployment
from agents.runtime.connection import MarketConnection
from agents.jobs.spec import JobSpec, Limits
from agents.jobs.store import ResultStore
from agents.protocol import Status
from agents.roles import ClientAgent
from agents.runtime.agent import AgentConfig
from agents.strategies.client import BudgetClient
from agents.policy import Role

ROOT = Path(__file__).resolve().parent.parent
UNIT = 10**18
PROVIDER_INDEX, CLIENT_INDEX = 6, 7


def _start_provider(deployment_file: Path, rpc: str, store: Path, log: Path) -> subprocess.Popen:
    ape = Path(sys.executable).with_name("ape")
    return subprocess.Popen(
        [str(ape), "run", "agent", "--role", "provider", "--test-account", str(PROVIDER_INDEX), "--rpc", rpc,
         "--deployment", str(deployment_file), "--store", str(store)],
        cwd=ROOT, stdout=log.open("a"), stderr=subprocess.STDOUT, env=os.environ, start_new_session=True,
    )


def test_provider_killed_mid_job_finishes_after_restart(chain, system, accounts, deployer, tmp_path):
    deployment = Deployment.from_system(system)
    deployment_file = tmp_path / "deployment.json"
    deployment_file.write_text(deployment.to_json())
    for index in (PROVIDER_INDEX, CLIENT_INDEX):
        account = accounts[index]
        system.token.mint(account.address, 100 * UNIT, sender=deployer)
        system.token.approve(system.market.address, 2**256 - 1, sender=account)
        system.market.deposit(system.token.address, 50 * UNIT, sender=account)
    rpc = chain.provider.http_uri
    store = tmp_path / "store"  # shared by both parties here: file:// URIs on one machine
    log = tmp_path / "provider.log"
    # A job of a few seconds, so that the kill lands while it runs.
    spec = JobSpec.for_workload("sha256-chain", {"n": 4_000_000}, seed=3, limits=Limits(wall_seconds=60))

    async def scenario() -> tuple[Status, list[str]]:
        connection = MarketConnection.open(rpc, deployment)
        client = ClientAgent(
            "client", Role.CLIENT, Account.from_key(accounts[CLIENT_INDEX].private_key), connection,
            # The provider prices its own gas (about 720k per deal at anvil's fee, ETH at $3000): the budget
            # must cover it, or it rightly declines.
            BudgetClient(budget=10 * UNIT, decision_delay=1, job_duration=120, validation_window=5),
            store=ResultStore(store), config=AgentConfig(services_interval=0.2),
        )
        client.submit(spec)
        tasks = [asyncio.create_task(connection.feed.run()), asyncio.create_task(client.run())]
        events = []
        provider = _start_provider(deployment_file, rpc, store, log)
        try:
            deal = await _wait_for(lambda: _status_at_least(client, Status.COMMENCED), 90)
            events.append(f"commenced {deal.deal_id.hex()[:8]}")
            os.killpg(provider.pid, signal.SIGKILL)  # the whole process group: the job's subprocess too
            provider.wait()
            events.append("killed")
            await asyncio.sleep(1)
            assert deal.status == Status.COMMENCED  # nothing delivered it meanwhile
            provider = _start_provider(deployment_file, rpc, store, log)
            events.append("restarted")
            await _wait_for(lambda: deal if deal.status.is_terminal else None, 120)
            return deal.status, events
        finally:
            os.killpg(provider.pid, signal.SIGTERM)
            provider.wait(timeout=30)
            client.stop()
            connection.feed.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            await connection.rpc.close()

    status, events = asyncio.run(scenario())
    assert status == Status.SETTLED, (events, log.read_text()[-3000:])
    assert events == [events[0], "killed", "restarted"]


def _status_at_least(client, status):
    return next((d for d in client.dialogues.by_id.values() if d.status == status), None)


async def _wait_for(probe, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise TimeoutError("condition not reached")
