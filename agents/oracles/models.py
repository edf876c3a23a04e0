"""Global state as frozen snapshots (gas, token prices, electricity prices) and the seeded models that
produce it offline.

The machines this runs on are offline, so the default feeds are seeded stochastic models:

- `TokenPriceModel`: geometric Brownian motion;
- `ElectricityPriceModel`: per region, an Ornstein-Uhlenbeck log-price deviation around a daily seasonal
  profile, with forecasts from the OU's conditional distribution.

`agents.oracles.feeds` reads the same quantities from a chain, and `agents.oracles.source` composes
whichever an agent observes into `GlobalState` snapshots.

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
from functools import lru_cache
from statistics import NormalDist
from types import MappingProxyType
from typing import Protocol

import numpy as np

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


@lru_cache(maxsize=8)  # every context forecasts every region at one or two confidences
def _two_sided_z(confidence: float) -> float:
    """The standard normal quantile bounding an equal-tailed interval of probability `confidence`."""
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


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
        z = _two_sided_z(confidence)
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
# What a source of each quantity offers: a seeded model or an on-chain feed
# ---------------------------------------------------------------------------------------------------------


class PriceSource(Protocol):
    """A token price in the reference currency: a model or an on-chain feed."""

    def price(self, now: float) -> float: ...

    def quote(self, now: float) -> PriceQuote: ...


class GasSource(Protocol):
    def gas(self, now: float) -> GasPrice: ...
