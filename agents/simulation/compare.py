"""Comparing two runs' deals (a chain run and a memory run of the same scenario and seed): which deal and which
column first differ."""

from __future__ import annotations

import pandas as pd

# What must be equal across backends: who dealt with whom, on which terms, and how each deal ended ...
OUTCOME_COLUMNS = ["deal_id", "client", "provider", "price", "collateral", "outcome", "reason"]
# ... and when each deal was requested, agreed and closed (chain times).
TIMING_COLUMNS = ["requested_at", "agreed_at", "closed_at"]
# Cannot be equal, so never compared: `gas` (and what derives from it: fees, P&L net of gas). On the chain it is
# each receipt's gasUsed; in memory each operation's figure in the gas table (gas-snapshot.json), measured once with
# other arguments (calldata length, cold or warm storage slots).
DIFFERING_COLUMNS = {"gas": "receipts on the chain, the gas table's figure per operation in memory"}


def first_difference(chain_deals: pd.DataFrame, memory_deals: pd.DataFrame,
                     columns: list[str] = OUTCOME_COLUMNS + TIMING_COLUMNS) -> str | None:
    """The first deal (by id) and column where the two deals tables differ, or None if they agree."""
    left = chain_deals[columns].sort_values("deal_id").reset_index(drop=True)
    right = memory_deals[columns].sort_values("deal_id").reset_index(drop=True)
    if len(left) != len(right) or not left["deal_id"].equals(right["deal_id"]):
        only = sorted(set(left["deal_id"]) ^ set(right["deal_id"]))
        return f"{len(left)} deals on chain, {len(right)} in memory; e.g. deal {only[0][:10]} is in one only"
    for column in columns:
        differs = ~((left[column] == right[column]) | (left[column].isna() & right[column].isna()))
        if differs.any():
            i = differs.idxmax()
            return (f"deal {left.loc[i, 'deal_id'][:10]}: {column} is {left.loc[i, column]!r} on chain, "
                    f"{right.loc[i, column]!r} in memory")
    return None
