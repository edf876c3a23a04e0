"""What the stepped model needs of the market beneath it, beyond what agents need (the runtime's backend): opening
it, mining a block at the model's time, an outage, the knowledge every agent can read (history, directory), the
token totals and balances the report and the collector read, and closing it.

`ChainMarket` runs on a node (anvil or any JSON-RPC chain whose blocks the model may mine), `MemoryMarket`
(agents.simulation.memory_market) on the market in memory. `market_for` picks one by name.
"""

from __future__ import annotations

import asyncio

from eth_account import Account

from agents.chain.abi import eas_abi, project_abi
from agents.chain.calls import call, call_batch
from agents.chain.codec import ContractCodec
from agents.chain.rpc import RetryPolicy, RPCClient, RPCError
from agents.chain.sync import SyncClient
from agents.deploy.addresses import Deployment
from agents.knowledge.directory import ServiceDirectory, ensure_profile_schema
from agents.knowledge.history import ChainHistory
from agents.oracles.feeds import GasOracle
from agents.runtime.backend import ChainBackend
from agents.runtime.connection import MarketConnection
from agents.simulation.proxy import FaultyRPCProxy

# The chain time a simulation's deployment starts at, whatever compiling and deploying took: the same seed gives
# the same chain, block for block, on every run (the first after an install too), on either backend.
CLOCK_START = 2_000_000_000

SIMULATED_BLOCK_GAS_LIMIT = 10**12
# The simulated RPC fails fast: a step must not stall for long on an outage the scenario planned.
AGENT_RETRY = RetryPolicy(attempts=3, first_delay=0.02, max_delay=0.1)
BACKENDS = ("chain", "memory")


class ChainMarket:
    """A deployed market on a node. Agents reach it through a proxy that can simulate an outage; the model's own
    calls (mining, funding, the collector's reads) go to the node directly."""

    name = "chain"
    job_runner = None  # every job runs for real
    work_inline = False  # agents wait for the node and for their jobs on threads (agents.roles.io.blocking)

    def __init__(self, node_url: str, deployment: Deployment, funder_key: str):
        self.node_url = node_url
        self.deployment = deployment
        self.funder_key = funder_key
        self.direct = RPCClient(node_url)
        self.proxy = FaultyRPCProxy(node_url)
        # The model's own transactions and reads: straight to the node, never through the outage proxy.
        self.own = ChainBackend(self.direct, deployment.market, deployment.eas, deployment.token,
                                ContractCodec(project_abi("ComputeMarket")), ContractCodec(eas_abi("EAS")),
                                ContractCodec(project_abi("TestToken")))

    async def open(self, base_fee_wei: int) -> MarketConnection:
        """Connect the agents, register the directory's schema, and take over mining: automine off, blocks as
        large as a round needs, the base fee held at `base_fee_wei`."""
        proxy_url = await self.proxy.start()
        connection = MarketConnection.open(proxy_url, self.deployment)
        connection.rpc.retry = AGENT_RETRY
        self.node = SyncClient.connect(self.node_url)
        # The directory's schema is registered once per chain (a transaction that waits for its receipt). Its
        # block is automined one second after the last, not at the node's wall clock: the run's start time,
        # and with it every deal id, must not depend on how long the steps before took.
        await self.direct.call("anvil_setBlockTimestampInterval", [1])
        try:
            await asyncio.to_thread(ensure_profile_schema, self.node, self.deployment.registry,
                                    Account.from_key(self.funder_key))
        finally:
            await self.direct.call("anvil_removeBlockTimestampInterval", [])
        # From here on the model mines every block, at times it chooses: nothing else may mine meanwhile.
        await self.direct.call("evm_setAutomine", [False])
        # A round of the market is one block, however many agents act in it (a thousand agents' round is
        # far more than a real block's 30M gas): the simulated chain's blocks are as large as rounds need.
        await self.direct.call("evm_setBlockGasLimit", [hex(SIMULATED_BLOCK_GAS_LIMIT)])
        # Such blocks are never full and EIP-1559 would lower the base fee each block: the model holds it.
        history = await self.direct.call("eth_feeHistory", [1, "latest", []])
        self.base_fee_before = int(history["baseFeePerGas"][-1], 16)  # given back at close: the chain is shared
        self.base_fee_wei = base_fee_wei
        await self._hold_base_fee()
        return connection

    async def latest_time(self) -> int:
        block = await self.direct.call("eth_getBlockByNumber", ["latest", False])
        return int(block["timestamp"], 16)

    def gas_source(self, min_priority_fee_wei: int):
        # Gas fees are the chain's, from the latest block (older ones may hold the deployment's, tipped
        # otherwise): the base fee held, and the tip the agents pay.
        return GasOracle(self.node, block_count=1, min_priority_fee_wei=min_priority_fee_wei)

    async def court(self) -> str:
        codec = self.own.market_codec
        (court,) = codec.decode_result("court", await call(self.direct, self.deployment.market,
                                                           codec.encode_call("court")))
        return court

    async def give_gas_money(self, addresses: list[str]) -> None:
        for address in addresses:
            await self.direct.call("anvil_setBalance", [address, hex(100 * 10**18)])

    async def block_number(self) -> int:
        return int(await self.direct.call("eth_blockNumber"), 16)

    async def mine_block(self, timestamp: int) -> int:
        """Mine the submitted transactions into one block at `timestamp` (later if the node is ahead); returns
        the block's time."""
        try:
            await self.direct.call("evm_setNextBlockTimestamp", [timestamp])
        except RPCError:
            # The node's clock is ahead of ours (a chain another run rewound and replayed on): go past it.
            timestamp = max(timestamp, await self.latest_time() + 1)
            await self.direct.call("evm_setNextBlockTimestamp", [timestamp])
        await self.direct.call("evm_mine")
        await self._hold_base_fee()
        return timestamp

    async def _hold_base_fee(self) -> None:
        await self.direct.call("anvil_setNextBlockBaseFeePerGas", [hex(self.base_fee_wei)])

    def set_outage(self, down: bool) -> None:
        self.proxy.down = down

    @property
    def refused_in_outages(self) -> int:
        return self.proxy.refused

    def knowledge(self, first_block: int):
        """(history, directory) of the market since `first_block`, read from the chain."""
        directory = ServiceDirectory(self.node, self.deployment.eas, market=self.deployment.market)
        history = ChainHistory(self.node, self.deployment.market, self.deployment.eas, from_block=first_block)
        return history, directory

    async def token_totals(self, addresses: list[str]) -> tuple[int, int, int]:
        """(sum of the accounts' wallet balances + the market's balance, the market's balance, what it owes)."""
        token, market, codec = self.deployment.token, self.deployment.market, self.own.token_codec
        calls = [(token, codec.encode_call("balanceOf", address)) for address in [*addresses, market]]
        calls.append((market, self.own.market_codec.encode_call("totalOwed", token)))
        values = [int.from_bytes(v, "big") for v in await call_batch(self.direct, calls)]
        return sum(values[:-1]), values[-2], values[-1]

    async def balances(self, addresses: list[str]) -> list[tuple[int, int]]:
        return await self.own.balances(self.deployment.token, addresses)

    def request_counts(self, connection: MarketConnection) -> dict:
        return dict((connection.rpc.calls + self.direct.calls).most_common())

    async def close(self, connection: MarketConnection) -> None:
        await self.direct.call("evm_setAutomine", [True])
        await self.direct.call("anvil_setNextBlockBaseFeePerGas", [hex(self.base_fee_before)])
        await connection.close()
        await self.direct.close()
        await self.proxy.stop()


def market_for(backend: str, *, node_url: str | None, deployment: Deployment | None, funder_key: str,
               head: tuple[int, int] | None = None):
    """The stepped market of a backend name ("chain": on the node at `node_url`; "memory": in this process, from
    the chain state `head`, (block number, time): see MemoryMarket)."""
    if backend == "chain":
        return ChainMarket(node_url, deployment, funder_key)
    if backend == "memory":
        from agents.simulation.memory_market import MemoryMarket
        return MemoryMarket(funder_key, deployment=deployment, head=head)
    raise ValueError(f"no backend {backend!r}: use one of {', '.join(BACKENDS)}")
