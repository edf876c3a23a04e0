"""Agents judged like portfolio managers: returns, Sharpe, Sortino and the differential Sharpe ratio, and a
ledger that values each agent's portfolio in the reference currency (USD) net of gas and electricity.

Conventions (stated because every library picks differently):
- returns are simple per-period returns r_t = V_t / V_{t-1} - 1;
- Sharpe = mean(r - rf) / std(r - rf) with the sample standard deviation (ddof=1);
- Sortino = mean(r - target) / sqrt(mean(min(r - target, 0)^2)), the downside deviation taken over ALL
  periods (periods above target count as zeros), not only the losing ones;
- both are per period unless `periods_per_year` is given, which multiplies them by sqrt(periods_per_year);
- ratios that divide by a zero deviation are NaN when the numerator is 0 too, else +-inf.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


def _as_series(values) -> pd.Series:
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=float))
    series = series.astype(float)
    if series.isna().any():
        raise ValueError("the series contains NaN: clean or fill it first")
    return series


def _ratio(numerator: float, denominator: float) -> float:
    if denominator > 0:
        return numerator / denominator
    if numerator == 0:
        return math.nan
    return math.copysign(math.inf, numerator)


def returns_from_values(values) -> pd.Series:
    """Simple per-period returns of a portfolio-value series (one shorter, indexed by the later time)."""
    values = _as_series(values)
    if (values <= 0).any():
        raise ValueError("portfolio values must be positive to define returns (a value of 0 or less was found)")
    return (values / values.shift(1) - 1.0).iloc[1:]


def cumulative_return(returns) -> float:
    """prod(1 + r) - 1; 0 for no periods."""
    return float(np.prod(1.0 + _as_series(returns).to_numpy())) - 1.0


def sharpe_ratio(returns, risk_free: float = 0.0, periods_per_year: float | None = None) -> float:
    """mean(r - rf) / std(r - rf, ddof=1), rf per period; NaN with fewer than two periods."""
    excess = _as_series(returns) - risk_free
    if len(excess) < 2:
        return math.nan
    # A constant series has no risk: its deviation is 0, not the rounding noise of computing it.
    deviation = 0.0 if excess.max() == excess.min() else float(excess.std(ddof=1))
    ratio = _ratio(float(excess.mean()), deviation)
    return ratio * math.sqrt(periods_per_year) if periods_per_year else ratio


def downside_deviation(returns, target: float = 0.0) -> float:
    """sqrt(mean(min(r - target, 0)^2)) over every period."""
    shortfall = np.minimum(_as_series(returns).to_numpy() - target, 0.0)
    return math.sqrt(float(np.mean(shortfall**2))) if len(shortfall) else math.nan


def sortino_ratio(returns, target: float = 0.0, periods_per_year: float | None = None) -> float:
    """mean(r - target) / downside_deviation(r, target); NaN for no periods."""
    returns = _as_series(returns)
    if len(returns) == 0:
        return math.nan
    ratio = _ratio(float((returns - target).mean()), downside_deviation(returns, target))
    return ratio * math.sqrt(periods_per_year) if periods_per_year else ratio


def max_drawdown(returns) -> float:
    """The largest peak-to-trough fall of the compounded returns, as a fraction (0 if it never fell)."""
    wealth = np.concatenate([[1.0], np.cumprod(1.0 + _as_series(returns).to_numpy())])
    return float(np.max(1.0 - wealth / np.maximum.accumulate(wealth)))


class DifferentialSharpe:
    """The differential Sharpe ratio of Moody & Saffell (2001), online.

    With exponential moving estimates of the first and second moments of the returns,
        A_t = A_{t-1} + eta (R_t - A_{t-1}),   B_t = B_{t-1} + eta (R_t^2 - B_{t-1}),
    the step's contribution to the Sharpe ratio is
        D_t = (B_{t-1} dA_t - A_{t-1} dB_t / 2) / (B_{t-1} - A_{t-1}^2)^{3/2},
        dA_t = R_t - A_{t-1},   dB_t = R_t^2 - B_{t-1},
    the first-order term of S_t = A_t / sqrt(B_t - A_t^2) in eta: S_t ~ S_{t-1} + eta D_t.

    D_t is defined as 0 while the variance estimate B_{t-1} - A_{t-1}^2 is not positive: at the first step
    from A_0 = B_0 = 0, and as long as every return so far is 0 (warm-up).
    """

    def __init__(self, eta: float, initial_a: float = 0.0, initial_b: float = 0.0):
        if not 0 < eta <= 1:
            raise ValueError(f"eta must be in (0, 1], got {eta}")
        if initial_b < initial_a**2:
            raise ValueError("initial_b must be at least initial_a^2 (a second moment)")
        self.eta = eta
        self.a = initial_a
        self.b = initial_b

    @property
    def variance(self) -> float:
        return self.b - self.a**2

    @property
    def sharpe(self) -> float:
        """The exponentially weighted Sharpe estimate A / sqrt(B - A^2) (NaN or +-inf without variance)."""
        return _ratio(self.a, math.sqrt(max(self.variance, 0.0)))

    def update(self, r: float) -> float:
        """Take the return of one period; the step's D_t."""
        delta_a = r - self.a
        delta_b = r * r - self.b
        variance = self.variance
        d = 0.0 if variance <= 0 else (self.b * delta_a - 0.5 * self.a * delta_b) / variance**1.5
        self.a += self.eta * delta_a
        self.b += self.eta * delta_b
        return d

    def update_many(self, returns: Iterable[float]) -> np.ndarray:
        return np.array([self.update(float(r)) for r in returns])


@dataclass(frozen=True)
class PerformanceSummary:
    periods: int
    cumulative_return: float
    sharpe: float
    sortino: float
    max_drawdown: float

    @classmethod
    def of_returns(
        cls, returns, *, risk_free: float = 0.0, target: float = 0.0, periods_per_year: float | None = None
    ) -> "PerformanceSummary":
        returns = _as_series(returns)
        return cls(
            periods=len(returns),
            cumulative_return=cumulative_return(returns),
            sharpe=sharpe_ratio(returns, risk_free, periods_per_year),
            sortino=sortino_ratio(returns, target, periods_per_year),
            max_drawdown=max_drawdown(returns),
        )

    @classmethod
    def of_values(cls, values, **kwargs) -> "PerformanceSummary":
        return cls.of_returns(returns_from_values(values), **kwargs)


# ---------------------------------------------------------------------------------------------------------
# Ledger
# ---------------------------------------------------------------------------------------------------------


@dataclass
class _AgentBook:
    balances: list[tuple[float, dict[str, float], dict[str, float]]] = field(default_factory=list)
    gas: list[tuple[float, float]] = field(default_factory=list)  # (time, ETH)
    electricity: list[tuple[float, float]] = field(default_factory=list)  # (time, USD)


class PortfolioLedger:
    """Per agent: token balances over time (wallet and escrow), gas spent (ETH) and electricity paid (USD),
    and from them the portfolio's value in the reference currency, net of both costs.

    Token balances are marked to market with `prices(time)` (token symbol -> price in USD, e.g.
    `lambda t: source.snapshot(t).token_prices`), so a volatile payment token shows up as volatility of
    the value. Gas is an expense booked at the ETH price when it was spent; electricity is an expense in
    USD. Do NOT include the native ETH that pays for gas in the balances: it is accounted for through
    `record_gas`, and would otherwise count twice.

    Amounts are in whole tokens. Record in time order: prices are read once per new time, when first
    needed, from sources that move forward only. `mark(time)` adds a valuation time for every agent (e.g.
    once per simulation step, to get evenly spaced returns).
    """

    def __init__(self, prices: Callable[[float], Mapping[str, float] | None], *, eth_symbol: str = "ETH"):
        self._price_source = prices
        self._prices: dict[float, Mapping[str, float]] = {}
        self._books: dict[str, _AgentBook] = {}
        self._marks: list[float] = []
        self.eth_symbol = eth_symbol

    def _prices_at(self, time: float) -> Mapping[str, float]:
        if time not in self._prices:
            self._prices[time] = dict(self._price_source(time) or {})
        return self._prices[time]

    def _book(self, agent: str) -> _AgentBook:
        return self._books.setdefault(agent, _AgentBook())

    @property
    def agents(self) -> list[str]:
        return list(self._books)

    def record_balances(
        self, agent: str, time: float, wallet: Mapping[str, float], escrow: Mapping[str, float] | None = None
    ) -> None:
        """The agent's full token holdings at `time`; tokens not named hold 0."""
        time = float(time)
        self._prices_at(time)
        self._book(agent).balances.append((time, dict(wallet), dict(escrow or {})))

    def record_gas(self, agent: str, time: float, eth: float) -> None:
        if eth < 0:
            raise ValueError(f"gas spent must not be negative, got {eth}")
        time = float(time)
        self._prices_at(time)
        self._book(agent).gas.append((time, float(eth)))

    def record_electricity(self, agent: str, time: float, usd: float) -> None:
        if usd < 0:
            raise ValueError(f"electricity cost must not be negative, got {usd}")
        time = float(time)
        self._prices_at(time)
        self._book(agent).electricity.append((time, float(usd)))

    def mark(self, time: float) -> None:
        time = float(time)
        self._prices_at(time)
        self._marks.append(time)

    def _price(self, time: float, symbol: str) -> float:
        try:
            return self._prices[time][symbol]
        except KeyError:
            raise ValueError(f"no price for {symbol} at t={time}: the price source must cover it") from None

    def _holdings_value(self, time: float, holdings: Mapping[str, float]) -> float:
        return sum(amount * self._price(time, symbol) for symbol, amount in holdings.items() if amount)

    def breakdown(self, agent: str) -> pd.DataFrame:
        """One row per valuation time from the agent's first balance record: the value of its wallet and
        escrow, its cumulative gas (ETH and USD) and electricity costs, and `value` net of both."""
        book = self._books.get(agent)
        if book is None or not book.balances:
            raise ValueError(f"no balances recorded for agent {agent!r}")
        balances = sorted(book.balances, key=lambda entry: entry[0])
        first = balances[0][0]
        event_times = [t for t, _, _ in balances] + [t for t, _ in book.gas] + [t for t, _ in book.electricity]
        times = sorted({t for t in event_times + self._marks if t >= first})

        gas = sorted(book.gas)
        electricity = sorted(book.electricity)
        rows = []
        balance_index = gas_index = electricity_index = 0
        gas_eth = gas_usd = electricity_usd = 0.0
        for time in times:
            while balance_index + 1 < len(balances) and balances[balance_index + 1][0] <= time:
                balance_index += 1
            while gas_index < len(gas) and gas[gas_index][0] <= time:
                spent_at, eth = gas[gas_index]
                gas_eth += eth
                gas_usd += eth * self._price(spent_at, self.eth_symbol)
                gas_index += 1
            while electricity_index < len(electricity) and electricity[electricity_index][0] <= time:
                electricity_usd += electricity[electricity_index][1]
                electricity_index += 1
            _, wallet, escrow = balances[balance_index]
            wallet_value = self._holdings_value(time, wallet)
            escrow_value = self._holdings_value(time, escrow)
            rows.append(
                {
                    "wallet_value": wallet_value,
                    "escrow_value": escrow_value,
                    "gas_eth": gas_eth,
                    "gas_cost": gas_usd,
                    "electricity_cost": electricity_usd,
                    "value": wallet_value + escrow_value - gas_usd - electricity_usd,
                }
            )
        return pd.DataFrame(rows, index=pd.Index(times, name="time"))

    def value_series(self, agent: str) -> pd.Series:
        """Portfolio value in the reference currency, net of gas and electricity, over time."""
        return self.breakdown(agent)["value"].rename(agent)

    def pnl_series(self, agent: str) -> pd.Series:
        """Profit and loss since the first valuation."""
        values = self.value_series(agent)
        return values - values.iloc[0]

    def returns(self, agent: str) -> pd.Series:
        return returns_from_values(self.value_series(agent))

    def summary(self, agent: str, **kwargs) -> PerformanceSummary:
        return PerformanceSummary.of_values(self.value_series(agent), **kwargs)


__all__ = [
    "DifferentialSharpe",
    "PerformanceSummary",
    "PortfolioLedger",
    "cumulative_return",
    "downside_deviation",
    "max_drawdown",
    "returns_from_values",
    "sharpe_ratio",
    "sortino_ratio",
]
