"""The run's report: every chain message as a table, deals, per-agent and per-strategy metrics, market
metrics, plots, and summary.json, all in one run directory."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: simulations run headless
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from agents.metrics import DifferentialSharpe, cumulative_return, sharpe_ratio, sortino_ratio  # noqa: E402
from agents.protocol import (  # noqa: E402
    CloseReason,
    Message,  # noqa: E402
    Performative,
    Status,
    ValidationScheme,
)

FAILED = {Status.SLASHED.name, Status.UNFUNDED.name, Status.UNWOUND.name}
COURT_RULINGS = {CloseReason.COURT_APPROVED.name, CloseReason.COURT_REJECTED.name}
VERDICTS_THAT_STOOD = {CloseReason.VERDICT_APPROVED.name, CloseReason.VERDICT_REJECTED.name}


def messages_table(messages: list[Message], names: dict[str, str]) -> pd.DataFrame:
    rows = []
    for m in messages:
        args = m.args
        offer = args.get("offer") or {}
        rows.append({
            "block": m.block, "log_index": m.log_key[1], "time": m.time, "message": m.performative.value,
            "deal_id": m.deal_id.hex() if m.deal_id else None,
            "sender": names.get(m.sender, m.sender) if m.sender else None,
            "provider": names.get(args.get("provider") or offer.get("provider"), args.get("provider") or offer.get("provider")),
            "price": offer.get("price"), "collateral": offer.get("collateral"), "round": offer.get("round"),
            "status": Status(args["status"]).name if "status" in args else (
                Status(args["outcome"]).name if "outcome" in args else None),
            "reason": CloseReason(args["reason"]).name if "reason" in args else None,
        })
    return pd.DataFrame(rows)


def deals_table(messages: list[Message], names: dict[str, str], unit: int, gas_by_deal: dict[str, int]) -> pd.DataFrame:
    deals: dict[bytes, dict] = {}
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
            final = max(accepted, key=lambda o: o.round)
            deal["price"], deal["collateral"] = final.price / unit, final.collateral / unit
        deal["time_to_agreement"] = deal["agreed_at"] - deal["requested_at"] if deal["agreed_at"] else None
        deal["gas"] = gas_by_deal.get(deal["deal_id"], 0)
    return pd.DataFrame(list(deals.values()))


def agent_metrics(steps: pd.DataFrame, deals: pd.DataFrame, job_seconds: dict[str, float], duration: float) -> pd.DataFrame:
    rows = []
    for name, frame in steps.groupby("agent", sort=False):
        frame = frame.sort_values("step")
        value = frame["holdings_usd"] - frame["gas_usd"] - frame["electricity_usd"]
        # Returns need capital: an agent that starts with none (a validator) has P&L but no returns.
        has_capital = value.iloc[0] > 0 and (value > 0).all()
        returns = value.pct_change().fillna(0.0).to_numpy() if has_capital else np.array([])
        dsr = DifferentialSharpe(eta=0.1)
        last_dsr = None
        for r in returns:
            last_dsr = dsr.update(float(r))
        role = frame["role"].iloc[0]
        done, failed = _deals_done_and_failed(deals, name, role)
        rows.append({
            "agent": name, "group": frame["group"].iloc[0], "strategy": frame["strategy"].iloc[0], "role": role,
            "value_start_usd": value.iloc[0], "value_end_usd": value.iloc[-1], "pnl_usd": value.iloc[-1] - value.iloc[0],
            "gas_usd": frame["gas_usd"].iloc[-1], "electricity_usd": frame["electricity_usd"].iloc[-1],
            "cumulative_return": cumulative_return(returns) if has_capital else None,
            "sharpe": _finite(sharpe_ratio(returns)) if has_capital else None,
            "sortino": _finite(sortino_ratio(returns)) if has_capital else None,
            "differential_sharpe": last_dsr,
            "deals_done": done, "deals_failed": failed,
            "disputes_lost": int(_disputes_lost(deals, name)),
            "client_surplus_usd": _client_surplus(deals, name, value.iloc[-1] - value.iloc[0],
                                                  frame["token_usd"].iloc[-1]) if role == "client" else None,
            "utilization": job_seconds.get(name, 0.0) / duration if role == "provider" and duration else None,
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


def _client_surplus(deals: pd.DataFrame, name: str, pnl_usd: float, token_usd: float) -> float:
    """A client's P&L plus what the jobs it was delivered are worth to it (each its request's maximum price):
    P&L alone counts what a client paid and not what it bought, so a client that buys nothing would look best."""
    if not len(deals):
        return pnl_usd
    bought = deals[(deals["client"] == name) & (deals["outcome"] == Status.SETTLED.name)]
    return pnl_usd + float(bought["max_price"].sum()) * token_usd


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


def market_metrics(deals: pd.DataFrame) -> dict:
    agreed = deals[deals["agreed_at"].notna()]
    settled = deals[deals["outcome"] == Status.SETTLED.name]
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
        "fill_rate": float(len(agreed) / len(deals)) if len(deals) else 0.0,
        "median_time_to_agreement_s": float(agreed["time_to_agreement"].median()) if len(agreed) else None,
        "mean_price": float(settled["price"].mean()) if len(settled) else None,
        "gas_per_settled_deal": float(settled["gas"].mean()) if len(settled) else None,
    }


def plot_all(run_dir: Path, steps: pd.DataFrame, deals: pd.DataFrame, cost_floor: float | None) -> list[str]:
    written = []
    agreed = deals[deals["price"].notna()].sort_values("agreed_at")
    if len(agreed):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        t0 = deals["requested_at"].min()
        for outcome, frame in agreed.groupby("outcome"):
            ax.scatter((frame["agreed_at"] - t0) / 60, frame["price"], label=outcome.lower(), s=18)
        if cost_floor:
            ax.axhline(cost_floor, color="black", linestyle="--", linewidth=1, label="median cost floor")
        ax.set(xlabel="minutes into the run", ylabel="accepted price (tokens)", title="Price discovery")
        ax.legend()
        fig.tight_layout()
        fig.savefig(run_dir / "price_discovery.png", dpi=110)
        plt.close(fig)
        written.append("price_discovery.png")
    value = steps.assign(value_usd=steps["holdings_usd"] - steps["gas_usd"] - steps["electricity_usd"])
    by_strategy = value.groupby(["step", "strategy"])["value_usd"].sum().unstack()
    pnl = by_strategy - by_strategy.iloc[0]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    pnl.plot(ax=ax)
    ax.set(xlabel="step", ylabel="P&L (USD, net of gas and electricity)", title="P&L by strategy")
    fig.tight_layout()
    fig.savefig(run_dir / "pnl_by_strategy.png", dpi=110)
    plt.close(fig)
    written.append("pnl_by_strategy.png")
    providers = deals[deals["provider"].notna()]
    if len(providers):
        counts = providers.groupby("provider")["outcome"].value_counts().unstack(fill_value=0)
        fig, ax = plt.subplots(figsize=(8, 4.5))
        counts.plot.bar(stacked=True, ax=ax)
        ax.set(xlabel="provider", ylabel="deals", title="Provider utilization: deals won and how they ended")
        fig.tight_layout()
        fig.savefig(run_dir / "provider_utilization.png", dpi=110)
        plt.close(fig)
        written.append("provider_utilization.png")
    return written


def write_report(run_dir: Path, *, messages: pd.DataFrame, deals: pd.DataFrame, steps: pd.DataFrame,
                 agents: pd.DataFrame, summary: dict, transactions: pd.DataFrame, cost_floor: float | None) -> list[str]:
    run_dir.mkdir(parents=True, exist_ok=True)
    messages.to_csv(run_dir / "messages.csv", index=False)
    deals.to_csv(run_dir / "deals.csv", index=False)
    steps.to_csv(run_dir / "agent_steps.csv", index=False)
    agents.to_csv(run_dir / "agents.csv", index=False)
    transactions.to_csv(run_dir / "transactions.csv", index=False)
    plots = plot_all(run_dir, steps, deals, cost_floor)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")
    return plots


def per_strategy(agents: pd.DataFrame) -> dict:
    grouped = agents.groupby("strategy").agg(
        agents=("agent", "count"), pnl_usd=("pnl_usd", "sum"), mean_return=("cumulative_return", "mean"),
        mean_sharpe=("sharpe", "mean"), mean_sortino=("sortino", "mean"),
        mean_differential_sharpe=("differential_sharpe", "mean"), deals_done=("deals_done", "sum"),
        deals_failed=("deals_failed", "sum"),
    )
    return {
        name: {key: _json_default(value) for key, value in row.items()}
        for name, row in grouped.to_dict(orient="index").items()
    }


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    return value
