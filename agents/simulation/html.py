"""report.html: the run's report in one self-contained file (no network, no neighbouring files): the summary,
the market and per-strategy tables, the agents, the fault-cost table and every plot, embedded as base64 PNG."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
.note { color: #555; font-size: 0.9em; max-width: 60em; } img { max-width: 100%; border: 1px solid #eee; }
"""
MARKET_KEYS = (
    "deals_requested", "deals_agreed", "deals_settled", "deals_failed", "deals_open", "requests_unfilled",
    "deals_by_outcome", "validator_deals", "disputes", "court_rulings", "counter_offers", "collateral_missing",
    "fill_rate", "median_time_to_agreement_s", "mean_price", "price_cv", "lowest_cost_floor_tokens",
    "lowest_cost_floor_tokens_per_core_hour", "equilibrium_price_band", "provider_utilization_median",
    "gas_per_settled_deal", "funds_conserved", "token_total_before", "token_total_after", "restarts",
    "failed_transactions", "chain_seconds", "steps_run", "transactions", "wall_seconds",
)
EFFICIENCY_KEYS = (
    "allocative_efficiency", "surplus_realised_usd", "surplus_optimum_usd", "surplus_clients_usd",
    "surplus_providers_usd", "surplus_to_fees_usd", "surplus_client_share", "jobs_served",
)
AGENT_COLUMNS = (
    "agent", "strategy", "role", "deals_done", "deals_failed", "disputes_lost", "pnl_usd", "trading_pnl_usd",
    "revaluation_usd", "gas_usd", "electricity_usd", "client_surplus_usd", "cumulative_return", "sharpe", "sortino",
    "ema_sharpe", "mean_differential_sharpe",
)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) >= 1e4 or (value and abs(value) < 1e-3) else f"{value:,.4f}"
    if isinstance(value, (dict, list)):
        return html.escape(json.dumps(value))
    return html.escape(str(value))


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
                   for row in frame.astype(object).itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


def embedded_image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<p><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}"></p>'


def write_html(run_dir: Path, *, summary: dict, tables: dict[str, pd.DataFrame], plots: list[str]) -> Path:
    market = pd.DataFrame([(k, summary[k]) for k in MARKET_KEYS if k in summary], columns=["metric", "value"])
    strategies = pd.DataFrame.from_dict(summary["per_strategy"], orient="index").rename_axis("strategy").reset_index()
    agents = tables["agents"][[c for c in AGENT_COLUMNS if c in tables["agents"]]]
    parts = [
        f"<h1>Simulation report: {html.escape(str(summary['scenario']))}, seed {summary['seed']}</h1>",
        f"<p>{summary['agents']} agents, {summary.get('steps_run')} steps, {summary.get('chain_seconds')} s of "
        f"chain time. Every table is also in this directory as CSV and Parquet; summary.json has every figure.</p>",
        "<h2>Market</h2>", _table(market),
        "<h2>Efficiency</h2>",
        "<p class='note'>Surplus: clients' values of their jobs minus providers' true costs (gas, electricity, "
        "hardware), in USD, over the jobs whose results stood; the optimum assigns every requested job to the same "
        "machines, each holding a job's cores for its declared duration (agents/simulation/efficiency.py).</p>",
        _table(pd.DataFrame([(k, summary[k]) for k in EFFICIENCY_KEYS if k in summary], columns=["metric", "value"])),
        "<h2>By strategy</h2>",
        f"<p class='note'>{html.escape(summary.get('return_convention', ''))} Money columns are sums over the "
        "strategy's agents, ratios means over those that have them.</p>", _table(strategies),
    ]
    if summary.get("incentives"):
        parts += ["<h2>Incentives: does cheating pay?</h2>",
                  "<p class='note'>Mean trading P&amp;L per agent (USD) of each adversarial strategy against the "
                  "honest strategies of the same role in this run.</p>",
                  _table(pd.DataFrame(summary["incentives"]))]
    parts += ["<h2>By agent</h2>", _table(agents), "<h2>Faults: who paid whom</h2>"]
    faults = tables.get("fault_summary")
    if faults is not None and len(faults):
        parts += ["<p class='note'>Per fault (the deal's close reason), kind of payment, paying and receiving "
                  "strategy, over the deals that did not close cleanly. Wasted gas is every party's gas on those "
                  "deals, valued at the run's final ETH price; the per-deal rows are in fault_costs.csv.</p>",
                  _table(faults)]
    else:
        parts.append("<p>No deal closed on a fault in this run.</p>")
    parts.append("<h2>Plots</h2>")
    parts += [embedded_image(run_dir / name) for name in plots]
    if summary.get("defaults_applied"):
        parts += ["<h2>Defaults applied</h2><p class='note'>Fields the scenario file left out, and the values they "
                  "took.</p><ul>"] + [f"<li>{html.escape(d)}</li>" for d in summary["defaults_applied"]] + ["</ul>"]
    if summary.get("events"):
        parts += ["<h2>Events</h2><ul>"] + [f"<li>{html.escape(e)}</li>" for e in summary["events"]] + ["</ul>"]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(str(summary['scenario']))} "
            f"report</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
    path = run_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
