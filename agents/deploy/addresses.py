"""The addresses of one deployment of the system on one chain: what agents, simulations and reports need
to find the market, EAS, the schema registry, the payment token, the market's schemas and its court."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from eth_utils import to_checksum_address


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
    # The market's court (the top of its appeal chain) and the seconds it has to rule; None where a record
    # written before markets had a court is loaded (`with_court` reads them from the market).
    court: str | None = None
    court_window: int | None = None

    def with_court(self, client) -> "Deployment":
        """This deployment with the court and its window read from the market (its `court()` and `courtWindow()`
        views, through an `agents.chain.sync.SyncClient`) unless already known."""
        if self.court is not None and self.court_window is not None:
            return self
        court = client.call_function(self.market, "court()", returns=["address"])[0]
        window = client.call_function(self.market, "courtWindow()", returns=["uint24"])[0]
        return replace(self, court=to_checksum_address(court), court_window=window)

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
            court=market.court(),
            court_window=market.courtWindow(),
        )
