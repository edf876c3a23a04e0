"""The agent runtime end to end on anvil: real event feed, locally signed transactions, real jobs in
subprocesses, real EAS attestations. Agents must take deals from request to settlement on their own."""

import asyncio
import time

import pytest
from eth_account import Account

from agents.deploy.addresses import Deployment
from agents.jobs.spec import JobSpec
from agents.jobs.store import ResultStore
from agents.policy import Capacity, Role
from agents.protocol import Status, ValidationScheme
from agents.roles import ClientAgent, ProviderAgent, ValidatorAgent
from agents.runtime.agent import AgentConfig
from agents.runtime.connection import MarketConnection
from agents.strategies.client import BudgetClient
from agents.strategies.provider import CostPlusProvider
from agents.strategies.validator import HonestValidator

UNIT = 10**18
FAST = AgentConfig(agent_timeout=0.02, services_interval=0.2, max_reactions=50)


@pytest.fixture
def deployment(system):
    return Deployment.from_system(system)


@pytest.fixture
def funded(system, accounts, deployer):
    """Escrow floats for the agents' accounts (indices 5..8)."""
    for account in accounts[5:9]:
        system.token.mint(account.address, 100 * UNIT, sender=deployer)
        system.token.approve(system.market.address, 2**256 - 1, sender=account)
        system.market.deposit(system.token.address, 50 * UNIT, sender=account)
    return [Account.from_key(a.private_key) for a in accounts[5:9]]


def _spec(seed: int) -> JobSpec:
    return JobSpec.for_workload("sha256-chain", {"n": 2000}, seed=seed)


def _describe(agents) -> str:
    lines = []
    for agent in agents:
        state = agent.state()
        statuses = {k: v for k, v in state["dialogues_by_status"].items() if v}
        lines.append(
            f"{agent.name}: statuses={statuses} arrivals={state['arrivals']} txs={state['transactions']} "
            f"failed={state['failed_transactions']} free_funds={state['free_funds']} errors={state['errors'][:3]}"
        )
    return "\n".join(lines)


async def _run_until(agents, connection, condition, timeout: float) -> bool:
    tasks = [asyncio.create_task(connection.feed.run())] + [asyncio.create_task(a.run()) for a in agents]
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if condition():
                return True
            await asyncio.sleep(0.1)
        return False
    finally:
        for agent in agents:
            agent.stop()
        connection.feed.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await connection.rpc.close()


def test_agents_trade_to_settlement(chain, system, deployment, funded, tmp_path):
    client_key, provider_a, provider_b, validator_key = funded
    connection = MarketConnection.open(chain.provider.http_uri, deployment)
    store = ResultStore(tmp_path / "store")
    client_policy = BudgetClient(budget=UNIT, validation_window=2, offer_window=30, decision_delay=1, approve_early=False)
    client = ClientAgent("client", Role.CLIENT, client_key, connection, client_policy, store=store, config=FAST)
    providers = [
        ProviderAgent(
            name, Role.PROVIDER, key, connection, CostPlusProvider(margin=margin),
            capacity=Capacity(cores=4, ram_bytes=8 << 30), store=store, workdir=tmp_path / name, config=FAST,
        )
        for name, key, margin in (("cheap", provider_a, 0.1), ("dear", provider_b, 0.9))
    ]
    for seed in (1, 2):
        client.submit(_spec(seed))

    def two_settled():
        return sum(1 for d in client.dialogues.by_id.values() if d.status == Status.SETTLED) == 2

    assert asyncio.run(_run_until([client, *providers], connection, two_settled, timeout=60)), _describe(
        [client, *providers]
    )
    settled = [d for d in client.dialogues.by_id.values() if d.status == Status.SETTLED]
    # The cheaper provider's offers win every comparison.
    assert {d.provider for d in settled} == {providers[0].address}
    for dialogue in settled:
        deal = system.market.getDeal(dialogue.deal_id)
        assert Status(deal.status) == Status.SETTLED
        assert deal.price == dialogue.price <= UNIT
    assert client.results_checked == 2 and client.results_rejected == 0
    assert providers[0].jobs_run == 2
    assert not client.errors and not providers[0].errors
    # The market's own balance stays exactly what it owes.
    assert system.token.balanceOf(system.market.address) == system.market.totalOwed(system.token.address)


def test_validator_scheme_end_to_end(chain, system, deployment, funded, tmp_path):
    client_key, provider_key, _, validator_key = funded
    connection = MarketConnection.open(chain.provider.http_uri, deployment)
    store = ResultStore(tmp_path / "store")
    validator_address = Account.from_key(validator_key.key).address
    client_policy = BudgetClient(
        budget=UNIT, scheme=ValidationScheme.VALIDATOR, validator=validator_address, decision_delay=1,
        validation_window=30, approve_early=False,  # the validator, not the client, must settle it
    )
    client = ClientAgent("client", Role.CLIENT, client_key, connection, client_policy, store=store, config=FAST)
    provider = ProviderAgent(
        "provider", Role.PROVIDER, provider_key, connection, CostPlusProvider(),
        capacity=Capacity(cores=4, ram_bytes=8 << 30), store=store, workdir=tmp_path / "p", config=FAST,
    )
    validator = ValidatorAgent(
        "validator", Role.VALIDATOR, validator_key, connection, HonestValidator(), workdir=tmp_path / "v", config=FAST
    )
    client.submit(_spec(7))

    def settled():
        return any(d.status == Status.SETTLED for d in client.dialogues.by_id.values())

    assert asyncio.run(_run_until([client, provider, validator], connection, settled, timeout=60)), _describe(
        [client, provider, validator]
    )
    assert validator.validations == 1
