"""Portfolio metrics against hand-computed values, and the invariants they must keep."""

import math

import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agents.metrics import (
    DifferentialSharpe,
    PerformanceSummary,
    cumulative_return,
    differential_sharpe_summary,
    downside_deviation,
    max_drawdown,
    pnl_decomposition,
    returns_from_values,
    sharpe_ratio,
    sortino_ratio,
)

RETURNS = [0.10, -0.05, 0.02, -0.03, 0.06]
# mean = (0.10 - 0.05 + 0.02 - 0.03 + 0.06) / 5 = 0.10 / 5 = 0.02
# deviations from the mean: 0.08, -0.07, 0.00, -0.05, 0.04
# squares: 0.0064 + 0.0049 + 0 + 0.0025 + 0.0016 = 0.0154; sample variance = 0.0154 / 4 = 0.00385
MEAN = 0.02
SAMPLE_VARIANCE = 0.00385


def test_cumulative_return_by_hand():
    # 1.10 * 0.95 = 1.045; * 1.02 = 1.0659; * 0.97 = 1.033923; * 1.06 = 1.09595838
    assert cumulative_return(RETURNS) == pytest.approx(0.09595838, abs=1e-12)
    assert cumulative_return([]) == 0.0


def test_returns_from_values_by_hand():
    returns = returns_from_values(pd.Series([100.0, 110.0, 104.5], index=[0, 60, 120]))
    # 110 / 100 - 1 = 0.10; 104.5 / 110 - 1 = -0.05; indexed by the later time
    assert list(returns.index) == [60, 120]
    assert returns.tolist() == pytest.approx([0.10, -0.05])
    with pytest.raises(ValueError, match="positive"):
        returns_from_values([100.0, 0.0, 5.0])


def test_sharpe_by_hand():
    assert sharpe_ratio(RETURNS) == pytest.approx(MEAN / math.sqrt(SAMPLE_VARIANCE))  # 0.3223291...
    assert sharpe_ratio(RETURNS) == pytest.approx(0.32232918561, rel=1e-9)
    # rf = 0.01 per period: excess mean 0.01, same deviation
    assert sharpe_ratio(RETURNS, risk_free=0.01) == pytest.approx(0.01 / math.sqrt(SAMPLE_VARIANCE))
    assert sharpe_ratio(RETURNS, periods_per_year=252) == pytest.approx(
        MEAN / math.sqrt(SAMPLE_VARIANCE) * math.sqrt(252)
    )


def test_sharpe_without_deviation():
    assert math.isnan(sharpe_ratio([0.01]))  # one period: no deviation to speak of
    assert math.isnan(sharpe_ratio([0.0, 0.0, 0.0]))
    assert sharpe_ratio([0.01, 0.01, 0.01]) == math.inf  # constant gains, not rounding noise


def test_sortino_uses_every_period_by_hand():
    # min(r, 0): 0, -0.05, 0, -0.03, 0; squares 0.0025 + 0.0009 = 0.0034 over ALL 5 periods: 0.00068
    assert downside_deviation(RETURNS) == pytest.approx(math.sqrt(0.00068))
    assert sortino_ratio(RETURNS) == pytest.approx(0.02 / math.sqrt(0.00068))  # 0.766964...
    assert sortino_ratio(RETURNS) == pytest.approx(0.76696498884, rel=1e-9)
    # Averaging over the 2 losing periods only would give 0.02 / sqrt(0.0034 / 2) = 0.485071...
    assert sortino_ratio(RETURNS) != pytest.approx(0.02 / math.sqrt(0.0034 / 2), rel=1e-3)


def test_sortino_with_a_target_by_hand():
    # r - 0.01: 0.09, -0.06, 0.01, -0.04, 0.05; mean 0.01; downside 0.0036 + 0.0016 = 0.0052 / 5 = 0.00104
    assert sortino_ratio(RETURNS, target=0.01) == pytest.approx(0.01 / math.sqrt(0.00104))
    assert sortino_ratio(RETURNS, target=0.01, periods_per_year=12) == pytest.approx(
        0.01 / math.sqrt(0.00104) * math.sqrt(12)
    )
    assert sortino_ratio([0.01, 0.02]) == math.inf  # never below target


def test_max_drawdown_by_hand():
    # wealth 1, 1.1, 1.045, 1.0659, 1.033923, 1.09595838: peak 1.1, trough 1.033923
    assert max_drawdown(RETURNS) == pytest.approx(1 - 1.033923 / 1.1)
    assert max_drawdown([0.01, 0.02]) == 0.0


def test_summary_of_values():
    values = [100.0]
    for r in RETURNS:
        values.append(values[-1] * (1 + r))
    summary = PerformanceSummary.of_values(values)
    assert summary.periods == 5
    assert summary.cumulative_return == pytest.approx(0.09595838)
    assert summary.sharpe == pytest.approx(0.32232918561)
    assert summary.sortino == pytest.approx(0.76696498884)


def test_nan_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        sharpe_ratio([0.1, float("nan"), 0.2])


# --- differential Sharpe ratio ---------------------------------------------------------------------------


def test_differential_sharpe_step_by_step():
    dsr = DifferentialSharpe(eta=0.1)
    # t=1, R=0.10: B_0 - A_0^2 = 0 - 0 = 0, so D_1 = 0 (warm-up)
    assert dsr.update(0.10) == 0.0
    # A_1 = 0 + 0.1 * (0.10 - 0) = 0.01; B_1 = 0 + 0.1 * (0.01 - 0) = 0.001
    assert (dsr.a, dsr.b) == pytest.approx((0.01, 0.001))
    # t=2, R=-0.05: dA = -0.05 - 0.01 = -0.06; dB = 0.0025 - 0.001 = 0.0015
    # numerator = 0.001 * -0.06 - 0.5 * 0.01 * 0.0015 = -0.00006 - 0.0000075 = -0.0000675
    # denominator = (0.001 - 0.01^2)^1.5 = 0.0009^1.5 = 0.0009 * 0.03 = 0.000027; D_2 = -2.5
    assert dsr.update(-0.05) == pytest.approx(-2.5)
    # A_2 = 0.01 + 0.1 * -0.06 = 0.004; B_2 = 0.001 + 0.1 * 0.0015 = 0.00115
    assert (dsr.a, dsr.b) == pytest.approx((0.004, 0.00115))
    # t=3, R=0.02: dA = 0.02 - 0.004 = 0.016; dB = 0.0004 - 0.00115 = -0.00075
    # numerator = 0.00115 * 0.016 - 0.5 * 0.004 * -0.00075 = 0.0000184 + 0.0000015 = 0.0000199
    # denominator = (0.00115 - 0.004^2)^1.5 = 0.001134^1.5
    assert dsr.update(0.02) == pytest.approx(0.0000199 / 0.001134**1.5)  # 0.52112...
    # A_3 = 0.004 + 0.1 * 0.016 = 0.0056; B_3 = 0.00115 + 0.1 * -0.00075 = 0.001075
    assert (dsr.a, dsr.b) == pytest.approx((0.0056, 0.001075))


def test_differential_sharpe_is_zero_while_returns_are_zero():
    dsr = DifferentialSharpe(eta=0.05)
    assert dsr.update_many([0.0, 0.0, 0.0]).tolist() == [0.0, 0.0, 0.0]
    assert dsr.update(0.01) == 0.0  # the variance estimate before this step is still 0
    assert dsr.update(0.01) != 0.0


def test_differential_sharpe_rejects_bad_parameters():
    with pytest.raises(ValueError, match="eta"):
        DifferentialSharpe(eta=0.0)
    with pytest.raises(ValueError, match="initial_b"):
        DifferentialSharpe(eta=0.1, initial_a=0.1, initial_b=0.001)


returns_lists = st.lists(st.floats(-0.5, 0.5, allow_nan=False), min_size=2, max_size=40)


@settings(max_examples=100, deadline=None)
@given(
    a=st.floats(-0.1, 0.1),
    variance=st.floats(1e-4, 1e-2),
    r=st.floats(-0.3, 0.3),
)
def test_differential_sharpe_is_the_first_order_change_of_the_sharpe_estimate(a, variance, r):
    # Moody & Saffell's definition: S_t = S_{t-1} + eta * D_t + O(eta^2) for the moving Sharpe estimate.
    eta = 1e-7
    dsr = DifferentialSharpe(eta, initial_a=a, initial_b=variance + a * a)
    before = dsr.sharpe
    d = dsr.update(r)
    assert (dsr.sharpe - before) / eta == pytest.approx(d, rel=1e-3, abs=1e-3)


@settings(max_examples=100, deadline=None)
@given(returns=returns_lists, scale=st.floats(0.01, 100.0))
def test_sharpe_is_invariant_to_scaling_returns(returns, scale):
    assume(pd.Series(returns).std() > 1e-6)
    assert sharpe_ratio([r * scale for r in returns]) == pytest.approx(sharpe_ratio(returns), rel=1e-9)
    assert sortino_ratio([r * scale for r in returns]) == pytest.approx(sortino_ratio(returns), rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(first=returns_lists, second=returns_lists)
def test_cumulative_return_composes_multiplicatively(first, second):
    combined = cumulative_return(first + second)
    assert 1 + combined == pytest.approx((1 + cumulative_return(first)) * (1 + cumulative_return(second)), rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(returns=returns_lists, gain=st.floats(0.0, 0.5))
def test_a_period_at_or_above_target_never_raises_downside_deviation(returns, gain):
    # Over all observations a non-losing period dilutes the downside; over losing ones only it would not.
    assert downside_deviation(returns + [gain]) <= downside_deviation(returns) + 1e-15


# --- the report's P&L split and differential Sharpe summary ----------------------------------------------


def test_pnl_decomposition_by_hand():
    # 100 tokens at 1.00, then 110 at 1.02 (10 bought in), then 110 at 0.99, costs 0, 0.5, 0.7 (cumulative).
    frame = pnl_decomposition([100, 110, 110], [1.00, 1.02, 0.99], [0.0, 0.5, 0.7])
    # values: 100 - 0 = 100; 112.2 - 0.5 = 111.7; 108.9 - 0.7 = 108.2
    assert frame["value"].tolist() == pytest.approx([111.7, 108.2])
    # step 1: trading = 10 * 1.02 - 0.5 = 9.7; revaluation = 100 * 0.02 = 2.0; 9.7 + 2.0 = 111.7 - 100
    # step 2: trading = 0 * 0.99 - 0.2 = -0.2; revaluation = 110 * -0.03 = -3.3; -3.5 = 108.2 - 111.7
    assert frame["trading"].tolist() == pytest.approx([9.7, -0.2])
    assert frame["revaluation"].tolist() == pytest.approx([2.0, -3.3])
    assert frame["trading_return"].tolist() == pytest.approx([9.7 / 100, -0.2 / 111.7])


def test_pnl_decomposition_of_an_idle_holder_is_all_revaluation():
    frame = pnl_decomposition([50, 50, 50], [1.0, 1.1, 0.9], [0.0, 0.0, 0.0])
    assert frame["trading"].tolist() == [0.0, 0.0]
    assert frame["revaluation"].tolist() == pytest.approx([5.0, -10.0])
    summary = PerformanceSummary.of_returns(frame["trading_return"])
    assert math.isnan(summary.sharpe) and math.isnan(summary.sortino)  # no trading, no ratio from price noise
    assert math.isnan(summary.mean_differential_sharpe) and math.isnan(summary.ema_sharpe)


def test_pnl_decomposition_has_no_return_without_capital():
    frame = pnl_decomposition([0, 2, 2], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    assert frame["trading"].tolist() == [2.0, 0.0]
    assert math.isnan(frame["trading_return"].iloc[0])  # 2 USD on nothing is no rate of return
    assert frame["trading_return"].iloc[1] == 0.0


def test_differential_sharpe_summary_by_hand():
    # The steps of test_differential_sharpe_step_by_step: D = 0, -2.5, 0.0000199 / 0.001134^1.5; A_3 = 0.0056,
    # B_3 = 0.001075, so the final moving Sharpe is 0.0056 / sqrt(0.001075 - 0.0056^2) = 0.0056 / sqrt(0.00104364)
    ema_sharpe, mean_d = differential_sharpe_summary([0.10, -0.05, 0.02], eta=0.1)
    assert ema_sharpe == pytest.approx(0.0056 / math.sqrt(0.00104364))  # 0.17334...
    assert mean_d == pytest.approx((0.0 - 2.5 + 0.0000199 / 0.001134**1.5) / 3)  # -0.65963...
    assert math.isnan(differential_sharpe_summary([], eta=0.1)[0])
