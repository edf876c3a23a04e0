"""The market's economics: what a job costs a provider (gas, electricity, hardware, risk), what it is worth to
its client, and whether a provider's region shows in its outcome."""

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from agents.deploy.addresses import Deployment
from agents.jobs.spec import JobSpec
from agents.oracles.models import ElectricityForecast, GasPrice, GlobalState
from agents.policy import Capacity, Context, Dialogue, LocalState, Role
from agents.protocol import Domain, Message, Offer, Performative, Request, ValidationScheme
from agents.simulation.run import simulate
from agents.simulation.scenario import ScenarioError, parse_scenario
from agents.strategies.client import BudgetClient
from agents.strategies.costs import CLIENT_GAS, CLIENT_GAS_PER_DEAL, PROVIDER_GAS, PROVIDER_GAS_PER_DEAL, CostModel

SNAPSHOT = json.loads((Path(__file__).resolve().parents[1] / "gas-snapshot.json").read_text())
UNIT = 10**18
CLIENT = "0x" + "11" * 20
CHEAP = "0x" + "22" * 20
DEAR = "0x" + "33" * 20
TOKEN = "0x" + "44" * 20
DEAL = b"\x05" * 32
JOB = JobSpec.for_workload("sha256-chain", {"n": 10})


def _context(*, region="eu-west", price=0.20, forecast=0.30, fee_wei=10 * 10**6, eth=2000.0, cores=8, watts=400):
    state = GlobalState(
        time=0.0,
        gas=GasPrice(base_fee_wei=fee_wei, priority_fee_wei=0, block_number=1),
        token_prices={"tUSD": 1.0, "ETH": eth},
        electricity_prices={region: price},
        electricity_forecasts={region: ElectricityForecast(region, 0.0, 3600.0, forecast, forecast, forecast, 0.9)},
    )
    hardware = SimpleNamespace(power_full_watts=watts, logical_cores=cores)
    return SimpleNamespace(local=SimpleNamespace(hardware=hardware, region=region), global_state=state)


@pytest.mark.parametrize("table", [PROVIDER_GAS, CLIENT_GAS])
def test_the_gas_a_deal_takes_is_the_measured_gas_rounded_up(table):
    for name, gas in table.items():
        measured = SNAPSHOT[name]
        assert measured <= gas < measured + 1_000, name


def test_the_cost_floor_adds_gas_electricity_hardware_and_risk():
    model = CostModel(token_symbol="tUSD", hardware_usd_per_hour=0.08)
    # A job holding 2 of 8 cores for 3 hours, with 1 token of collateral at stake.
    cost = model.breakdown(3 * 3600, 1 * UNIT, _context(), cores=2)
    assert cost.gas_usd == pytest.approx(PROVIDER_GAS_PER_DEAL * 0.01e-9 * 2000)  # 709k gas at 0.01 gwei
    assert cost.electricity_usd == pytest.approx(0.4 * 2 / 8 * 3 * 0.25)  # kW x share x h x mean(now, forecast)
    assert cost.hardware_usd == pytest.approx(0.08 * 2 / 8 * 3)
    assert cost.risk_usd == pytest.approx(0.02)
    floor = model.job_cost(3 * 3600, 1 * UNIT, _context(), cores=2)
    assert floor == pytest.approx((0.01418 + 0.075 + 0.06 + 0.02) * UNIT, rel=1e-9)


def test_gas_dominates_a_short_job_and_electricity_a_long_one_in_an_expensive_region():
    model = CostModel(token_symbol="tUSD")
    short = model.breakdown(60, 0, _context(), cores=1)
    long = model.breakdown(10 * 3600, 0, _context(), cores=8)
    assert short.gas_usd > 10 * short.electricity_usd
    assert long.electricity_usd > 10 * long.gas_usd


def test_a_cheaper_region_gives_a_lower_floor():
    model = CostModel(token_symbol="tUSD")
    cheap = model.job_cost(3600, 0, _context(region="nordics", price=0.06, forecast=0.06), cores=8)
    dear = model.job_cost(3600, 0, _context(region="eu-west", price=0.30, forecast=0.30), cores=8)
    assert dear - cheap == pytest.approx(0.4 * (0.30 - 0.06) * UNIT, rel=1e-9)


# --- clients with values ---------------------------------------------------------------------------------

def _client_context(value, *, fee_wei=10 * 10**6, eth=2000.0, dialogue=None, now=0, reputation=None):
    state = GlobalState(time=0.0, gas=GasPrice(fee_wei, 0, 1), token_prices={"tUSD": 1.0, "ETH": eth})
    local = LocalState(hardware=None, free_capacity=Capacity(), free_funds=10 * UNIT, open_deals=0)
    return Context(role=Role.CLIENT, me=CLIENT, now=now, dialogue=None, parallel=(dialogue,) if dialogue else (),
                   local=local, global_state=state, reputation=reputation, perception={"value": value})


def _valued_client():
    return BudgetClient(budget=5 * UNIT, validator_fee_fraction=0.05, cost_model=CostModel(token_symbol="tUSD"))


def test_a_client_never_offers_more_than_the_job_is_worth_to_it():
    client = _valued_client()
    terms = client.terms_for(JOB, _client_context(UNIT))  # a job worth 1 token
    gas = CLIENT_GAS_PER_DEAL * 0.01e-9 * 2000 * UNIT  # its own gas on the deal: 455k gas at 0.01 gwei
    assert terms.max_price == pytest.approx((UNIT - gas) / 1.05, abs=2)
    assert terms.max_price + terms.validator_fee + gas <= UNIT  # even if the job is validated
    assert terms.min_collateral == int(terms.max_price * 0.2) and terms.bond == int(terms.max_price * 0.1)


def test_a_job_worth_less_than_the_clients_own_gas_is_not_worth_a_deal():
    assert _valued_client().terms_for(JOB, _client_context(UNIT // 1000)).max_price <= 0
    assert _valued_client().terms_for(JOB, _client_context(100 * UNIT)).max_price == 5 * UNIT  # the budget caps


def _valued_dialogue(max_price, offers):
    request = Request(CLIENT, TOKEN, max_price, 0, 600, 60, 300, 60, ValidationScheme.OPTIMISTIC,
                      "0x" + "00" * 20, 0, 1, b"\x01" * 32, 0)
    dialogue = Dialogue(DEAL, Role.CLIENT, Domain(31337, "0x" + "55" * 20))
    requested = {"dealId": DEAL, "request": request.message(), "specURI": "file:///spec", "invited": []}
    dialogue.apply(Message(Performative.REQUEST, DEAL, CLIENT, requested, 1, 0, (1, 0), 0.0))
    for index, (provider, price) in enumerate(offers, start=1):
        offer = Offer(DEAL, provider, price, 0, 500, 0)
        args = {"dealId": DEAL, "offer": offer.message(), "signer": provider, "signature": bytes([index]) * 65}
        dialogue.apply(Message(Performative.OFFER, DEAL, provider, args, 2, 1, (2, index), 0.0))
    return dialogue


def test_the_client_takes_the_offer_of_most_expected_surplus():
    # Reservation price 1.0: the cheap provider delivers half the time (expected surplus 0.5 - 0.3 = 0.2), the
    # dearer one always (1.0 - 0.5 = 0.5): the dearer offer is worth more to the client.
    dialogue = _valued_dialogue(UNIT, [(CHEAP, 3 * UNIT // 10), (DEAR, UNIT // 2)])
    context = _client_context(None, dialogue=dialogue, now=100, reputation={CHEAP: 0.5, DEAR: 1.0}.get)
    [reply] = _valued_client().act(context)
    assert reply.performative == Performative.ACCEPT and reply.offer.provider == DEAR


def test_an_offer_above_the_target_is_countered_halfway():
    dialogue = _valued_dialogue(UNIT, [(CHEAP, 9 * UNIT // 10)])
    [reply] = _valued_client().act(_client_context(None, dialogue=dialogue, now=100))
    assert reply.performative == Performative.OFFER and reply.offer.round == 1
    assert reply.offer.price == (int(UNIT * 0.7) + 9 * UNIT // 10) // 2  # between its target and the offer


def test_an_offer_above_the_reservation_price_is_never_taken():
    dialogue = _valued_dialogue(UNIT, [(CHEAP, UNIT + 1)])
    assert _valued_client().act(_client_context(None, dialogue=dialogue, now=590)) == []  # even at closing


def test_job_values_are_drawn_around_the_value_per_core_hour_of_the_job_size():
    scenario = parse_scenario({
        "steps": 10, "providers": [{"name": "p"}], "clients": [{"name": "c"}],
        "jobs": [{"workload": "sha256-chain", "params": {"n": 10}, "requirements": {"min_cores": 4},
                  "duration_hours": 1.5, "value": {"usd_per_core_hour": 0.04, "spread": 0.5}}],
    })
    [entry] = scenario.jobs
    assert entry.core_hours == 6.0 and entry.spec.estimated_seconds() == 5400.0
    rng = np.random.default_rng(0)
    values = np.array([entry.draw_value_usd(rng) for _ in range(20_000)])
    assert values.mean() == pytest.approx(0.24, rel=0.02)  # 0.04 x 6 core-hours, the lognormal factor mean one
    assert np.log(values).std() == pytest.approx(0.5, rel=0.03)
    with pytest.raises(ScenarioError, match="needs its size"):
        parse_scenario({"steps": 10, "providers": [{"name": "p"}], "clients": [{"name": "c"}],
                        "jobs": [{"workload": "sha256-chain", "params": {"n": 10}, "value": {"usd_per_core_hour": 1}}]})


# --- region matters --------------------------------------------------------------------------------------

def test_of_two_identical_providers_the_one_with_cheaper_electricity_wins_the_market(chain, system, accounts,
                                                                                     tmp_path):
    """The same machine, strategy and margin in the Nordics (about 0.08 USD/kWh) and in western Europe (about
    0.22): a 6 core-hour job costs the Nordic one about 0.03 USD less in electricity, so it quotes lower and
    clients, choosing by surplus, take its offers. A job holds 4 of the 64 cores of either machine."""
    # Enough cores that capacity never binds: where both can serve, price alone decides.
    machine = {"cpu_cores": 64, "ram_gb": 32, "power_watts": 400, "price_usd": 2500}
    provider = {"count": 1, "strategy": "cost-plus", "params": {"margin": 0.2}, "hardware": machine, "float": 20}
    scenario = parse_scenario({
        "name": "regions", "seed": 4, "steps": 6, "step_seconds": 600, "drain_steps": 20, "base_fee_gwei": 0.01,
        "providers": [{"name": "nordic", "region": "nordics", **provider},
                      {"name": "western", "region": "eu-west", **provider}],
        "clients": [{"name": "client", "count": 2, "strategy": "budget", "params": {"budget": 2.0},
                     "jobs_per_step": 0.8, "float": 20}],
        "jobs": [{"workload": "sha256-chain", "params": {"n": 2000}, "seed": 1, "requirements": {"min_cores": 4},
                  "duration_hours": 1.5, "value": {"usd_per_core_hour": 0.08, "spread": 0.2},
                  "limits": {"wall_seconds": 20, "memory_bytes": 1073741824, "cpu_seconds": 20}}],
    })
    result = asyncio.run(simulate(scenario, node_url=chain.provider.http_uri,
                                  deployment=Deployment.from_system(system), funder_key=accounts[0].private_key,
                                  out_dir=tmp_path))
    deals = result.deals
    assert result.summary["deals_open"] == 0 and result.summary["funds_conserved"] is True
    won = deals[deals["agreed_at"].notna()]["provider"].value_counts()
    offers = pd.read_csv(result.run_dir / "messages.csv").query("message == 'offer' and round == 0")
    both = offers.groupby(["deal_id", "sender"])["price"].first().unstack().dropna()
    # Where both offered, the western one asked more; it won less (only what the Nordic one had no free cores for).
    assert len(both) >= 2
    assert (both["western-0"] > both["nordic-0"]).all()
    assert won.get("nordic-0", 0) > won.get("western-0", 0)
