"""What every agent of a process shares: the market backend (a node over JSON-RPC, or the market in memory)
with its event feed, the decoded ABIs and the addresses of one deployment
(`agents.deploy.addresses.Deployment`)."""

from __future__ import annotations

from dataclasses import dataclass

from agents.chain.abi import eas_abi, project_abi
from agents.chain.codec import ContractCodec
from agents.chain.rpc import RPCClient
from agents.deploy.addresses import Deployment
from agents.protocol import Domain
from agents.runtime.backend import ChainBackend, MarketBackend
from agents.runtime.feed import EventFeed


@dataclass
class MarketConnection:
    backend: MarketBackend
    deployment: Deployment
    market_codec: ContractCodec
    eas_codec: ContractCodec
    token_codec: ContractCodec

    @property
    def domain(self) -> Domain:
        return Domain(self.deployment.chain_id, self.deployment.market)

    @property
    def feed(self):
        return self.backend.feed

    @property
    def rpc(self) -> RPCClient:
        """The node's JSON-RPC client (a chain backend's only: node-specific calls, e.g. a test's evm_mine)."""
        return self.backend.rpc

    @classmethod
    def open(cls, url: str, deployment: Deployment, poll_interval: float = 0.005) -> "MarketConnection":
        rpc = RPCClient(url)
        market_codec, eas_codec = ContractCodec(project_abi("ComputeMarket")), ContractCodec(eas_abi("EAS"))
        token_codec = ContractCodec(project_abi("TestToken"))
        backend = ChainBackend(rpc, deployment.market, deployment.eas, deployment.token, market_codec, eas_codec,
                               token_codec)
        backend.feed = EventFeed(rpc, deployment.market, market_codec, from_block=deployment.block,
                                 poll_interval=poll_interval)
        return cls(backend, deployment, market_codec, eas_codec, token_codec)

    @classmethod
    def over(cls, backend: MarketBackend, deployment: Deployment) -> "MarketConnection":
        """A connection over a backend built elsewhere (the memory backend)."""
        return cls(backend, deployment, ContractCodec(project_abi("ComputeMarket")), ContractCodec(eas_abi("EAS")),
                   ContractCodec(project_abi("TestToken")))

    async def close(self) -> None:
        self.feed.stop()
        await self.backend.close()
