"""The same scenario and seed on both backends give the same deals.

Each test deploys a fresh market (no earlier deals for the agents to replay), runs the scenario on the chain, then
on the memory backend with the same deployment, starting from the block the chain run started from (its number
and time: deal ids hash the request, whose deadlines are chain times). The deals must be equal column by column
(agents.simulation.compare: deal id, client, provider, price, collateral, outcome, reason, and the request,
agreement and close times), and so must every message (block, log index, time, sender, terms). The one column
that cannot be equal, gas, is named in DIFFERING_COLUMNS with the reason.
"""

import asyncio

import pandas as pd
import pytest

from agents.deploy.addresses import Deployment
from agents.deploy.system import deploy_system
from agents.simulation.compare import DIFFERING_COLUMNS, first_difference
from agents.simulation.run import simulate
from agents.simulation.scenario import load_scenario


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


@pytest.mark.parametrize("scenario_name", ["default", "adversarial"])
def test_same_scenario_and_seed_give_the_same_deals_on_both_backends(chain, accounts, tmp_path, scenario_name):
    on_chain, in_memory = _both(chain, accounts, tmp_path, scenario_name)
    assert on_chain.summary["deals_settled"] > 0
    assert in_memory.summary["funds_conserved"] is True and in_memory.summary["deals_open"] == 0
    assert first_difference(on_chain.deals, in_memory.deals) is None
    messages = [pd.read_csv(result.run_dir / "messages.csv") for result in (on_chain, in_memory)]
    assert messages[0].equals(messages[1]), "the messages (block, log index, time, sender, terms) differ"
    # The column that cannot be equal, and why: each side names where its gas comes from.
    assert set(DIFFERING_COLUMNS) == {"gas"}
    assert (on_chain.deals["gas"] > 0).any() and (in_memory.deals["gas"] > 0).any()
    assert on_chain.summary["gas_source"] == "receipts"
    assert in_memory.summary["gas_source"] == "gas table (gas-snapshot.json)"


def test_first_difference_names_the_deal_and_column():
    columns = ["deal_id", "price"]
    chain_deals = pd.DataFrame({"deal_id": ["aa01", "bb02"], "price": [1, 2]})
    assert first_difference(chain_deals, chain_deals.copy(), columns) is None
    assert first_difference(chain_deals, chain_deals.assign(price=[1, 3]), columns) == (
        "deal bb02: price is 2 on chain, 3 in memory")
    assert "2 deals on chain, 1 in memory" in first_difference(chain_deals, chain_deals.iloc[:1], columns)
