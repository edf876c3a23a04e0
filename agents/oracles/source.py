"""Global state behind one interface: a `GlobalStateSource` composes whichever feeds an agent observes
(seeded models from `agents.oracles.models`, chain readers from `agents.oracles.feeds`) into frozen
`GlobalState` snapshots; `simulated_state_source` is the default, offline one.

What goes in is configurable per agent: a light agent may see only on-chain data (gas and an on-chain price
feed), and what it does not observe is None, never a made-up zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from agents.oracles.models import (
    DEFAULT_CONFIDENCE,
    DEFAULT_REGIONS,
    SECONDS_PER_HOUR,
    ElectricityPriceModel,
    GasSource,
    GlobalState,
    PriceSource,
    RegionProfile,
    TokenPriceModel,
)


class GlobalStateSource:
    """Composes whichever feeds an agent observes into `GlobalState` snapshots.

    Every part is optional: `GlobalStateSource(gas=GasOracle(client), token_prices={"ETH":
    OnChainPriceFeed(client, feed)})` (over a `SyncClient`) is a light agent that sees only the chain; its
    snapshots have no electricity prices (None).
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
