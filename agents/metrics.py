"""Agents judged like portfolio managers: P&L split into trading and revaluation, returns, Sharpe, Sortino,
drawdown and the differential Sharpe ratio. The one place the report's metrics are computed (the simulation's
report feeds it agents' observed holdings: agents.simulation.report).

Conventions (stated because every library picks differently):
- returns are simple per-period returns r_t = V_t / V_{t-1} - 1 (`returns_from_values`), or trading returns
  r_t = trading P&L of period t / V_{t-1}, which leave out what the holdings' price did (`pnl_decomposition`);
- Sharpe = mean(r - rf) / std(r - rf) with the sample standard deviation (ddof=1);
- Sortino = mean(r - target) / sqrt(mean(min(r - target, 0)^2)), the downside deviation taken over ALL
  periods (periods above target count as zeros), not only the losing ones;
- both are per period unless `periods_per_year` is given, which multiplies them by sqrt(periods_per_year);
- ratios that divide by a zero deviation are NaN when the numerator is 0 too, else +-inf.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

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


class DifferentialDownsideRatio:
    """The differential downside deviation ratio of Moody & Saffell (2001): the online, Sortino-like counterpart
    of `DifferentialSharpe`, which penalises only losses.

    With A_t = A_{t-1} + eta (R_t - A_{t-1}) and DD_t^2 = DD_{t-1}^2 + eta (min(R_t, 0)^2 - DD_{t-1}^2), the
    ratio A_t / DD_t moves by eta D_t, where
        D_t = (R_t - A_{t-1} / 2) / DD_{t-1}                                          if R_t > 0,
        D_t = (DD_{t-1}^2 (R_t - A_{t-1} / 2) - A_{t-1} R_t^2 / 2) / DD_{t-1}^3        otherwise.
    D_t is 0 while DD_{t-1} is 0 (no loss seen yet: the ratio is not defined)."""

    def __init__(self, eta: float):
        if not 0 < eta <= 1:
            raise ValueError(f"eta must be in (0, 1], got {eta}")
        self.eta = eta
        self.a = 0.0
        self.dd2 = 0.0  # DD_t^2, the moving mean of squared losses

    def update(self, r: float) -> float:
        """Take the return of one period; the step's D_t."""
        a, dd2 = self.a, self.dd2
        if dd2 <= 0:
            d = 0.0
        elif r > 0:
            d = (r - a / 2) / math.sqrt(dd2)
        else:
            d = (dd2 * (r - a / 2) - a * r * r / 2) / dd2**1.5
        self.a += self.eta * (r - a)
        self.dd2 += self.eta * (min(r, 0.0) ** 2 - dd2)
        return d


def differential_sharpe_summary(returns, eta: float) -> tuple[float, float]:
    """Over a whole series: (the final exponential-moving Sharpe estimate A_T / sqrt(B_T - A_T^2), the mean of
    the differential Sharpe ratios D_1..D_T). The first says where the estimate ended, the second how much each
    period on average improved it; the last D_T alone is one noisy increment. NaN for no periods, and the mean
    is NaN too when the variance estimate never became positive (every return 0: nothing to judge)."""
    returns = _as_series(returns)
    dsr = DifferentialSharpe(eta)
    d = dsr.update_many(returns)
    never_varied = not returns.to_numpy().any()
    return (dsr.sharpe if len(d) else math.nan), (math.nan if never_varied else float(d.mean()))


def pnl_decomposition(units, price, costs) -> pd.DataFrame:
    """An agent's P&L period by period, split in two. `units` is what it holds of an asset, `price` the asset's
    price, `costs` what it has spent so far in the numeraire (cumulative, each cost valued when paid); all
    observed at the end of each period. Its value is V_t = units_t * price_t - costs_t, and
        V_t - V_{t-1} = (units_t - units_{t-1}) * price_t - (costs_t - costs_{t-1})    trading
                        + units_{t-1} * (price_t - price_{t-1})                          revaluation
    so that trading is what the agent did (assets gained or given in its deals, at the period's price, and
    costs) and revaluation what the price did to what it already held. Rows: one per period after the first,
    columns value, trading, revaluation, and trading_return = trading / V_{t-1} (NaN where V_{t-1} <= 0)."""
    units, price, costs = (_as_series(x).reset_index(drop=True) for x in (units, price, costs))
    value = units * price - costs
    trading = units.diff() * price - costs.diff()
    revaluation = units.shift(1) * price.diff()
    previous = value.shift(1)
    frame = pd.DataFrame({
        "value": value, "trading": trading, "revaluation": revaluation,
        "trading_return": (trading / previous).where(previous > 0),
    })
    return frame.iloc[1:].reset_index(drop=True)


@dataclass(frozen=True)
class PerformanceSummary:
    """Every ratio of one return series, per period (times sqrt(periods_per_year) if that is given, except the
    differential Sharpe figures, which are per period always)."""

    periods: int
    cumulative_return: float
    sharpe: float
    sortino: float
    max_drawdown: float
    ema_sharpe: float  # A_T / sqrt(B_T - A_T^2), Moody & Saffell's moving estimate at the end
    mean_differential_sharpe: float  # mean of D_t over the periods

    @classmethod
    def of_returns(
        cls, returns, *, risk_free: float = 0.0, target: float = 0.0, periods_per_year: float | None = None,
        eta: float = 0.1,
    ) -> "PerformanceSummary":
        returns = _as_series(returns)
        ema_sharpe, mean_d = differential_sharpe_summary(returns, eta)
        return cls(
            periods=len(returns),
            cumulative_return=cumulative_return(returns),
            sharpe=sharpe_ratio(returns, risk_free, periods_per_year),
            sortino=sortino_ratio(returns, target, periods_per_year),
            max_drawdown=max_drawdown(returns),
            ema_sharpe=ema_sharpe,
            mean_differential_sharpe=mean_d,
        )

    @classmethod
    def of_values(cls, values, **kwargs) -> "PerformanceSummary":
        return cls.of_returns(returns_from_values(values), **kwargs)


__all__ = [
    "DifferentialSharpe",
    "PerformanceSummary",
    "cumulative_return",
    "differential_sharpe_summary",
    "downside_deviation",
    "max_drawdown",
    "pnl_decomposition",
    "returns_from_values",
    "sharpe_ratio",
    "sortino_ratio",
]
