"""What every agent of a process shares: the RPC client, the event feed, the decoded ABIs and the
addresses of one deployment (`agents.deploy.addresses.Deployment`)."""

from __future__ import annotations

from dataclasses import dataclass

from agents.chain.abi import eas_abi, project_abi
from agents.chain.codec import ContractCodec
from agents.chain.rpc import RPCClient
from agents.deploy.addresses import Deployment
from agents.protocol import Domain
from agents.runtime.feed import EventFeed


@dataclass
class MarketConnection:
    rpc: RPCClient
    deployment: Deployment
    feed: EventFeed
    market_codec: ContractCodec
    eas_codec: ContractCodec
    token_codec: ContractCodec

    @property
    def domain(self) -> Domain:
        return Domain(self.deployment.chain_id, self.deployment.market)

    @classmethod
    def open(cls, url: str, deployment: Deployment, poll_interval: float = 0.005) -> "MarketConnection":
        rpc = RPCClient(url)
        market_codec = ContractCodec(project_abi("ComputeMarket"))
        feed = EventFeed(rpc, deployment.market, market_codec, from_block=deployment.block, poll_interval=poll_interval)
        return cls(
            rpc=rpc,
            deployment=deployment,
            feed=feed,
            market_codec=market_codec,
            eas_codec=ContractCodec(eas_abi("EAS")),
            token_codec=ContractCodec(project_abi("TestToken")),
        )

    async def close(self) -> None:
        self.feed.stop()
        await self.rpc.close()
