"""Global state behind one interface: gas, token prices and electricity prices, as frozen snapshots.

An agent asks a `GlobalStateSource` for `snapshot(now)` and gets a `GlobalState`. What goes in is
configurable per agent: a light agent may see only on-chain data (gas and an on-chain price feed), and what
it does not observe is None, never a made-up zero.

The machines this runs on are offline, so the default feeds are seeded stochastic models:

- `TokenPriceModel`: geometric Brownian motion;
- `ElectricityPriceModel`: per region, an Ornstein-Uhlenbeck log-price deviation around a daily seasonal
  profile, with forecasts from the OU's conditional distribution;

and the on-chain feeds read a chain through web3:

- `GasOracle`: `eth_feeHistory` (next base fee, a percentile of recent priority fees);
- `OnChainPriceFeed`: any Chainlink `AggregatorV3Interface` feed, e.g. `contracts/oracles/PriceFeed.sol`,
  which an `OracleKeeper` fills from a price model.

Time is in seconds on one clock shared by everything (unix time when a chain is involved: the seasonal
profile reads the hour of day in UTC from it, and on-chain ages are measured against block timestamps).
The models move forward only: each query time must be at or after the previous one (a time queried before
returns the same value again), and the value at a time depends only on the seed and the query times, since
each step samples the exact transition distribution over the gap, whatever its length.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist, median_low
from types import MappingProxyType
from typing import Protocol

import numpy as np
from eth_account import Account
from eth_utils import to_checksum_address

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86_400.0
SECONDS_PER_YEAR = 365.25 * SECONDS_PER_DAY

Seed = int | np.random.SeedSequence


# ---------------------------------------------------------------------------------------------------------
# Snapshot
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GasPrice:
    """Fees for the next block, in wei per gas."""

    base_fee_wei: int
    priority_fee_wei: int
    block_number: int  # the latest block the reading is based on

    @property
    def fee_per_gas_wei(self) -> int:
        """What a transaction is expected to pay per gas in the next block."""
        return self.base_fee_wei + self.priority_fee_wei

    def max_fee_per_gas_wei(self, base_fee_headroom: int = 2) -> int:
        """A `maxFeePerGas` that stays valid while the base fee rises for a few full blocks."""
        return base_fee_headroom * self.base_fee_wei + self.priority_fee_wei

    def cost_wei(self, gas: int) -> int:
        return gas * self.fee_per_gas_wei


@dataclass(frozen=True)
class PriceQuote:
    """A price in the reference currency and when it was last updated."""

    price: float
    updated_at: float

    def age(self, now: float) -> float:
        return now - self.updated_at


@dataclass(frozen=True)
class ElectricityForecast:
    """The price of electricity in a region at `issued_at + horizon`, in USD/kWh: the conditional mean and an
    equal-tailed prediction interval [lower, upper] that holds the price with probability `confidence`."""

    region: str
    issued_at: float
    horizon: float  # seconds
    mean: float
    lower: float
    upper: float
    confidence: float

    @property
    def target_time(self) -> float:
        return self.issued_at + self.horizon


def _read_only(mapping: Mapping | None) -> Mapping | None:
    return None if mapping is None else MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class GlobalState:
    """What an agent knows about the world at `time`. Parts the agent does not observe are None.

    Prices are in the reference currency (USD): tokens per whole token, electricity per kWh.
    `token_price_ages` says how old each token price is (0 for a model, the time since the last round for
    an on-chain feed), so a stale feed can be recognised as such.
    """

    time: float
    gas: GasPrice | None = None
    token_prices: Mapping[str, float] | None = None
    token_price_ages: Mapping[str, float] | None = None
    electricity_prices: Mapping[str, float] | None = None
    electricity_forecasts: Mapping[str, ElectricityForecast] | None = None

    def __post_init__(self):
        # Snapshots are shared between agents: their mappings must not be editable.
        for name in ("token_prices", "token_price_ages", "electricity_prices", "electricity_forecasts"):
            object.__setattr__(self, name, _read_only(getattr(self, name)))


# ---------------------------------------------------------------------------------------------------------
# Seeded models
# ---------------------------------------------------------------------------------------------------------


class _ForwardProcess:
    """A Markov state advanced by exact transitions to ever later query times, remembering past queries."""

    def __init__(self, seed: Seed, start_time: float, initial_state):
        if seed is None:
            raise ValueError("a seed is required: models without one are not reproducible")
        self._rng = np.random.default_rng(seed)
        self._time = float(start_time)
        self._state = initial_state
        self._history = {self._time: initial_state}

    def _transition(self, state, dt: float):
        raise NotImplementedError

    def _state_at(self, now: float):
        now = float(now)
        known = self._history.get(now)
        if known is not None:
            return known
        if now < self._time:
            raise ValueError(
                f"{type(self).__name__} moves forward only: asked for t={now} after t={self._time}"
            )
        self._state = self._transition(self._state, now - self._time)
        self._time = now
        self._history[now] = self._state
        return self._state

    @property
    def latest_time(self) -> float:
        return self._time


class TokenPriceModel(_ForwardProcess):
    """Geometric Brownian motion: dS = mu S dt + sigma S dW, with mu and sigma per year.

    Between two query times dt apart, log S moves by (mu - sigma^2/2) dt + sigma sqrt(dt) Z exactly.
    A volatility of 0 gives a deterministic price (a stablecoin when the drift is 0 too).
    """

    def __init__(
        self,
        symbol: str,
        initial_price: float,
        *,
        seed: Seed,
        drift_per_year: float = 0.0,
        volatility_per_year: float = 0.6,
        start_time: float = 0.0,
    ):
        if not initial_price > 0:
            raise ValueError(f"initial price of {symbol} must be positive, got {initial_price}")
        if volatility_per_year < 0:
            raise ValueError(f"volatility of {symbol} must not be negative, got {volatility_per_year}")
        super().__init__(seed, start_time, float(initial_price))
        self.symbol = symbol
        self.drift_per_year = drift_per_year
        self.volatility_per_year = volatility_per_year

    def _transition(self, price: float, dt: float) -> float:
        years = dt / SECONDS_PER_YEAR
        sigma = self.volatility_per_year
        shock = self._rng.standard_normal()
        return price * math.exp((self.drift_per_year - 0.5 * sigma**2) * years + sigma * math.sqrt(years) * shock)

    def price(self, now: float) -> float:
        return self._state_at(now)

    def quote(self, now: float) -> PriceQuote:
        return PriceQuote(self.price(now), float(now))


@dataclass(frozen=True)
class RegionProfile:
    """Electricity prices of one region: a daily seasonal profile and a mean-reverting deviation from it.

    log price(t) = log seasonal(t) + x(t), where
      log seasonal(t) = log base_price + daily_amplitude cos(2 pi (h - daily_peak_hour) / 24)
                                       + half_day_amplitude cos(2 pi (h - half_day_peak_hour) / 12),
      h = local hour of day, and x is an Ornstein-Uhlenbeck process with mean 0, the given half-life of
      mean reversion and stationary standard deviation `log_volatility`.
    `base_price` (USD/kWh) is thus the daily geometric-mean level of the seasonal profile.
    """

    base_price: float
    utc_offset_hours: float
    daily_amplitude: float
    daily_peak_hour: float
    half_day_amplitude: float
    half_day_peak_hour: float
    half_life_hours: float
    log_volatility: float

    def __post_init__(self):
        if not self.base_price > 0:
            raise ValueError(f"base price must be positive, got {self.base_price}")
        if not self.half_life_hours > 0:
            raise ValueError(f"half-life must be positive, got {self.half_life_hours}")
        if self.log_volatility < 0:
            raise ValueError(f"log volatility must not be negative, got {self.log_volatility}")

    @property
    def reversion_rate(self) -> float:
        """kappa, per second."""
        return math.log(2.0) / (self.half_life_hours * SECONDS_PER_HOUR)

    def log_seasonal(self, t: float) -> float:
        hour = ((t / SECONDS_PER_HOUR) + self.utc_offset_hours) % 24.0
        return (
            math.log(self.base_price)
            + self.daily_amplitude * math.cos(2 * math.pi * (hour - self.daily_peak_hour) / 24.0)
            + self.half_day_amplitude * math.cos(2 * math.pi * (hour - self.half_day_peak_hour) / 12.0)
        )


# Illustrative, not market data (the machines are offline): base prices of the order of 2023-24 prices
# for small businesses, evening peaks with a morning shoulder, and the most volatile deviations in the
# hydro- and wind-driven Nordic market.
DEFAULT_REGIONS: Mapping[str, RegionProfile] = MappingProxyType(
    {
        "eu-west": RegionProfile(0.22, 0.0, 0.15, 18.0, 0.08, 8.0, 6.0, 0.20),
        "us-east": RegionProfile(0.13, -5.0, 0.12, 17.0, 0.05, 9.0, 8.0, 0.15),
        "asia-east": RegionProfile(0.16, 8.0, 0.10, 14.0, 0.05, 10.0, 8.0, 0.12),
        "nordics": RegionProfile(0.08, 1.0, 0.10, 18.0, 0.06, 8.0, 12.0, 0.30),
    }
)

DEFAULT_CONFIDENCE = 0.9


class ElectricityPriceModel(_ForwardProcess):
    """Electricity prices per region (USD/kWh): OU log-deviations around daily seasonal profiles.

    All regions advance together from one random stream, so a region's price depends only on the seed and
    the query times, not on which regions were asked for. Deviations start at `initial_log_deviations`
    (default 0: on the seasonal profile).
    """

    def __init__(
        self,
        *,
        seed: Seed,
        regions: Mapping[str, RegionProfile] = DEFAULT_REGIONS,
        start_time: float = 0.0,
        initial_log_deviations: Mapping[str, float] | None = None,
    ):
        if not regions:
            raise ValueError("at least one region is needed")
        self.profiles = MappingProxyType(dict(regions))
        self._names = tuple(self.profiles)
        self._index = {name: i for i, name in enumerate(self._names)}
        initial = np.zeros(len(self._names))
        for name, deviation in (initial_log_deviations or {}).items():
            initial[self._region_index(name)] = deviation
        super().__init__(seed, start_time, initial)
        self._kappa = np.array([p.reversion_rate for p in self.profiles.values()])
        self._stationary_std = np.array([p.log_volatility for p in self.profiles.values()])

    @property
    def regions(self) -> tuple[str, ...]:
        return self._names

    def _region_index(self, region: str) -> int:
        try:
            return self._index[region]
        except KeyError:
            raise KeyError(f"unknown region {region!r}; known regions: {', '.join(self._names)}") from None

    def _profile(self, region: str) -> RegionProfile:
        return self.profiles[self._names[self._region_index(region)]]

    def _transition(self, deviations: np.ndarray, dt: float) -> np.ndarray:
        decay = np.exp(-self._kappa * dt)
        spread = self._stationary_std * np.sqrt(1.0 - decay**2)
        return deviations * decay + spread * self._rng.standard_normal(len(deviations))

    def seasonal_price(self, region: str, t: float) -> float:
        """The deterministic seasonal profile (the price when the deviation is 0)."""
        return math.exp(self._profile(region).log_seasonal(t))

    def log_deviation(self, region: str, now: float) -> float:
        """x(now) = log(price / seasonal price)."""
        return float(self._state_at(now)[self._region_index(region)])

    def price(self, region: str, now: float) -> float:
        return math.exp(self._profile(region).log_seasonal(now) + self.log_deviation(region, now))

    def prices(self, now: float) -> dict[str, float]:
        deviations = self._state_at(now)
        return {
            name: math.exp(profile.log_seasonal(now) + deviations[i])
            for i, (name, profile) in enumerate(self.profiles.items())
        }

    def forecast(
        self, region: str, now: float, horizon: float, confidence: float = DEFAULT_CONFIDENCE
    ) -> ElectricityForecast:
        """The price at `now + horizon` given the state at `now`.

        Conditionally on x(now), x(now + h) is normal with mean x(now) e^{-kappa h} and variance
        s^2 (1 - e^{-2 kappa h}), s the stationary standard deviation; the price is lognormal. `mean` is
        its expectation, and [lower, upper] its equal-tailed interval at `confidence`.
        """
        if horizon < 0:
            raise ValueError(f"forecast horizon must not be negative, got {horizon}")
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {confidence}")
        profile = self._profile(region)
        decay = math.exp(-profile.reversion_rate * horizon)
        location = profile.log_seasonal(now + horizon) + self.log_deviation(region, now) * decay
        scale = profile.log_volatility * math.sqrt(1.0 - decay**2)
        z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
        return ElectricityForecast(
            region=region,
            issued_at=float(now),
            horizon=float(horizon),
            mean=math.exp(location + 0.5 * scale**2),
            lower=math.exp(location - z * scale),
            upper=math.exp(location + z * scale),
            confidence=confidence,
        )


# ---------------------------------------------------------------------------------------------------------
# On-chain feeds
# ---------------------------------------------------------------------------------------------------------


class GasOracle:
    """Fees read from the chain with `eth_feeHistory` over the last `block_count` blocks.

    The base fee is the node's base fee for the next block. The priority fee is the median, over the
    recent blocks that carried transactions, of each block's `reward_percentile`-th percentile of priority
    fees paid (empty blocks report 0, which says nothing about the competition); with no such block, or
    below it, `min_priority_fee_wei`.
    """

    def __init__(self, web3, *, block_count: int = 20, reward_percentile: float = 50.0, min_priority_fee_wei: int = 0):
        if block_count < 1:
            raise ValueError(f"block_count must be at least 1, got {block_count}")
        if not 0 <= reward_percentile <= 100:
            raise ValueError(f"reward_percentile must be in [0, 100], got {reward_percentile}")
        self.web3 = web3
        self.block_count = block_count
        self.reward_percentile = reward_percentile
        self.min_priority_fee_wei = min_priority_fee_wei

    def read(self) -> GasPrice:
        history = self.web3.eth.fee_history(self.block_count, "latest", [self.reward_percentile])
        used_ratios = history["gasUsedRatio"]
        rewards = [int(tips[0]) for tips, ratio in zip(history.get("reward", []), used_ratios) if ratio > 0]
        priority_fee = max(median_low(rewards), self.min_priority_fee_wei) if rewards else self.min_priority_fee_wei
        return GasPrice(
            # baseFeePerGas has one more entry than there are blocks: the next block's base fee.
            base_fee_wei=int(history["baseFeePerGas"][-1]),
            priority_fee_wei=priority_fee,
            block_number=int(history["oldestBlock"]) + len(used_ratios) - 1,
        )

    def gas(self, now: float) -> GasPrice:
        """The chain's current fees (`now` is not used: the chain has only a present)."""
        return self.read()


def _abi_function(name: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]], mutability: str) -> dict:
    return {
        "type": "function",
        "name": name,
        "inputs": [{"name": n, "type": t, "internalType": t} for n, t in inputs],
        "outputs": [{"name": n, "type": t, "internalType": t} for n, t in outputs],
        "stateMutability": mutability,
    }


_ROUND_OUTPUTS = [
    ("roundId", "uint80"),
    ("answer", "int256"),
    ("startedAt", "uint256"),
    ("updatedAt", "uint256"),
    ("answeredInRound", "uint80"),
]

# Chainlink's read interface, inline so that agents read any Chainlink-compatible feed, including real ones
# on live chains, without the project's build.
AGGREGATOR_V3_ABI: list[dict] = [
    _abi_function("decimals", [], [("", "uint8")], "view"),
    _abi_function("description", [], [("", "string")], "view"),
    _abi_function("version", [], [("", "uint256")], "view"),
    _abi_function("getRoundData", [("roundId_", "uint80")], _ROUND_OUTPUTS, "view"),
    _abi_function("latestRoundData", [], _ROUND_OUTPUTS, "view"),
]

# What the keeper needs of `PriceFeed` on top of it.
PRICE_FEED_KEEPER_ABI: list[dict] = AGGREGATOR_V3_ABI + [
    _abi_function("update", [("answer", "int256")], [("roundId", "uint80")], "nonpayable"),
    _abi_function("keeper", [], [("", "address")], "view"),
    {
        "type": "event",
        "name": "AnswerUpdated",
        "anonymous": False,
        "inputs": [
            {"name": "current", "type": "int256", "indexed": True, "internalType": "int256"},
            {"name": "roundId", "type": "uint256", "indexed": True, "internalType": "uint256"},
            {"name": "updatedAt", "type": "uint256", "indexed": False, "internalType": "uint256"},
        ],
    },
]


@dataclass(frozen=True)
class FeedReading:
    """One round of an on-chain feed; `price` is `answer / 10**decimals`, `age` is seconds since its update."""

    round_id: int
    answer: int
    price: float
    updated_at: int
    answered_in_round: int
    age: float

    @property
    def quote(self) -> PriceQuote:
        return PriceQuote(self.price, float(self.updated_at))


class OnChainPriceFeed:
    """Reads a Chainlink-compatible (`AggregatorV3Interface`) feed through web3."""

    def __init__(self, web3, address: str):
        self.web3 = web3
        self.contract = web3.eth.contract(address=to_checksum_address(address), abi=AGGREGATOR_V3_ABI)
        self._decimals: int | None = None

    @property
    def address(self) -> str:
        return self.contract.address

    @property
    def decimals(self) -> int:
        if self._decimals is None:  # immutable on-chain: one call is enough
            self._decimals = self.contract.functions.decimals().call()
        return self._decimals

    def description(self) -> str:
        return self.contract.functions.description().call()

    def _reading(self, values, now: float | None) -> FeedReading:
        round_id, answer, _started_at, updated_at, answered_in_round = values
        if now is None:
            now = self.web3.eth.get_block("latest")["timestamp"]
        return FeedReading(
            round_id=round_id,
            answer=answer,
            price=answer / 10**self.decimals,
            updated_at=updated_at,
            answered_in_round=answered_in_round,
            age=float(now) - updated_at,
        )

    def latest(self, now: float | None = None) -> FeedReading:
        """The latest round; its age is measured against `now`, or the latest block's timestamp if None."""
        return self._reading(self.contract.functions.latestRoundData().call(), now)

    def round(self, round_id: int, now: float | None = None) -> FeedReading:
        return self._reading(self.contract.functions.getRoundData(round_id).call(), now)

    def quote(self, now: float) -> PriceQuote:
        return self.latest(now).quote

    def price(self, now: float) -> float:
        return self.latest(now).price


@dataclass(frozen=True)
class KeeperUpdate:
    round_id: int
    answer: int
    transaction_hash: bytes
    block_timestamp: int


class OracleKeeper:
    """Pushes a price source's prices into a deployed `PriceFeed`, signing with its own key.

    The nonce is taken from the node's pending count at each push, so a keeper restarted at any moment
    carries on without nonce errors (it must be the only user of its key).
    """

    def __init__(self, web3, feed_address: str, private_key: str | bytes, prices: "PriceSource"):
        self.web3 = web3
        self.account = Account.from_key(private_key)
        self.contract = web3.eth.contract(address=to_checksum_address(feed_address), abi=PRICE_FEED_KEEPER_ABI)
        self.prices = prices
        self.decimals = self.contract.functions.decimals().call()

    def answer_for(self, price: float) -> int:
        """The on-chain answer for a price: scaled by 10**decimals and rounded."""
        answer = round(price * 10**self.decimals)
        if answer <= 0:
            raise ValueError(f"price {price} is not positive at {self.decimals} decimals; the feed would reject it")
        return answer

    def push(self, now: float) -> KeeperUpdate:
        """Write the source's price at `now` as a new round and wait for it to be mined."""
        answer = self.answer_for(self.prices.price(now))
        sender = self.account.address
        transaction = self.contract.functions.update(answer).build_transaction(
            {"from": sender, "nonce": self.web3.eth.get_transaction_count(sender, "pending")}
        )
        signed = self.account.sign_transaction(transaction)
        transaction_hash = self.web3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.web3.eth.wait_for_transaction_receipt(transaction_hash)
        if receipt["status"] != 1:
            raise RuntimeError(f"price feed update {transaction_hash.hex()} reverted")
        event = self.contract.events.AnswerUpdated().process_receipt(receipt)[0]
        return KeeperUpdate(
            round_id=event["args"]["roundId"],
            answer=event["args"]["current"],
            transaction_hash=bytes(transaction_hash),
            block_timestamp=event["args"]["updatedAt"],
        )


# ---------------------------------------------------------------------------------------------------------
# Composition
# ---------------------------------------------------------------------------------------------------------


class PriceSource(Protocol):
    """A token price in the reference currency: a model or an on-chain feed."""

    def price(self, now: float) -> float: ...

    def quote(self, now: float) -> PriceQuote: ...


class GasSource(Protocol):
    def gas(self, now: float) -> GasPrice: ...


class GlobalStateSource:
    """Composes whichever feeds an agent observes into `GlobalState` snapshots.

    Every part is optional: `GlobalStateSource(gas=GasOracle(w3), token_prices={"ETH": OnChainPriceFeed(w3,
    feed)})` is a light agent that sees only the chain; its snapshots have no electricity prices (None).
    Forecasts are made for every region of the electricity model, `forecast_horizon` seconds ahead.
    """

    def __init__(
        self,
        *,
        gas: GasSource | None = None,
        token_prices: Mapping[str, PriceSource] | None = None,
        electricity: ElectricityPriceModel | None = None,
        forecast_horizon: float = SECONDS_PER_HOUR,
        forecast_confidence: float = DEFAULT_CONFIDENCE,
    ):
        self.gas = gas
        self.token_prices = None if token_prices is None else MappingProxyType(dict(token_prices))
        self.electricity = electricity
        self.forecast_horizon = forecast_horizon
        self.forecast_confidence = forecast_confidence
        self._last: tuple[float, GlobalState] | None = None

    @property
    def observes(self) -> frozenset[str]:
        """Which parts of the global state this source fills in."""
        parts = {"gas": self.gas, "token_prices": self.token_prices, "electricity": self.electricity}
        return frozenset(name for name, part in parts.items() if part is not None)

    def snapshot(self, now: float) -> GlobalState:
        # Snapshots are immutable and many agents ask for the same instant: compute each instant once
        # (a live gas oracle is then read at most once per distinct `now`).
        if self._last is not None and self._last[0] == now:
            return self._last[1]
        state = self._snapshot(now)
        self._last = (now, state)
        return state

    def _snapshot(self, now: float) -> GlobalState:
        token_prices = token_ages = electricity_prices = forecasts = None
        if self.token_prices is not None:
            quotes = {symbol: source.quote(now) for symbol, source in self.token_prices.items()}
            token_prices = {symbol: quote.price for symbol, quote in quotes.items()}
            token_ages = {symbol: quote.age(now) for symbol, quote in quotes.items()}
        if self.electricity is not None:
            electricity_prices = self.electricity.prices(now)
            forecasts = {
                region: self.electricity.forecast(region, now, self.forecast_horizon, self.forecast_confidence)
                for region in self.electricity.regions
            }
        return GlobalState(
            time=float(now),
            gas=None if self.gas is None else self.gas.gas(now),
            token_prices=token_prices,
            token_price_ages=token_ages,
            electricity_prices=electricity_prices,
            electricity_forecasts=forecasts,
        )


@dataclass(frozen=True)
class TokenSpec:
    """Parameters of a simulated token: initial price (USD), drift and volatility per year."""

    initial_price: float
    drift_per_year: float = 0.0
    volatility_per_year: float = 0.0


# Illustrative: ETH with a crypto-like 70% annual volatility, and a dollar stablecoin.
DEFAULT_TOKENS: Mapping[str, TokenSpec] = MappingProxyType(
    {"ETH": TokenSpec(3000.0, 0.0, 0.70), "USDC": TokenSpec(1.0, 0.0, 0.0)}
)


def simulated_state_source(
    seed: int,
    *,
    start_time: float = 0.0,
    tokens: Mapping[str, TokenSpec] = DEFAULT_TOKENS,
    regions: Mapping[str, RegionProfile] | None = DEFAULT_REGIONS,
    gas: GasSource | None = None,
    forecast_horizon: float = SECONDS_PER_HOUR,
) -> GlobalStateSource:
    """The default, offline global state: one seeded model per token and one for electricity.

    Each model gets its own stream spawned from `seed` (tokens in symbol order, then electricity), so the
    paths are independent of each other and reproducible. `regions=None` leaves electricity out.
    """
    symbols = sorted(tokens)
    streams = np.random.SeedSequence(seed).spawn(len(symbols) + 1)
    token_models = {
        symbol: TokenPriceModel(
            symbol,
            tokens[symbol].initial_price,
            seed=stream,
            drift_per_year=tokens[symbol].drift_per_year,
            volatility_per_year=tokens[symbol].volatility_per_year,
            start_time=start_time,
        )
        for symbol, stream in zip(symbols, streams)
    }
    electricity = None
    if regions is not None:
        electricity = ElectricityPriceModel(seed=streams[-1], regions=regions, start_time=start_time)
    return GlobalStateSource(
        gas=gas, token_prices=token_models, electricity=electricity, forecast_horizon=forecast_horizon
    )


__all__ = [
    "AGGREGATOR_V3_ABI",
    "DEFAULT_REGIONS",
    "DEFAULT_TOKENS",
    "ElectricityForecast",
    "ElectricityPriceModel",
    "FeedReading",
    "GasOracle",
    "GasPrice",
    "GasSource",
    "GlobalState",
    "GlobalStateSource",
    "KeeperUpdate",
    "OnChainPriceFeed",
    "OracleKeeper",
    "PriceQuote",
    "PriceSource",
    "RegionProfile",
    "TokenPriceModel",
    "TokenSpec",
    "simulated_state_source",
]
