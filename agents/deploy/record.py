"""The deployments file of one chain (`deployments/<network>.json`): where it lives, and `Record`, which
holds it in memory and writes it back atomically after every change (see `agents.deploy.plan` for what
it records and why)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from agents.chain.abi import REPO_ROOT
from agents.deploy.addresses import Deployment

FORMAT = 1
DEPLOYMENTS_DIR = REPO_ROOT / "deployments"
# Tests (and anyone keeping records elsewhere) point this at another folder.
DEPLOYMENTS_DIR_ENV = "COMPUTE_MARKET_DEPLOYMENTS_DIR"


class DeployError(Exception):
    """Bad input or an unexpected chain: reported as is, after changing nothing."""


def deployments_dir() -> Path:
    return Path(os.environ.get(DEPLOYMENTS_DIR_ENV) or DEPLOYMENTS_DIR)


def network_file_name(ecosystem: str, network: str, chain_id: int) -> str:
    """`base-sepolia`, `optimism-sepolia`, `arbitrum-sepolia`, `sepolia`; local and ad-hoc networks carry
    their chain id, since many unrelated chains share those names."""
    name = network if ecosystem == "ethereum" else f"{ecosystem}-{network}"
    if network in ("local", "custom") or network.startswith("local"):
        name = f"{name}-{chain_id}"
    return name


def deployments_path(ecosystem: str, network: str, chain_id: int) -> Path:
    return deployments_dir() / f"{network_file_name(ecosystem, network, chain_id)}.json"


def deployments_path_for(provider) -> Path:
    """The deployments file of the network an Ape provider is connected to."""
    net = provider.network
    return deployments_path(net.ecosystem.name, net.name, node_chain_id(provider))


def node_chain_id(provider) -> int:
    """The chain id the node reports. Ape's own `provider.chain_id` is the configured one, which for
    `ethereum:local:<url>` is 1337 whatever the node is (anvil: 31337)."""
    return int(provider.make_request("eth_chainId", []), 16)


@dataclass
class Record:
    """The deployments file of one chain, held in memory and written back after every change."""

    path: Path
    data: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, chain_id: int, network: str) -> "Record":
        path = Path(path)
        if not path.exists():
            return cls(path, {"format": FORMAT, "chain_id": chain_id, "network": network, "contracts": {},
                              "schemas": {}, "token": None, "pending": None, "deployment": None})
        try:
            data = json.loads(path.read_text())
        except ValueError as error:
            raise DeployError(f"{path} is not valid JSON ({error}); fix or move it away") from error
        if not isinstance(data, dict) or data.get("format") != FORMAT or "contracts" not in data:
            raise DeployError(f"{path} is not a deployments file of format {FORMAT}; fix or move it away")
        if data.get("chain_id") != chain_id:
            raise DeployError(f"{path} records chain id {data.get('chain_id')}, but the node is chain {chain_id}: "
                              "wrong --network or RPC URL?")
        return cls(path, data)

    @property
    def contracts(self) -> dict:
        return self.data["contracts"]

    def address(self, name: str) -> str | None:
        entry = self.contracts.get(name)
        return entry["address"] if entry else None

    def save(self) -> None:
        """Atomically: a kill mid-write leaves the previous complete file."""
        self.data["updated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        with open(temporary, "w") as handle:
            handle.write(json.dumps(self.data, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)


def to_deployment(data: dict) -> Deployment:
    """The `Deployment` agents use, from a deployments file's content (`Deployment.load(path)` reads the
    file itself)."""
    return Deployment.from_json(json.dumps(data))
