"""A run's summary (summary.json) as one row of a sweep's table: every scalar figure, and each strategy's
figures flattened into columns named `<strategy>.<figure>` (`cost-plus.mean_sortino`). All are floats (a
missing ratio is NaN, a boolean 0 or 1), so that means and confidence intervals apply to every column alike."""

from __future__ import annotations

import difflib
import math

from agents.simulation.scenario import Scenario

# summary.json's scalar figures, as the simulation writes them: the names a sweep file may plot (any other
# scalar the summary gains still lands in the table).
RUN_METRICS = (
    "agents", "deals_requested", "deals_agreed", "deals_settled", "deals_failed", "deals_open", "validator_deals",
    "disputes", "court_rulings", "requests_unfilled", "counter_offers", "collateral_missing", "fill_rate",
    "median_time_to_agreement_s", "mean_price", "price_cv", "gas_per_settled_deal", "funds_conserved",
    "restarts", "rpc_requests_refused_in_outages", "failed_transactions", "chain_seconds", "steps_run",
    "allocative_efficiency", "surplus_realised_usd", "surplus_optimum_usd", "surplus_clients_usd",
    "surplus_providers_usd", "surplus_client_share", "surplus_to_fees_usd", "jobs_served",
    "provider_utilization_median", "utilization_period_s", "lowest_cost_floor_tokens",
    "lowest_cost_floor_tokens_per_core_hour", "market_seconds", "transactions", "deals_settled_per_s",
    "wall_seconds",
)
# Each strategy's figures in summary.json's `per_strategy` (agents.simulation.report.per_strategy).
STRATEGY_METRICS = (
    "agents", "pnl_usd", "trading_pnl_usd", "revaluation_usd", "mean_trading_pnl_usd", "mean_return",
    "mean_sharpe", "mean_sortino", "mean_ema_sharpe", "mean_differential_sharpe", "deals_done", "deals_failed",
)
# Scalars that identify the run rather than measure it: they are the row's parameters already.
NOT_METRICS = ("seed",)


def summary_row(summary: dict) -> dict[str, float]:
    """The run's figures as float columns: top-level scalars, then `<strategy>.<figure>`."""
    # None is a scalar's missing value (a ratio without trades) only where the figure is a known scalar; elsewhere
    # (equilibrium_price_band: a pair, or None) it is not a figure at all.
    row = {key: _number(value) for key, value in summary.items()
           if key not in NOT_METRICS and (_is_number(value) or (value is None and key in RUN_METRICS))}
    for strategy, figures in summary.get("per_strategy", {}).items():
        for key, value in figures.items():
            if _is_number(value) or value is None:
                row[f"{strategy}.{key}"] = _number(value)
    return row


def strategies_of(scenario: Scenario) -> list[str]:
    """The strategies a scenario's run reports on (the court included)."""
    groups = (*scenario.providers, *scenario.clients, *scenario.validators)
    return sorted({g.strategy for g in groups} | {scenario.court.strategy})


def check_metric(name: str, scenario: Scenario) -> None:
    """ValueError (one line, with a suggestion) unless a run of `scenario` reports the metric `name`."""
    if not isinstance(name, str):
        raise ValueError(f"a metric is a name, got {name!r}")
    strategy, dot, figure = name.partition(".")
    if dot:
        strategies = strategies_of(scenario)
        if strategy not in strategies:
            raise ValueError(f"metric {name!r}: no strategy {strategy!r} in this scenario (strategies: "
                             f"{', '.join(strategies)})")
        if figure not in STRATEGY_METRICS:
            raise ValueError(f"metric {name!r}: strategies report {_suggest(figure, STRATEGY_METRICS)}")
        return
    if name not in RUN_METRICS:
        raise ValueError(f"unknown metric {name!r} ({_suggest(name, RUN_METRICS)}; per strategy: "
                         f"STRATEGY.{'|'.join(STRATEGY_METRICS[:3])}|...)")


def _suggest(name: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f"did you mean {close[0]!r}?" if close else f"one of {', '.join(choices)}"


def _is_number(value) -> bool:
    return isinstance(value, (bool, int, float))


def _number(value) -> float:
    if value is None:
        return math.nan
    return float(value)
