"""The market's economics: what a job costs a provider (gas, electricity, hardware, risk), what it is worth to
its client, and whether a provider's region shows in its outcome."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from agents.oracles.models import ElectricityForecast, GasPrice, GlobalState
from agents.strategies.costs import CLIENT_GAS, PROVIDER_GAS, PROVIDER_GAS_PER_DEAL, CostModel

SNAPSHOT = json.loads((Path(__file__).resolve().parents[1] / "gas-snapshot.json").read_text())
GWEI = 10**9
UNIT = 10**18


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
