"""What deployment knows about the contracts it deploys: compiled artifacts (ours from Ape's project,
EAS's from its npm package), canonical EAS deployments, the addresses CREATE gives, and matching code
read from a chain against compiled code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import rlp
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from agents.chain.abi import EAS_PACKAGE
from agents.deploy.system import eas_artifact

TEST_TOKEN_ARGS = ("Test USD", "tUSD", 18)


@cache
def canonical_eas() -> dict[int, dict[str, str]]:
    """chain id -> {"network", "EAS", "SchemaRegistry"} from the EAS package's deployments folder."""
    found: dict[int, dict[str, str]] = {}
    for folder in sorted((EAS_PACKAGE / "deployments").glob("*/")):
        chain_file = folder / ".chainId"
        if not chain_file.exists():
            continue
        try:
            entry = {"network": folder.name}
            for name in ("EAS", "SchemaRegistry"):
                entry[name] = to_checksum_address(json.loads((folder / f"{name}.json").read_text())["address"])
        except (OSError, KeyError, ValueError):
            continue  # a network without both contracts is not a usable EAS deployment
        found[int(chain_file.read_text().strip())] = entry
    return found


@dataclass(frozen=True)
class Artifact:
    name: str
    contract_type: Any  # ethpm_types.ContractType
    source: str  # where the code comes from, recorded as the contract's provenance

    @property
    def runtime(self) -> bytes:
        return bytes.fromhex(self.contract_type.runtime_bytecode.bytecode.removeprefix("0x"))

    @property
    def code_hash(self) -> str:
        return "0x" + keccak(self.runtime).hex()


@cache
def _eas_package_version() -> str:
    return json.loads((EAS_PACKAGE / "package.json").read_text())["version"]


def artifact(name: str) -> Artifact:
    if name in ("EAS", "SchemaRegistry"):
        package = f"@ethereum-attestation-service/eas-contracts@{_eas_package_version()}"
        return Artifact(name, eas_artifact(name), package)
    from ape import project  # compiles contracts/ on first use

    return Artifact(name, getattr(project, name).contract_type, "contracts/")


def immutable_offsets(code: bytes) -> list[int]:
    """Where solc left a zero PUSH32 operand in runtime code: immutables, filled in at construction."""
    zero = bytes(32)
    return [i + 1 for i in range(len(code) - 32) if code[i] == 0x7F and code[i + 1 : i + 33] == zero]


def code_matches(onchain: bytes, compiled: bytes) -> bool:
    """Whether code read from the chain is this compiled runtime code, immutables aside."""
    if not onchain or len(onchain) != len(compiled):
        return False
    a, b = bytearray(onchain), bytearray(compiled)
    for offset in immutable_offsets(compiled):
        a[offset : offset + 32] = b[offset : offset + 32]
    return a == b


def create_address(sender: str, nonce: int) -> str:
    """The address a contract created by `sender`'s transaction with this nonce gets (CREATE)."""
    return to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


def eas_stub(registry: str) -> str:
    """Runtime code answering every call with `registry`: enough of EAS for the market's constructor
    (it only asks for the registry) when estimating gas before EAS exists."""
    return "0x73" + registry[2:].lower() + "60005260206000f3"


def initcode(name: str, args: tuple) -> bytes:
    """Creation code of contract `name` with its ABI-encoded constructor arguments."""
    ct = artifact(name).contract_type
    code = bytes.fromhex(ct.deployment_bytecode.bytecode.removeprefix("0x"))
    inputs = ct.constructor.inputs if ct.constructor else []
    if not inputs:
        return code
    return code + abi_encode([i.canonical_type for i in inputs], list(args))
