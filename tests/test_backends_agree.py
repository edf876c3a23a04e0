"""The same scenario and seed on both backends give the same deals.

The chain side runs as a chain-backed sweep cell does (agents.sweeps.backends.run_on_chain): on an anvil of its own,
fresh, with nothing from earlier tests in its state or its pool, mining a block's transactions in the order the
model submits them. The memory side then runs with the same deployment, starting from the block the chain run
started from (its number and time: deal ids hash the request, whose deadlines are chain times). The deals must be
equal column by column (agents.simulation.compare: deal id, client, provider, price, collateral, outcome, reason,
and the request, agreement and close times), and so must every message (block, log index, time, sender, terms).
The one column that cannot be equal, gas, is named in DIFFERING_COLUMNS with the reason.
"""

import asyncio

import pandas as pd
import pytest

from agents.deploy.addresses import Deployment
from agents.simulation.compare import DIFFERING_COLUMNS, first_difference
from agents.simulation.run import simulate
from agents.simulation.scenario import load_scenario
from agents.sweeps.backends import ANVIL_FIRST_KEY, run_on_chain


def _both(tmp_path, scenario_name: str):
    scenario = load_scenario(scenario_name)
    (tmp_path / "chain").mkdir()
    summary = run_on_chain(scenario, tmp_path / "chain")
    chain_dir = tmp_path / "chain" / f"{scenario.name}-seed{scenario.seed}"
    deployment = Deployment.load(chain_dir / "deployment.json")
    in_memory = asyncio.run(simulate(scenario, deployment=deployment, funder_key=ANVIL_FIRST_KEY,
                                     out_dir=tmp_path / "memory", backend="memory",
                                     head=(summary["head_block"], summary["head_time"])))
    return summary, chain_dir, in_memory


@pytest.mark.parametrize("scenario_name", ["default", "adversarial"])
def test_same_scenario_and_seed_give_the_same_deals_on_both_backends(tmp_path, scenario_name):
    chain_summary, chain_dir, in_memory = _both(tmp_path, scenario_name)
    chain_deals, memory_deals = (pd.read_csv(run_dir / "deals.csv") for run_dir in (chain_dir, in_memory.run_dir))
    assert chain_summary["deals_settled"] > 0
    assert in_memory.summary["funds_conserved"] is True and in_memory.summary["deals_open"] == 0
    assert first_difference(chain_deals, memory_deals) is None
    messages = [pd.read_csv(run_dir / "messages.csv") for run_dir in (chain_dir, in_memory.run_dir)]
    assert messages[0].equals(messages[1]), "the messages (block, log index, time, sender, terms) differ"
    # The column that cannot be equal, and why: each side names where its gas comes from.
    assert set(DIFFERING_COLUMNS) == {"gas"}
    assert (chain_deals["gas"] > 0).any() and (memory_deals["gas"] > 0).any()
    assert chain_summary["gas_source"] == "receipts"
    assert in_memory.summary["gas_source"] == "gas table (gas-snapshot.json)"


def test_first_difference_names_the_deal_and_column():
    columns = ["deal_id", "price"]
    chain_deals = pd.DataFrame({"deal_id": ["aa01", "bb02"], "price": [1, 2]})
    assert first_difference(chain_deals, chain_deals.copy(), columns) is None
    assert first_difference(chain_deals, chain_deals.assign(price=[1, 3]), columns) == (
        "deal bb02: price is 2 on chain, 3 in memory")
    assert "2 deals on chain, 1 in memory" in first_difference(chain_deals, chain_deals.iloc[:1], columns)
