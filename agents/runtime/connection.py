"""What every agent of a process shares: the RPC client, the event feed, the decoded ABIs and the
addresses of one deployment."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from agents.chain.abi import eas_abi, project_abi
from agents.chain.codec import ContractCodec
from agents.chain.rpc import RPCClient
from agents.protocol import Domain
from agents.runtime.feed import EventFeed


@dataclass(frozen=True)
class Deployment:
    """Addresses of one deployment of the system on one chain."""

    chain_id: int
    market: str
    eas: str
    registry: str
    token: str
    block: int  # the market's deployment block: history starts here
    commencement_schema: str
    completion_schema: str
    validation_schema: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "Deployment":
        """From this class's own JSON or from a deployments file (`ape run deploy`), which carries these
        fields in its `deployment` object."""
        data = json.loads(text)
        if "contracts" in data:
            if not data.get("deployment"):
                raise ValueError("this deployments file records no complete deployment with a payment token yet: "
                                 "run `ape run deploy` (with --with-test-token or --token) first")
            data = data["deployment"]
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> "Deployment":
        return cls.from_json(Path(path).read_text())

    @classmethod
    def from_system(cls, system) -> "Deployment":
        """From an Ape-deployed `agents.deploy.system.System`."""
        market = system.market
        creation = market.creation_metadata  # Ape's record of the deploying transaction
        block = creation.block if creation is not None and creation.block is not None else 0
        return cls(
            chain_id=market.provider.chain_id,
            market=market.address,
            eas=system.eas.address,
            registry=system.registry.address,
            token=system.token.address,
            block=block,
            commencement_schema="0x" + bytes(market.commencementSchemaUID()).hex(),
            completion_schema="0x" + bytes(market.completionSchemaUID()).hex(),
            validation_schema="0x" + bytes(market.validationSchemaUID()).hex(),
        )


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
