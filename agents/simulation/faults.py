"""Who paid whom: every token that changed hands between agents in the run's deals, as transfers, and what
each fault and each adversary cost and to whom (the contract's settlement rules, agents.settlement, replayed
on the deals table).

A transfer is one row: payer, payee, tokens. Money an agent locks and gets back (a refunded price, a returned
stake or bond, an unwound deal) is no transfer and has no row, so that per agent the transfers add up to the
change of its token holdings over the run, and over all agents they add up to zero.
"""

from __future__ import annotations

import pandas as pd

from agents.policy import Role
from agents.protocol import CloseReason, Status
from agents.settlement import Closing, transfers
from agents.strategies.registry import strategy_names

R = CloseReason
# Reasons a deal closes for when everything went as agreed; any other (bar a cancelled request) is a fault.
CLEAN = {R.APPROVED.name, R.VALIDATION_WINDOW_PASSED.name, R.VERDICT_APPROVED.name, R.CANCELLED.name}
TRANSFER_COLUMNS = ["deal_id", "reason", "kind", "payer", "payee", "tokens"]


def _present(value) -> bool:
    return isinstance(value, str) and value != ""


def token_transfers(deals: pd.DataFrame, court: str = "court") -> pd.DataFrame:
    """Every transfer between agents the closed deals made (agents.settlement's rules), by kind: `payment` (price,
    client to provider), `validator_fee` (client to validator, for a verdict that stood or a check the client
    approved first), `slash` (collateral, provider to client), `dispute_bond` (the disputant's bond, to the court),
    `validator_stake` (an overruled or silent validator's stake, to the court)."""
    rows = []
    for deal in deals.itertuples(index=False):
        if not _present(deal.reason):
            continue  # nothing was agreed
        verdict = deal.verdict if _present(deal.verdict) else None
        closing = Closing(
            outcome=Status[deal.outcome], reason=CloseReason[deal.reason], client=deal.client,
            provider=deal.provider, price=deal.price, collateral=deal.collateral, validator_fee=deal.validator_fee,
            bond=deal.bond, validator=deal.validator if _present(deal.validator) else None,
            verdict_approved=None if verdict is None else verdict == "APPROVED",
            disputant=deal.disputant if _present(deal.disputant) else None,
        )
        rows.extend((deal.deal_id, deal.reason, t.kind, t.payer, t.payee, float(t.amount))
                    for t in transfers(closing, court))
    return pd.DataFrame(rows, columns=TRANSFER_COLUMNS)


def net_tokens(transfers: pd.DataFrame) -> pd.Series:
    """Per agent: tokens received minus tokens paid."""
    received = transfers.groupby("payee")["tokens"].sum()
    paid = transfers.groupby("payer")["tokens"].sum()
    return received.sub(paid, fill_value=0.0)


def fault_costs(deals: pd.DataFrame, transfers: pd.DataFrame, transactions: pd.DataFrame,
                strategies: dict[str, str], token_usd: float, eth_usd: float) -> pd.DataFrame:
    """One row per fault deal, kind, payer and payee: what each fault cost whom, in tokens and USD. Transfers
    of the deals that did not close cleanly (slashes, bonds, stakes, validator fees; not the price of work
    that was delivered and paid for),
    and the gas every party spent on them (`wasted_gas`, paid to the chain, valued at the run's final ETH
    price). The deal's close reason names the fault."""
    faulty = deals[deals["reason"].notna() & ~deals["reason"].isin(CLEAN)]
    moved = transfers[transfers["deal_id"].isin(faulty["deal_id"]) & (transfers["kind"] != "payment")].assign(usd=lambda t: t["tokens"] * token_usd)
    gas = pd.DataFrame(columns=["deal_id", "reason", "kind", "payer", "payee", "tokens", "usd"])
    if len(transactions) and "fee_wei" in transactions:
        spent = transactions[transactions["deal_id"].isin(faulty["deal_id"])]
        spent = spent.groupby(["deal_id", "agent"], as_index=False)["fee_wei"].sum()
        gas = spent.merge(faulty[["deal_id", "reason"]], on="deal_id").assign(
            kind="wasted_gas", payer=lambda t: t["agent"], payee="gas (chain)", tokens=0.0,
            usd=lambda t: t["fee_wei"] / 1e18 * eth_usd,
        )[gas.columns]
    table = pd.concat([frame for frame in (moved, gas) if len(frame)] or [gas], ignore_index=True)
    table["fault"] = table["reason"].str.lower()
    table["payer_strategy"] = table["payer"].map(strategies)
    table["payee_strategy"] = table["payee"].map(strategies).fillna(table["payee"])
    columns = ["fault", "deal_id", "kind", "payer", "payer_strategy", "payee", "payee_strategy", "tokens", "usd"]
    return table[columns].sort_values(["fault", "deal_id", "kind", "payer"], ignore_index=True)


def fault_summary(costs: pd.DataFrame) -> pd.DataFrame:
    """The fault table summed: per fault, kind, paying strategy and receiving strategy."""
    keys = ["fault", "kind", "payer_strategy", "payee_strategy"]
    return costs.groupby(keys, as_index=False).agg(deals=("deal_id", "nunique"), tokens=("tokens", "sum"),
                                                    usd=("usd", "sum"))


def incentives(agents: pd.DataFrame) -> list[dict]:
    """For each adversarial strategy in the run: its role, its mean P&L per agent, and the mean P&L per agent of
    the honest strategies of the same role. P&L is trading P&L (token revaluation left out: it depends on how many
    tokens an agent holds, not on what it did); for clients whose jobs have values it is their surplus (trading
    P&L plus the value of the jobs they were delivered), since paying for a job is not a loss when the job is
    worth more. Cheating should not pay: pnl < honest_pnl."""
    pnl_of = agents["trading_pnl_usd"]
    if "client_surplus_usd" in agents:
        pnl_of = agents["client_surplus_usd"].where(agents["role"].eq("client") & agents["client_surplus_usd"].notna(),
                                                    pnl_of)
    agents = agents.assign(_pnl=pnl_of.astype(float))
    result = []
    for (strategy, role), group in agents.groupby(["strategy", "role"], sort=True):
        if strategy in strategy_names(Role(role), adversarial=False):
            continue
        honest_names = strategy_names(Role(role), adversarial=False)
        honest = agents[(agents["role"] == role) & agents["strategy"].isin(honest_names)]
        pnl = float(group["_pnl"].mean())
        honest_pnl = float(honest["_pnl"].mean()) if len(honest) else None
        result.append({
            "strategy": strategy, "role": role, "agents": int(len(group)), "pnl_usd": pnl,
            "honest_strategies": sorted(set(honest["strategy"])), "honest_agents": int(len(honest)),
            "honest_pnl_usd": honest_pnl,
            "below_honest": None if honest_pnl is None else pnl < honest_pnl,
        })
    return result
