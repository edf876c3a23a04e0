"""The tests' own anvil (agents.chain.anvil): it chooses its port itself, so anvils started together
(here, or by other test runs on the machine) never race for one, and it is ready only once it is alive and
answers on that port with the chain id it was given."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from agents.chain.anvil import Anvil


def test_anvils_started_together_each_answer_on_their_own_port_with_their_own_chain_id():
    chain_ids = [1001, 1002, 1003, 1004]
    with ThreadPoolExecutor(len(chain_ids)) as pool:
        nodes = list(pool.map(lambda chain_id: Anvil("--chain-id", str(chain_id), "--silent"), chain_ids))
    try:
        assert len({node.port for node in nodes}) == len(nodes)
        assert [int(node.rpc("eth_chainId"), 16) for node in nodes] == chain_ids
        assert all(node.url == f"http://127.0.0.1:{node.port}" for node in nodes)
    finally:
        for node in nodes:
            node.stop()


def test_an_anvil_that_exits_is_reported_as_exited():
    with pytest.raises(RuntimeError, match="exited"):
        Anvil("--no-such-option")
