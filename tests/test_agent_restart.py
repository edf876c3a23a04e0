"""An agent killed at any moment and restarted rebuilds its state from the chain and finishes its deals.

The provider runs as a real `ape run agent` process; it is killed with SIGKILL while its job runs (after
it attested commencement, before completion), started again, and must deliver the deal to settlement. The job
waits for a gate file the test opens only after the restart, so the kill lands mid-job however fast or slow
the machine is.
"""

import asyncio
import re
import time

from agent_process import kill_agent, start_agent, stop_agent
from eth_account import Account

from agents.deploy.addresses import Deployment
from agents.jobs.spec import JobSpec, Limits
from agents.jobs.store import ResultStore
from agents.policy import Role
from agents.protocol import Status
from agents.roles import ClientAgent
from agents.runtime.agent import AgentConfig
from agents.runtime.connection import MarketConnection
from agents.strategies.client import BudgetClient

UNIT = 10**18
PROVIDER_INDEX, CLIENT_INDEX = 6, 7


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
    gate = tmp_path / "gate"
    spec = JobSpec.for_command(["sh", "-c", f"while [ ! -e '{gate}' ]; do sleep 0.1; done; echo released"],
                               limits=Limits(wall_seconds=300))

    async def scenario() -> tuple[Status, list[str]]:
        connection = MarketConnection.open(rpc, deployment)
        client = ClientAgent(
            "client", Role.CLIENT, Account.from_key(accounts[CLIENT_INDEX].private_key), connection,
            # The provider prices its own gas (about 720k per deal at anvil's fee, ETH at $3000): the budget
            # must cover it, or it rightly declines.
            BudgetClient(budget=10 * UNIT, decision_delay=1, job_duration=600, validation_window=5),
            store=ResultStore(store), config=AgentConfig(services_interval=0.2),
        )
        client.submit(spec)
        tasks = [asyncio.create_task(connection.feed.run()), asyncio.create_task(client.run())]
        events = []
        provider = start_agent("provider", PROVIDER_INDEX, rpc, deployment_file, store, log)
        try:
            deal = await _wait_for(lambda: _status_at_least(client, Status.COMMENCED), 180)
            events.append(f"commenced {deal.deal_id.hex()[:8]}")
            kill_agent(provider)  # with the job it runs, which waits at the gate
            events.append("killed")
            assert Status(system.market.getDeal(deal.deal_id).status) == Status.COMMENCED  # killed mid-job
            provider = start_agent("provider", PROVIDER_INDEX, rpc, deployment_file, store, log)
            events.append("restarted")
            gate.touch()  # the restarted provider's run of the job can finish
            await _wait_for(lambda: deal if deal.status.is_terminal else None, 180)
            return deal.status, events
        finally:
            stop_agent(provider)
            client.stop()
            connection.feed.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            await connection.rpc.close()

    status, events = asyncio.run(scenario())
    assert status == Status.SETTLED, (events, log.read_text()[-3000:])
    assert events == [events[0], "killed", "restarted"]
    # Killed, it could not revoke its directory listing: started again, it found the listing live and kept it.
    listed = re.findall(r"listed in the service directory \(attestation\s+(0x[0-9a-f]{64})", log.read_text())
    assert len(listed) == 2 and listed[0] == listed[1], listed


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
