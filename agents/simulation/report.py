"""The run's report: every chain message as a table, deals, per-agent and per-strategy metrics (computed by
agents.metrics), market metrics, the fault-cost table, plots and summary.json, each table as CSV and Parquet,
and report.html with all of it, in one run directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from agents import settlement
from agents.metrics import PerformanceSummary, pnl_decomposition
from agents.protocol import CloseReason, Domain, Message, Performative, Status, ValidationScheme, typed_hash
from agents.simulation.html import write_html
from agents.simulation.plots import plot_all

FAILED = {Status.SLASHED.name, Status.UNFUNDED.name, Status.UNWOUND.name}
COURT_RULINGS = {reason.name for reason in settlement.COURT_RULINGS}
VERDICTS_THAT_STOOD = {reason.name for reason in settlement.VERDICTS_THAT_STOOD}


def messages_table(messages: list[Message], names: dict[str, str], unit: int) -> pd.DataFrame:
    """One row per chain message; prices and collateral in tokens."""
    rows = []
    for m in messages:
        args = m.args
        offer = args.get("offer") or {}
        rows.append({
            "block": m.block, "log_index": m.log_key[1], "time": m.time, "message": m.performative.value,
            "deal_id": m.deal_id.hex() if m.deal_id else None,
            "sender": names.get(m.sender, m.sender) if m.sender else None,
            "provider": names.get(args.get("provider") or offer.get("provider"), args.get("provider") or offer.get("provider")),
            "price": offer["price"] / unit if offer else None,
            "collateral": offer["collateral"] / unit if offer else None, "round": offer.get("round"),
            "status": Status(args["status"]).name if "status" in args else (
                Status(args["outcome"]).name if "outcome" in args else None),
            "reason": CloseReason(args["reason"]).name if "reason" in args else None,
        })
    return pd.DataFrame(rows)


def deals_table(messages: list[Message], names: dict[str, str], unit: int, gas_by_deal: dict[str, int],
                domain: Domain | None = None) -> pd.DataFrame:
    """One row per request. A deal's price and collateral are its accepted offer's: the one the Accepted event
    names by its EIP-712 hash (`domain`: the market's), among the agreed provider's offers. A client may accept an
    earlier offer than the provider's latest (its first offer, after a counter-back at a higher price)."""
    deals: dict[bytes, dict] = {}
    accepted_hash: dict[bytes, bytes] = {}
    offers: dict[bytes, list] = {}
    for m in messages:
        if m.performative == Performative.REQUEST:
            request = m.request
            validator = request.validator if request.scheme == ValidationScheme.VALIDATOR else None
            deals[m.deal_id] = {
                "deal_id": m.deal_id.hex(), "client": names.get(request.client, request.client),
                "scheme": request.scheme.name.lower(), "max_price": request.max_price / unit,
                "validator": names.get(validator, validator) if validator else None,
                "validator_fee": request.validator_fee / unit, "bond": request.bond / unit,
                "requested_at": m.time, "agreed_at": None, "closed_at": None, "provider": None, "price": None,
                "collateral": None, "outcome": "UNFILLED", "reason": None, "offers": 0, "verdict": None,
                "disputant": None,
            }
        deal = deals.get(m.deal_id)
        if deal is None:
            continue
        if m.performative == Performative.VERDICT:
            deal["verdict"] = "APPROVED" if m.args["approved"] else "REJECTED"
        elif m.performative in (Performative.DISPUTE, Performative.APPEAL):
            deal["disputant"] = names.get(m.sender, m.sender)
        if m.performative == Performative.OFFER:
            deal["offers"] += 1
            offers.setdefault(m.deal_id, []).append(m.offer)
        elif m.performative == Performative.ACCEPT:
            accepted_hash[m.deal_id] = bytes(m.args["offerHash"])
            deal["agreed_at"] = m.time
            deal["provider"] = names.get(m.args["provider"], m.args["provider"])
            deal["outcome"] = Status(m.args["status"]).name
        if "outcome" in m.args:
            deal["outcome"] = Status(m.args["outcome"]).name
            deal["reason"] = CloseReason(m.args["reason"]).name
            deal["closed_at"] = m.time
        elif m.status != Status.NONE:
            deal["outcome"] = m.status.name
    for deal_id, deal in deals.items():
        accepted = [o for o in offers.get(deal_id, []) if deal["provider"] and names.get(o.provider) == deal["provider"]]
        if accepted:
            final = _accepted_offer(accepted, accepted_hash.get(deal_id), domain)
            deal["price"], deal["collateral"] = final.price / unit, final.collateral / unit
        deal["time_to_agreement"] = deal["agreed_at"] - deal["requested_at"] if deal["agreed_at"] else None
        deal["gas"] = gas_by_deal.get(deal["deal_id"], 0)
    return pd.DataFrame(list(deals.values()))


def _accepted_offer(offers: list, offer_hash: bytes | None, domain: Domain | None):
    """The offer of `offers` (the agreed provider's, in either direction) whose hash is `offer_hash`. Hashing is
    needed only where the offers' terms differ; without a domain or a match, the latest round's."""
    if domain is not None and offer_hash is not None and len({(o.price, o.collateral) for o in offers}) > 1:
        for offer in offers:
            if typed_hash(domain, offer) == offer_hash:
                return offer
    return max(offers, key=lambda o: o.round)


# Moody & Saffell's adaptation rate: the moving Sharpe estimate weighs about the last 1/eta = 10 steps.
DSR_ETA = 0.1


def return_convention(step_seconds: int) -> str:
    """What the report's returns and ratios are, said next to them (summary.json and report.html)."""
    return (f"Returns are per step ({step_seconds} s of chain time), not annualised: trading returns, the step's "
            "trading P&L (deal cash flows, gas, electricity, fees, bonds) over the agent's value at the start of "
            "the step, token price moves left out. Sharpe = mean / sample deviation (ddof=1), Sortino = mean / "
            "downside deviation over every step (target 0), both with a risk-free rate of 0. Differential Sharpe "
            f"(Moody & Saffell, eta = {DSR_ETA}): ema_sharpe is the moving estimate A_T / sqrt(B_T - A_T^2) at the "
            "end of the run, mean_differential_sharpe the mean of D_t over its steps; read ema_sharpe first: D_t is a "
            "first-order term that runs into the thousands at a step whose return lies far outside the moving "
            "deviation so far (a first payment after steps of gas alone). Agents without capital "
            "(the court) have no returns; an agent whose trading P&L never moved has no ratios.")


def attach_job_values(deals: pd.DataFrame, job_values: dict[str, float]) -> pd.DataFrame:
    """Each deal's value to its client in USD (the model's `job_values`, by 0x-hex deal id); NaN if unknown."""
    values = {key.lower().removeprefix("0x"): float(v) for key, v in job_values.items()}
    return deals.assign(value_usd=deals["deal_id"].map(values) if len(deals) else pd.Series(dtype=float))


def agent_metrics(steps: pd.DataFrame, deals: pd.DataFrame, utilization: dict[str, float]) -> pd.DataFrame:
    """One row per agent: P&L split, performance ratios, deals, and a provider's utilization (capacity.utilization)."""
    rows = []
    for name, frame in steps.groupby("agent", sort=False):
        frame = frame.sort_values("step")
        costs = frame["gas_usd"] + frame["electricity_usd"]
        pnl = pnl_decomposition(frame["holdings_tokens"], frame["token_usd"], costs)
        value_start = float(frame["holdings_usd"].iloc[0] - costs.iloc[0])
        value_end = float(frame["holdings_usd"].iloc[-1] - costs.iloc[-1])
        trading = float(pnl["trading"].sum())
        # Returns need capital: an agent that starts with none (the court) has P&L but no returns.
        has_capital = bool(len(pnl)) and pnl["trading_return"].notna().all()
        perf = PerformanceSummary.of_returns(pnl["trading_return"], eta=DSR_ETA) if has_capital else None
        role = frame["role"].iloc[0]
        done, failed = _deals_done_and_failed(deals, name, role)
        rows.append({
            "agent": name, "group": frame["group"].iloc[0], "strategy": frame["strategy"].iloc[0], "role": role,
            "value_start_usd": value_start, "value_end_usd": value_end, "pnl_usd": value_end - value_start,
            "trading_pnl_usd": trading, "revaluation_usd": float(pnl["revaluation"].sum()),
            "gas_usd": frame["gas_usd"].iloc[-1], "electricity_usd": frame["electricity_usd"].iloc[-1],
            "cumulative_return": perf.cumulative_return if perf else None,
            "sharpe": _finite(perf.sharpe) if perf else None,
            "sortino": _finite(perf.sortino) if perf else None,
            "ema_sharpe": _finite(perf.ema_sharpe) if perf else None,
            "mean_differential_sharpe": _finite(perf.mean_differential_sharpe) if perf else None,
            "deals_done": done, "deals_failed": failed,
            "disputes_lost": int(_disputes_lost(deals, name)),
            "client_surplus_usd": _client_surplus(deals, name, trading) if role == "client" else None,
            "utilization": utilization.get(name) if role == "provider" else None,
        })
    return pd.DataFrame(rows)


def _deals_done_and_failed(deals: pd.DataFrame, name: str, role: str) -> tuple[int, int]:
    """Clients and providers: their deals that settled, and those that failed. A validator: its verdicts that
    stood, and those the court overturned or that it never gave. The court: its rulings, and the disputes it
    left to time out."""
    if not len(deals):
        return 0, 0
    reason = deals["reason"]
    if role == "validator":
        mine = deals[(deals["validator"] == name) & (reason.isin(VERDICTS_THAT_STOOD) | reason.isin(COURT_RULINGS))]
        ruling = mine["reason"].map({CloseReason.COURT_APPROVED.name: "APPROVED",
                                     CloseReason.COURT_REJECTED.name: "REJECTED"})
        stood = mine["reason"].isin(VERDICTS_THAT_STOOD) | (mine["verdict"] == ruling)
        return int(stood.sum()), int((~stood).sum())
    if role == "court":
        return int(reason.isin(COURT_RULINGS).sum()), int((reason == CloseReason.COURT_TIMEOUT.name).sum())
    mine = deals[deals["provider" if role == "provider" else "client"] == name]
    return int((mine["outcome"] == Status.SETTLED.name).sum()), int(mine["outcome"].isin(FAILED).sum())


def _client_surplus(deals: pd.DataFrame, name: str, trading_pnl_usd: float) -> float | None:
    """What the jobs a client was delivered are worth to it, plus its trading P&L (payments, refunds, slashes
    received, fees, bonds, gas); None without job values: P&L alone counts what a client paid and not what it
    bought, so a client that buys nothing would look best."""
    if not len(deals) or "value_usd" not in deals or deals["value_usd"].isna().all():
        return None
    bought = deals[(deals["client"] == name) & (deals["outcome"] == Status.SETTLED.name)]
    return trading_pnl_usd + float(bought["value_usd"].fillna(0.0).sum())


def _disputes_lost(deals: pd.DataFrame, name: str) -> int:
    """Disputes and appeals `name` took to the court that the court ruled against."""
    if not len(deals):
        return 0
    mine = deals[deals["disputant"] == name]
    client_side = mine["client"] == name  # a client contests an approval; a provider, a rejection
    lost = (client_side & (mine["reason"] == CloseReason.COURT_APPROVED.name)) | (
        ~client_side & (mine["reason"] == CloseReason.COURT_REJECTED.name))
    return int(lost.sum())


def _finite(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def market_metrics(deals: pd.DataFrame, messages: pd.DataFrame) -> dict:
    agreed = deals[deals["agreed_at"].notna()]
    settled = deals[deals["outcome"] == Status.SETTLED.name]
    prices = agreed["price"].dropna()
    offers = messages[messages["message"] == Performative.OFFER.value] if len(messages) else messages
    return {
        "deals_requested": int(len(deals)),
        "deals_agreed": int(len(agreed)),
        "deals_settled": int(len(settled)),
        "deals_failed": int(deals["outcome"].isin(FAILED).sum()),
        "deals_by_outcome": {k: int(v) for k, v in agreed["outcome"].value_counts().sort_index().items()},
        "validator_deals": int((agreed["scheme"] == "validator").sum()),
        "disputes": int(agreed["disputant"].notna().sum()),
        "court_rulings": int(agreed["reason"].isin(COURT_RULINGS).sum()),
        "requests_unfilled": int((deals["outcome"] == "UNFILLED").sum()),
        # Offers the client signed (a counter to a provider's terms), not the provider.
        "counter_offers": int((offers["sender"] != offers["provider"]).sum()) if len(offers) else 0,
        "collateral_missing": int((deals["reason"] == CloseReason.COLLATERAL_MISSING.name).sum()),
        "fill_rate": float(len(agreed) / len(deals)) if len(deals) else 0.0,
        "median_time_to_agreement_s": float(agreed["time_to_agreement"].median()) if len(agreed) else None,
        "mean_price": float(settled["price"].mean()) if len(settled) else None,
        # Population standard deviation over mean, of the prices of every agreed deal.
        "price_cv": float(prices.std(ddof=0) / prices.mean()) if len(prices) and prices.mean() else None,
        "gas_per_settled_deal": float(settled["gas"].mean()) if len(settled) else None,
    }


TABLES = ("messages", "deals", "agent_steps", "agents", "transactions", "transfers", "fault_costs", "demand",
          "utilization", "price_band")


def write_report(run_dir: Path, *, tables: dict[str, pd.DataFrame], summary: dict) -> dict:
    """Every table as CSV and Parquet, the plots, summary.json and report.html; returns {"plots": [...],
    "html": path}."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        table = tables[name]
        table.to_csv(run_dir / f"{name}.csv", index=False)
        table.to_parquet(run_dir / f"{name}.parquet", index=False)
    plots = plot_all(run_dir, tables, summary)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    html = write_html(run_dir, summary=summary, tables=tables, plots=plots)
    return {"plots": plots, "html": html}


def per_strategy(agents: pd.DataFrame) -> dict:
    """Sums of money, means of ratios over each strategy's agents (ratios that are None count as missing)."""
    grouped = agents.groupby("strategy").agg(
        agents=("agent", "count"), pnl_usd=("pnl_usd", "sum"), trading_pnl_usd=("trading_pnl_usd", "sum"),
        revaluation_usd=("revaluation_usd", "sum"), mean_trading_pnl_usd=("trading_pnl_usd", "mean"),
        mean_return=("cumulative_return", "mean"), mean_sharpe=("sharpe", "mean"),
        mean_sortino=("sortino", "mean"), mean_ema_sharpe=("ema_sharpe", "mean"),
        mean_differential_sharpe=("mean_differential_sharpe", "mean"), deals_done=("deals_done", "sum"),
        deals_failed=("deals_failed", "sum"),
    )
    return {
        name: {key: _json_default(value) for key, value in row.items()}
        for name, row in grouped.to_dict(orient="index").items()
    }


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    return value
