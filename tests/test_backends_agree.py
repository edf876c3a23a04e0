"""The same scenario and seed on both backends give the same deals.

Each test deploys a fresh market (no earlier deals for the agents to replay), runs the scenario on the chain, then
on the memory backend with the same deployment, starting from the block the chain run started from (its number
and time: deal ids hash the request, whose deadlines are chain times). The deal outcomes must be equal, column by
column; the one column that cannot be is named with its reason.
"""

import asyncio

import pandas as pd
import pytest

from agents.deploy.addresses import Deployment
from agents.deploy.system import deploy_system
from agents.simulation.run import simulate
from agents.simulation.scenario import load_scenario

# What the issue asks to be equal: who dealt with whom, on which terms, and how each deal ended.
OUTCOME_COLUMNS = ["deal_id", "client", "provider", "price", "collateral", "outcome", "reason"]
# Equal too: when each deal was requested, agreed and closed, and every message's block, log index and time.
TIMING_COLUMNS = ["requested_at", "agreed_at", "closed_at"]
# Cannot be equal, so not compared: `gas` (and what derives from it: fees, P&L net of gas). On the chain it is each
# receipt's gasUsed; in memory each operation's figure in the gas table (gas-snapshot.json), measured once with
# other arguments (calldata length, cold or warm storage slots).


def _both(chain, accounts, tmp_path, scenario_name: str):
    funder = accounts[0]
    deployment = Deployment.from_system(deploy_system(funder, court=funder.address))
    scenario = load_scenario(scenario_name)
    on_chain = asyncio.run(simulate(scenario, node_url=chain.provider.http_uri, deployment=deployment,
                                    funder_key=funder.private_key, out_dir=tmp_path / "chain"))
    head = (on_chain.summary["head_block"], on_chain.summary["head_time"])
    in_memory = asyncio.run(simulate(scenario, deployment=deployment, funder_key=funder.private_key,
                                     out_dir=tmp_path / "memory", backend="memory", head=head))
    return on_chain, in_memory


def first_difference(chain_deals: pd.DataFrame, memory_deals: pd.DataFrame, columns: list[str]) -> str | None:
    """The first deal (by id) and column where the two tables differ, or None."""
    left = chain_deals[columns].sort_values("deal_id").reset_index(drop=True)
    right = memory_deals[columns].sort_values("deal_id").reset_index(drop=True)
    if len(left) != len(right):
        missing = set(left["deal_id"]) ^ set(right["deal_id"])
        return f"{len(left)} deals on chain, {len(right)} in memory; e.g. deal {sorted(missing)[0][:10]}"
    for column in columns:
        differs = ~((left[column] == right[column]) | (left[column].isna() & right[column].isna()))
        if differs.any():
            i = differs.idxmax()
            return (f"deal {left.loc[i, 'deal_id'][:10]}: {column} is {left.loc[i, column]!r} on chain, "
                    f"{right.loc[i, column]!r} in memory")
    return None


@pytest.mark.parametrize("scenario_name", ["default", "adversarial"])
def test_same_scenario_and_seed_give_the_same_deals_on_both_backends(chain, accounts, tmp_path, scenario_name):
    on_chain, in_memory = _both(chain, accounts, tmp_path, scenario_name)
    assert on_chain.summary["deals_settled"] > 0
    assert in_memory.summary["funds_conserved"] is True and in_memory.summary["deals_open"] == 0
    assert first_difference(on_chain.deals, in_memory.deals, OUTCOME_COLUMNS + TIMING_COLUMNS) is None
    messages = [pd.read_csv(result.run_dir / "messages.csv") for result in (on_chain, in_memory)]
    assert messages[0].equals(messages[1]), "the messages (block, log index, time, sender, terms) differ"
    # The column that differs, and only by its source: both count every deal's transactions.
    assert (on_chain.deals["gas"] > 0).any() and (in_memory.deals["gas"] > 0).any()
    assert on_chain.summary["gas_source"] == "receipts"
    assert in_memory.summary["gas_source"] == "gas table (gas-snapshot.json)"


def test_first_difference_names_the_deal_and_column():
    chain_deals = pd.DataFrame({"deal_id": ["0xaa", "0xbb"], "price": [1, 2]})
    assert first_difference(chain_deals, chain_deals.copy(), ["deal_id", "price"]) is None
    changed = chain_deals.assign(price=[1, 3])
    assert first_difference(chain_deals, changed, ["deal_id", "price"]) == (
        "deal 0xbb: price is 2 on chain, 3 in memory")
