"""The agent runtime end to end on anvil: real event feed, locally signed transactions, real jobs in
subprocesses, real EAS attestations. Agents must take deals from request to settlement on their own, and through
judgement: a validator paid for its verdict, a wrong result disputed, a wrong verdict appealed and a silent
validator's deal escalated, each ruled on by the court agent (the deployer, which the market names as court).

Every deadline a test's story turns on is long in chain time (minutes, where agents answer in seconds) and is
passed by moving the chain's clock once the story has got there: the client decides among offers once both
providers' are on chain, a validation window closes once the verdict (or the silence) it waits for is seen. A
loaded machine makes the tests slower, never different."""

import asyncio
import time

import pytest
from eth_account import Account

from agents.deploy.addresses import Deployment
from agents.jobs.spec import JobSpec
from agents.jobs.store import ResultStore
from agents.policy import Capacity, Role
from agents.protocol import CloseReason, Performative, Status, ValidationScheme
from agents.roles import ClientAgent, CourtAgent, ProviderAgent, ValidatorAgent
from agents.roles.client import QueuedJob
from agents.runtime.agent import AgentConfig
from agents.runtime.connection import MarketConnection
from agents.strategies.adversarial import ColludingValidator, WrongResultProvider
from agents.strategies.client import BudgetClient
from agents.strategies.provider import CostPlusProvider
from agents.strategies.validator import HonestCourt, HonestValidator

UNIT = 10**18
FAST = AgentConfig(agent_timeout=0.02, services_interval=0.2, max_reactions=50)
# Chain-time deadlines no wall-clock delay reaches: a test moves the clock past them when its story says.
DECISION_DELAY = 600  # the client compares offers for this long after the first
WINDOW = 600  # validation windows
OFFER_WINDOW = 3600  # requests stay open, and offers valid, well past a decision delay


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


async def _until(condition, what: str, timeout: float = 120) -> None:
    """Wait until `condition()` holds; TimeoutError naming `what` (a bound on a failing test, not a race)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached in {timeout:g} s: {what}")
        await asyncio.sleep(0.1)


async def _move_clock(connection, seconds: int) -> None:
    """Move the chain's clock `seconds` on (a block at the new time) and let the agents see it at once."""
    await connection.rpc.call("evm_increaseTime", [seconds + 1])  # + 1: a deadline `seconds` from now is past
    await connection.rpc.call("evm_mine")
    await connection.feed.refresh_fees_and_clock()


async def _run_story(agents, connection, story) -> None:
    """Run the agents (and the feed) while `story()` drives and waits on them; stop them all after."""
    tasks = [asyncio.create_task(connection.feed.run())] + [asyncio.create_task(a.run()) for a in agents]
    try:
        await story()
    finally:
        for agent in agents:
            agent.stop()
        connection.feed.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await connection.rpc.close()


def _run_until(agents, connection, condition, what: str, *, window_closes_after=None) -> None:
    """Run the agents until `condition()`. With `window_closes_after`, the validation window is passed on the
    chain's clock once that probe holds (the moves the window waits for were made, or never will be)."""
    async def story():
        if window_closes_after is not None:
            await _until(window_closes_after, "the moves before the validation window closes")
            await _move_clock(connection, WINDOW)
        await _until(condition, what)

    try:
        asyncio.run(_run_story(agents, connection, story))
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{_describe(agents)}") from None


def test_agents_trade_to_settlement(chain, system, deployment, funded, tmp_path):
    client_key, provider_a, provider_b, validator_key = funded
    connection = MarketConnection.open(chain.provider.http_uri, deployment)
    store = ResultStore(tmp_path / "store")
    client_policy = BudgetClient(budget=UNIT, validation_window=WINDOW, offer_window=OFFER_WINDOW,
                                 decision_delay=DECISION_DELAY, approve_early=False)
    client = ClientAgent("client", Role.CLIENT, client_key, connection, client_policy, store=store, config=FAST)
    providers = [
        ProviderAgent(
            name, Role.PROVIDER, key, connection, CostPlusProvider(margin=margin, offer_ttl=OFFER_WINDOW),
            capacity=Capacity(cores=4, ram_bytes=8 << 30), store=store, workdir=tmp_path / name, config=FAST,
        )
        for name, key, margin in (("cheap", provider_a, 0.1), ("dear", provider_b, 0.9))
    ]
    for seed in (1, 2):
        client.submit(_spec(seed))
    deals = client.dialogues.by_id.values
    both = {p.address for p in providers}

    def offered_by_both():
        offerers = [{o.offer.provider for o in d.offers if o.signer == o.offer.provider} for d in deals()]
        return len(offerers) == 2 and all(found == both for found in offerers)

    def delivered_and_checked():  # the results are in and the client has checked both, within the window
        return client.results_checked == 2 and all(d.status == Status.COMPLETED for d in deals())

    def two_settled():
        return sum(1 for d in deals() if d.status == Status.SETTLED) == 2

    async def story():
        await _until(offered_by_both, "both providers' offers on both requests")
        await _move_clock(connection, DECISION_DELAY)  # the client compares them now
        await _until(delivered_and_checked, "both results delivered and checked")
        await _move_clock(connection, WINDOW)  # unchallenged: the providers claim their pay
        await _until(two_settled, "both deals settled")

    try:
        asyncio.run(_run_story([client, *providers], connection, story))
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{_describe([client, *providers])}") from None
    settled = [d for d in client.dialogues.by_id.values() if d.status == Status.SETTLED]
    # The cheaper provider's offers win every comparison.
    assert {d.provider for d in settled} == {providers[0].address}
    for dialogue in settled:
        deal = system.market.getDeal(dialogue.deal_id)
        assert Status(deal.status) == Status.SETTLED
        assert deal.price == dialogue.price <= UNIT
    assert client.results_checked == 2 and client.results_failed == 0
    assert providers[0].jobs_run == 2
    assert not client.errors and not providers[0].errors
    # The market's own balance stays exactly what it owes.
    assert system.token.balanceOf(system.market.address) == system.market.totalOwed(system.token.address)


def _available(system, address) -> int:
    return system.market.available(system.token.address, address)


def _court(connection, deployer, tmp_path) -> CourtAgent:
    return CourtAgent("court", Role.COURT, Account.from_key(deployer.private_key), connection, HonestCourt(),
                      workdir=tmp_path / "court", config=FAST)


def _provider(connection, key, store, tmp_path, policy=None) -> ProviderAgent:
    return ProviderAgent("provider", Role.PROVIDER, key, connection, policy or CostPlusProvider(),
                         capacity=Capacity(cores=4, ram_bytes=8 << 30), store=store, workdir=tmp_path / "p",
                         config=FAST)


def _with_status(client, status):
    return next((d for d in client.dialogues.by_id.values() if d.status == status), None)


def _closed(client):
    return next((d for d in client.dialogues.by_id.values() if d.status.is_terminal and d.agreed_at), None)


def test_validator_is_paid_its_fee_once_its_verdict_stands(chain, system, deployment, funded, tmp_path):
    client_key, provider_key, _, validator_key = funded
    connection = MarketConnection.open(chain.provider.http_uri, deployment)
    store = ResultStore(tmp_path / "store")
    stake_before = _available(system, validator_key.address)
    client_policy = BudgetClient(
        budget=UNIT, scheme=ValidationScheme.VALIDATOR, validator=validator_key.address, decision_delay=1,
        validation_window=WINDOW, approve_early=False,  # the validator judges; its verdict stands after the window
    )
    client = ClientAgent("client", Role.CLIENT, client_key, connection, client_policy, store=store, config=FAST)
    provider = _provider(connection, provider_key, store, tmp_path)
    validator = ValidatorAgent("validator", Role.VALIDATOR, validator_key, connection, HonestValidator(),
                               workdir=tmp_path / "v", stake=10 * UNIT, config=FAST)
    client.submit(_spec(7))

    agents = [client, provider, validator]
    _run_until(agents, connection, lambda: _closed(client), "the deal closed",
               window_closes_after=lambda: _with_status(client, Status.JUDGED) and client.results_checked == 1)
    deal = _closed(client)
    assert (deal.status, deal.close_reason, deal.verdict) == (Status.SETTLED, CloseReason.VERDICT_APPROVED, True)
    assert validator.validations == 1 and not validator.errors
    # Its stake came back with the fee the client locked with the price.
    assert _available(system, validator_key.address) == stake_before + client_policy.validator_fee
    assert system.token.balanceOf(system.market.address) == system.market.totalOwed(system.token.address)


def test_the_client_disputes_a_wrong_result_and_the_court_rules(chain, system, deployment, funded, deployer,
                                                                 tmp_path):
    client_key, provider_key, _, _ = funded
    connection = MarketConnection.open(chain.provider.http_uri, deployment)
    store = ResultStore(tmp_path / "store")
    client_policy = BudgetClient(budget=UNIT, decision_delay=1, validation_window=WINDOW)
    client = ClientAgent("client", Role.CLIENT, client_key, connection, client_policy, store=store, config=FAST)
    cheat = _provider(connection, provider_key, store, tmp_path, WrongResultProvider())
    court = _court(connection, deployer, tmp_path)
    court_before, client_before = _available(system, deployer.address), _available(system, client_key.address)
    client.submit(_spec(3))

    agents = [client, cheat, court]
    _run_until(agents, connection, lambda: _closed(client), "the deal closed")
    deal = _closed(client)
    assert (deal.status, deal.close_reason, deal.disputant) == (Status.SLASHED, CloseReason.COURT_REJECTED,
                                                                client_key.address)
    assert client.results_failed == 1 and court.validations == 1
    # The client got its payment back and the collateral, less the bond that paid the court.
    assert _available(system, client_key.address) == client_before + deal.collateral - client_policy.bond
    assert _available(system, deployer.address) == court_before + client_policy.bond


def test_the_provider_appeals_a_wrong_rejection_and_the_court_overturns_it(chain, system, deployment, funded,
                                                                           deployer, tmp_path):
    client_key, provider_key, _, validator_key = funded
    connection = MarketConnection.open(chain.provider.http_uri, deployment)
    store = ResultStore(tmp_path / "store")
    client_policy = BudgetClient(budget=UNIT, scheme=ValidationScheme.VALIDATOR, validator=validator_key.address,
                                 decision_delay=1, validation_window=WINDOW, approve_early=False)
    client = ClientAgent("client", Role.CLIENT, client_key, connection, client_policy, store=store, config=FAST)
    provider = _provider(connection, provider_key, store, tmp_path)
    colluder = ValidatorAgent("colluder", Role.VALIDATOR, validator_key, connection,
                              ColludingValidator(partner=client_key.address), workdir=tmp_path / "v", config=FAST)
    court = _court(connection, deployer, tmp_path)
    stake_before, provider_before = _available(system, validator_key.address), _available(system, provider_key.address)
    client.submit(_spec(5))

    agents = [client, provider, colluder, court]
    _run_until(agents, connection, lambda: _closed(client), "the deal closed")
    deal = _closed(client)
    assert deal.verdict is False and deal.disputant == provider_key.address  # rejected, and appealed
    assert (deal.status, deal.close_reason) == (Status.SETTLED, CloseReason.COURT_APPROVED)
    assert _available(system, validator_key.address) == stake_before - client_policy.bond  # its stake paid the court
    assert _available(system, provider_key.address) == provider_before + deal.price  # bond back, paid in full


def test_a_silent_validators_deal_is_escalated_to_the_court(chain, system, deployment, funded, deployer, tmp_path):
    client_key, provider_key, _, validator_key = funded  # the validator runs no agent: it never judges
    connection = MarketConnection.open(chain.provider.http_uri, deployment)
    store = ResultStore(tmp_path / "store")
    client_policy = BudgetClient(budget=UNIT, scheme=ValidationScheme.VALIDATOR, validator=validator_key.address,
                                 decision_delay=1, validation_window=WINDOW, approve_early=False)
    client = ClientAgent("client", Role.CLIENT, client_key, connection, client_policy, store=store, config=FAST)
    provider = _provider(connection, provider_key, store, tmp_path)
    court = _court(connection, deployer, tmp_path)
    client.submit(_spec(9))

    agents = [client, provider, court]
    _run_until(agents, connection, lambda: _closed(client), "the deal closed",
               window_closes_after=lambda: _with_status(client, Status.COMPLETED) and client.results_checked == 1)
    deal = _closed(client)
    assert (deal.status, deal.close_reason, deal.verdict) == (Status.SETTLED, CloseReason.COURT_APPROVED, None)
    assert Performative.ESCALATE.value in {tx.kind for tx in provider.outbox.sent}  # the provider's deadline duty
    assert court.validations == 1


def test_a_provider_declines_validators_without_a_stake_or_funded_by_the_client(chain, system, deployment, funded,
                                                                                accounts, tmp_path):
    client_key, provider_key, _, funded_validator = funded
    broke_validator = Account.from_key(accounts[9].private_key)  # nothing in escrow: it cannot stake the bond
    system.token.transfer(funded_validator.address, UNIT, sender=accounts[5])  # the client pays the validator
    connection = MarketConnection.open(chain.provider.http_uri, deployment)
    store = ResultStore(tmp_path / "store")
    client = ClientAgent("client", Role.CLIENT, client_key, connection, BudgetClient(budget=UNIT, decision_delay=1),
                         store=store, config=FAST)
    provider = _provider(connection, provider_key, store, tmp_path)
    for seed, validator in ((1, broke_validator.address), (2, funded_validator.address)):
        client.queue.append(QueuedJob(_spec(seed), ValidationScheme.VALIDATOR, validator))

    def considered_both():
        return len(provider.considered) == 2 and not provider.background_work()

    agents = [client, provider]
    _run_until(agents, connection, considered_both, "the provider considered both requests")
    assert [tx.kind for tx in provider.outbox.sent] == []  # no offer on either request
    assert provider.funding_links == {(client_key.address, funded_validator.address)}
    assert not provider.errors
