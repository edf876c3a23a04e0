"""Global state: seeded price models (determinism, statistics, forecast coverage), the on-chain price feed
and its keeper, the gas oracle on anvil, and their composition into snapshots."""

import math

import ape
import numpy as np
import pytest
from ape import project

from agents.chain.abi import project_abi
from agents.chain.sync import SyncClient, as_int
from agents.chain.transactions import Signer
from agents.oracles.feeds import AGGREGATOR_V3_ABI, PRICE_FEED_KEEPER_ABI, GasOracle, OnChainPriceFeed, OracleKeeper
from agents.oracles.models import (
    DEFAULT_REGIONS,
    SECONDS_PER_DAY,
    SECONDS_PER_HOUR,
    SECONDS_PER_YEAR,
    ElectricityPriceModel,
    RegionProfile,
    TokenPriceModel,
)
from agents.oracles.source import GlobalStateSource, simulated_state_source

GWEI = 10**9
PROFILE = RegionProfile(
    base_price=0.20, utc_offset_hours=0.0, daily_amplitude=0.15, daily_peak_hour=18.0, half_day_amplitude=0.08,
    half_day_peak_hour=8.0, half_life_hours=6.0, log_volatility=0.2,
)


def identical_regions(count: int, profile: RegionProfile = PROFILE) -> dict[str, RegionProfile]:
    """Many regions with one profile: independent copies of one OU, advanced in one vectorised step."""
    return {f"region-{i}": profile for i in range(count)}


# --- determinism -----------------------------------------------------------------------------------------


def test_token_prices_depend_only_on_seed_and_query_times():
    times = [0, 60, 60, 3600, 3600 * 24 * 7]
    first = [TokenPriceModel("ETH", 3000.0, seed=7).price(t) for t in times]  # fresh model each time: t=0
    model_a, model_b = TokenPriceModel("ETH", 3000.0, seed=7), TokenPriceModel("ETH", 3000.0, seed=7)
    path_a = [model_a.price(t) for t in times]
    assert path_a == [model_b.price(t) for t in times]
    assert path_a[0] == 3000.0 and path_a[1] == path_a[2]  # a time asked twice gives the same price
    assert first[0] == 3000.0
    assert path_a != [TokenPriceModel("ETH", 3000.0, seed=8).price(t) for t in times]
    assert model_a.price(60) == path_a[1]  # past query times are remembered
    with pytest.raises(ValueError, match="moves forward only"):
        model_a.price(100)


def test_electricity_prices_do_not_depend_on_which_regions_are_asked():
    times = np.arange(0, 2 * SECONDS_PER_DAY, 900.0)
    one_by_one = ElectricityPriceModel(seed=3)
    all_at_once = ElectricityPriceModel(seed=3)
    for t in times:
        assert one_by_one.price("nordics", t) == all_at_once.prices(t)["nordics"]
    with pytest.raises(KeyError, match="unknown region 'mars'"):
        one_by_one.price("mars", times[-1])


def test_a_seed_is_required():
    with pytest.raises(ValueError, match="seed"):
        TokenPriceModel("ETH", 3000.0, seed=None)


# --- GBM -------------------------------------------------------------------------------------------------


def test_gbm_log_returns_have_the_exact_transition_distribution():
    mu, sigma = 0.1, 0.8
    model = TokenPriceModel("ETH", 3000.0, seed=11, drift_per_year=mu, volatility_per_year=sigma)
    # Irregular gaps from 1 minute to 10 days: the transition is exact whatever the gap.
    gaps = np.random.default_rng(0).uniform(60.0, 10 * SECONDS_PER_DAY, size=20_000)
    times = np.cumsum(gaps)
    log_prices = np.log([model.price(t) for t in times])
    years = gaps[1:] / SECONDS_PER_YEAR
    standardised = (np.diff(log_prices) - (mu - sigma**2 / 2) * years) / (sigma * np.sqrt(years))
    # n = 20k standard normals: the mean's standard error is 0.007 and the variance's 0.01.
    assert abs(standardised.mean()) < 0.03
    assert standardised.var() == pytest.approx(1.0, abs=0.05)
    # Regular daily steps: log-return variance close to sigma^2 dt.
    daily = TokenPriceModel("ETH", 3000.0, seed=12, volatility_per_year=sigma)
    log_returns = np.diff(np.log([daily.price(day * SECONDS_PER_DAY) for day in range(10_001)]))
    assert log_returns.var() == pytest.approx(sigma**2 * SECONDS_PER_DAY / SECONDS_PER_YEAR, rel=0.05)


def test_zero_volatility_is_deterministic_growth():
    model = TokenPriceModel("USDC", 1.0, seed=0, volatility_per_year=0.0)
    assert model.price(SECONDS_PER_YEAR) == 1.0
    grower = TokenPriceModel("BOND", 100.0, seed=0, drift_per_year=0.05, volatility_per_year=0.0)
    assert grower.price(SECONDS_PER_YEAR) == pytest.approx(100.0 * math.exp(0.05))


# --- electricity -----------------------------------------------------------------------------------------


def test_base_price_is_the_daily_geometric_mean_of_the_seasonal_profile():
    for region in DEFAULT_REGIONS:
        model = ElectricityPriceModel(seed=0)
        hours = [model.seasonal_price(region, h * SECONDS_PER_HOUR) for h in range(24)]
        # Both harmonics average to 0 over 24 equally spaced hours.
        assert math.exp(np.mean(np.log(hours))) == pytest.approx(DEFAULT_REGIONS[region].base_price)
        assert max(hours) > 1.15 * min(hours)  # a real daily cycle


def test_without_volatility_the_price_is_the_seasonal_profile():
    calm = RegionProfile(0.10, 1.0, 0.1, 18.0, 0.05, 8.0, 4.0, 0.0)
    model = ElectricityPriceModel(seed=1, regions={"calm": calm}, initial_log_deviations={"calm": 0.0})
    for t in np.arange(0, SECONDS_PER_DAY, 1800.0):
        assert model.price("calm", t) == pytest.approx(model.seasonal_price("calm", t))


def test_deviations_revert_toward_the_seasonal_profile():
    regions = identical_regions(400)
    model = ElectricityPriceModel(seed=5, regions=regions, initial_log_deviations={name: 1.0 for name in regions})
    half_life = PROFILE.half_life_hours * SECONDS_PER_HOUR
    # After one half-life (in 6 irregular steps) the expected deviation is halved: 0.5, with the
    # conditional spread 0.2 * sqrt(1 - 0.25) = 0.173 over 400 copies (standard error 0.009).
    for t in (0.1, 0.3, 0.35, 0.6, 0.9, 1.0):
        model.prices(t * half_life)
    deviations = np.array([model.log_deviation(name, half_life) for name in regions])
    assert deviations.mean() == pytest.approx(0.5, abs=0.04)
    assert deviations.std() == pytest.approx(0.2 * math.sqrt(0.75), rel=0.1)
    # Ten half-lives on, the deviations are stationary: centred on the profile with spread 0.2.
    deviations = np.array([model.log_deviation(name, 11 * half_life) for name in regions])
    assert deviations.mean() == pytest.approx(0.0, abs=0.04)
    assert deviations.std() == pytest.approx(0.2, rel=0.1)


def test_one_path_reverts_at_the_stated_rate():
    model = ElectricityPriceModel(seed=9, regions={"eu-west": DEFAULT_REGIONS["eu-west"]})
    step = SECONDS_PER_HOUR
    x = np.array([model.log_deviation("eu-west", i * step) for i in range(20_000)])
    slope = np.polyfit(x[:-1], x[1:], 1)[0]
    assert slope == pytest.approx(math.exp(-DEFAULT_REGIONS["eu-west"].reversion_rate * step), abs=0.02)
    assert x.std() == pytest.approx(DEFAULT_REGIONS["eu-west"].log_volatility, rel=0.1)


@pytest.mark.parametrize("confidence", [0.9, 0.5])
def test_forecast_intervals_cover_at_their_confidence(confidence):
    regions = identical_regions(500)
    model = ElectricityPriceModel(seed=21, regions=regions)
    horizon = 4 * SECONDS_PER_HOUR
    hits = trials = 0
    ratios = []
    issued = 10 * SECONDS_PER_HOUR  # after a burn-in, so the regions start from different states
    for _ in range(4):  # 4 disjoint windows x 500 regions = 2000 forecasts, each followed step by step
        forecasts = {name: model.forecast(name, issued, horizon, confidence) for name in regions}
        for fraction in (0.25, 0.5, 0.75):
            model.prices(issued + fraction * horizon)
        outcome = model.prices(issued + horizon)
        for name, forecast in forecasts.items():
            hits += forecast.lower <= outcome[name] <= forecast.upper
            ratios.append(outcome[name] / forecast.mean)
            trials += 1
        issued += horizon
    # Binomial standard error at n=2000: 0.0067 (90%) and 0.011 (50%).
    assert hits / trials == pytest.approx(confidence, abs=0.035)
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.02)  # `mean` is the conditional expectation


def test_forecast_at_zero_horizon_is_the_current_price():
    model = ElectricityPriceModel(seed=2)
    model.prices(7200)
    forecast = model.forecast("us-east", 7200, 0.0)
    price = model.price("us-east", 7200)
    assert forecast.mean == forecast.lower == forecast.upper == pytest.approx(price)
    with pytest.raises(ValueError, match="horizon"):
        model.forecast("us-east", 7200, -1.0)


# --- composition -----------------------------------------------------------------------------------------


def test_simulated_source_snapshots():
    source, again = simulated_state_source(42), simulated_state_source(42)
    for t in (0.0, 3600.0, 86_400.0):
        snapshot = source.snapshot(t)
        assert snapshot == again.snapshot(t)
    assert snapshot.time == 86_400.0
    assert snapshot.gas is None  # no chain given
    assert set(snapshot.token_prices) == {"ETH", "USDC"} and snapshot.token_prices["USDC"] == 1.0
    assert set(snapshot.electricity_prices) == set(DEFAULT_REGIONS) == set(snapshot.electricity_forecasts)
    forecast = snapshot.electricity_forecasts["nordics"]
    assert forecast.confidence == 0.9 and forecast.target_time == 86_400.0 + 3600.0
    assert forecast.lower < forecast.mean < forecast.upper
    with pytest.raises(TypeError):
        snapshot.token_prices["ETH"] = 0.0  # shared between agents: read-only
    assert simulated_state_source(43).snapshot(86_400.0) != snapshot
    assert simulated_state_source(42, regions=None).snapshot(0.0).electricity_prices is None


# --- on chain --------------------------------------------------------------------------------------------


@pytest.fixture
def keeper_account(accounts):
    return accounts[5]


@pytest.fixture
def feed(deployer, keeper_account):
    return project.PriceFeed.deploy(keeper_account.address, 8, "ETH / USD", sender=deployer)


def test_price_feed_rounds(feed, keeper_account, chain):
    assert (feed.decimals(), feed.description(), feed.version()) == (8, "ETH / USD", 1)
    with ape.reverts(feed.NoRoundYet):
        feed.latestRoundData()
    first = feed.update(3000 * 10**8, sender=keeper_account)
    second = feed.update(3100 * 10**8, sender=keeper_account)
    t1, t2 = chain.blocks[first.block_number].timestamp, chain.blocks[second.block_number].timestamp
    assert tuple(feed.latestRoundData()) == (2, 3100 * 10**8, t2, t2, 2)
    assert tuple(feed.getRoundData(1)) == (1, 3000 * 10**8, t1, t1, 1)
    assert feed.latestRoundId() == 2
    logs = second.decode_logs(feed.AnswerUpdated)
    assert (logs[0].current, logs[0].roundId, logs[0].updatedAt) == (3100 * 10**8, 2, t2)
    for unknown in (0, 3):
        with ape.reverts(feed.UnknownRound, roundId=unknown):
            feed.getRoundData(unknown)


def test_price_feed_refuses_bad_input(feed, keeper_account, deployer, stranger):
    with ape.reverts(feed.NotTheKeeper, caller=stranger.address):
        feed.update(1, sender=stranger)
    with ape.reverts(feed.NotTheKeeper, caller=deployer.address):  # not even the owner
        feed.update(1, sender=deployer)
    for answer in (0, -5):
        with ape.reverts(feed.NonPositiveAnswer, answer=answer):
            feed.update(answer, sender=keeper_account)
    with ape.reverts(feed.AnswerTooLarge, answer=2**191):
        feed.update(2**191, sender=keeper_account)
    assert feed.latestRoundId() == 0
    with ape.reverts(feed.OwnableUnauthorizedAccount, account=stranger.address):
        feed.setKeeper(stranger.address, sender=stranger)
    with ape.reverts(feed.ZeroKeeper):
        feed.setKeeper("0x" + "00" * 20, sender=deployer)
    feed.setKeeper(stranger.address, sender=deployer)
    feed.update(1, sender=stranger)
    with ape.reverts(feed.NotTheKeeper, caller=keeper_account.address):
        feed.update(1, sender=keeper_account)


def test_inline_abis_match_the_compiled_contract():
    compiled = {entry["name"]: entry for entry in project_abi("PriceFeed") if entry.get("name")}
    for entry in PRICE_FEED_KEEPER_ABI:
        built = compiled[entry["name"]]
        for part in ("inputs", "outputs"):
            assert [p["type"] for p in entry.get(part, [])] == [p["type"] for p in built.get(part, [])]
        if entry["type"] == "event":
            assert [p["indexed"] for p in entry["inputs"]] == [p["indexed"] for p in built["inputs"]]
    assert {entry["name"] for entry in AGGREGATOR_V3_ABI} == {
        "decimals", "description", "version", "getRoundData", "latestRoundData"
    }


@pytest.fixture(scope="module")
def node(chain):
    return SyncClient.connect(chain.provider.uri)


def test_keeper_pushes_model_prices_and_the_reader_reports_their_age(feed, keeper_account, chain, node):
    model = TokenPriceModel("ETH", 3000.0, seed=4, volatility_per_year=0.7, start_time=chain.pending_timestamp)
    keeper = OracleKeeper(node, feed.address, keeper_account.private_key, model)
    reader = OnChainPriceFeed(node, feed.address)

    now = chain.pending_timestamp + 3600
    update = keeper.push(now)
    reading = reader.latest()
    assert (reading.round_id, reading.answer, reading.answered_in_round) == (1, update.answer, 1)
    assert reading.price == pytest.approx(model.price(now), rel=1e-8)
    assert reading.updated_at == update.block_timestamp and reading.age == 0

    chain.mine(timestamp=update.block_timestamp + 90)
    assert reader.latest().age == 90  # measured against the latest block
    assert reader.latest(now=update.block_timestamp + 500).age == 500

    second = keeper.push(now + 3600)
    assert second.round_id == 2 and reader.latest().price == pytest.approx(model.price(now + 3600), rel=1e-8)
    assert reader.round(1).answer == update.answer

    light = GlobalStateSource(gas=GasOracle(node), token_prices={"ETH": reader})
    snapshot = light.snapshot(second.block_timestamp + 30)
    assert light.observes == {"gas", "token_prices"}
    assert snapshot.token_prices["ETH"] == reader.latest().price
    assert snapshot.token_price_ages["ETH"] == 30
    assert snapshot.gas is not None and snapshot.gas.block_number == chain.blocks.head.number
    # What a light agent does not observe is missing, not zero.
    assert snapshot.electricity_prices is None and snapshot.electricity_forecasts is None


def test_keeper_refuses_a_price_the_feed_would_reject(feed, keeper_account, node):
    keeper = OracleKeeper(node, feed.address, keeper_account.private_key, None)
    with pytest.raises(ValueError, match="not positive"):
        keeper.answer_for(1e-9)  # rounds to 0 at 8 decimals


@pytest.fixture
def base_fee(node):
    """Sets the next block's base fee; puts back the configured 0 afterwards, because anvil keeps its fee
    state across snapshot reverts and the other tests expect free gas."""

    def set_next_base_fee(wei: int):
        node.request("anvil_setNextBlockBaseFeePerGas", [hex(wei)])

    yield set_next_base_fee
    set_next_base_fee(0)


def test_gas_oracle_reads_fee_history(chain, node, accounts, base_fee):
    sender = Signer(bytes.fromhex(accounts[6].private_key[2:]))
    base_fee(10 * GWEI)
    # Three blocks, one transfer each, paying priority fees of 1, 3 and 2 gwei.
    for tip in (1, 3, 2):
        raw, tx_hash = sender.sign_eip1559(
            chain_id=node.chain_id(), nonce=node.nonce(sender.address), max_priority_fee=tip * GWEI,
            max_fee=30 * GWEI, gas=21_000, to=accounts[7].address, value=1, data=b"",
        )
        node.send_raw(raw)
        node.wait_receipt(tx_hash, timeout=10)

    gas = GasOracle(node, block_count=3).read()
    head = {key: as_int(node.block("latest")[key]) for key in ("number", "gasLimit", "gasUsed", "baseFeePerGas")}
    assert gas.block_number == head["number"]
    assert gas.priority_fee_wei == 2 * GWEI  # median of the three blocks' tips
    # EIP-1559: the base fee falls by (target - used) / target / 8 below the gas target (half the limit).
    target = head["gasLimit"] // 2
    expected = head["baseFeePerGas"] - head["baseFeePerGas"] * (target - head["gasUsed"]) // target // 8
    assert gas.base_fee_wei == expected > 0
    assert gas.fee_per_gas_wei == expected + 2 * GWEI
    assert gas.max_fee_per_gas_wei() == 2 * expected + 2 * GWEI
    assert GasOracle(node, block_count=3, min_priority_fee_wei=5 * GWEI).read().priority_fee_wei == 5 * GWEI

    # Empty blocks say nothing about competition: the floor applies.
    chain.mine(3)
    assert GasOracle(node, block_count=3, min_priority_fee_wei=7).read().priority_fee_wei == 7
