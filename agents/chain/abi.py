"""ABIs of the deployed contracts as plain JSON lists, for the chain layer's codec: the project's from Ape's
build, EAS's from its npm package's artifacts. Agents do not go through Ape's high-level call path, which
is far too slow for them (see the transaction rates in the README)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
EAS_PACKAGE = REPO_ROOT / "node_modules" / "@ethereum-attestation-service" / "eas-contracts"


MANIFEST = REPO_ROOT / ".build" / "__local__.json"  # Ape's compiled manifest (ape-config.yaml: contracts/)
CONTRACTS = REPO_ROOT / "contracts"


@cache
def project_abi(contract_name: str) -> list[dict]:
    """ABI of one of the project's contracts, from Ape's compiled manifest (compiling on first use).

    Read straight from the manifest file when it is newer than every contract source: importing Ape to read it
    takes about a second, which a memory-backed market (a learning episode) would otherwise start with."""
    fresh = _fresh_manifest()
    if fresh is not None and contract_name in fresh:
        return fresh[contract_name]["abi"]
    from ape import project

    container = getattr(project, contract_name)
    return [entry.model_dump(mode="json", by_alias=True) for entry in container.contract_type.abi]


@cache
def _fresh_manifest() -> dict | None:
    """The manifest's contract types, if it was written after the last change to any contract source."""
    try:
        built = MANIFEST.stat().st_mtime
        if any(source.stat().st_mtime >= built for source in CONTRACTS.rglob("*.sol")):
            return None
        return json.loads(MANIFEST.read_text()).get("contractTypes")
    except (OSError, ValueError):
        return None


def eas_artifact_json(name: str) -> dict:
    """The compiled artifact of an EAS contract ("EAS" or "SchemaRegistry") shipped in the npm package."""
    path = EAS_PACKAGE / "artifacts" / "contracts" / f"{name}.sol" / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make setup` to install the npm packages")
    return json.loads(path.read_text())


@cache
def eas_abi(contract_name: str) -> list[dict]:
    """ABI of "EAS" or "SchemaRegistry" from the npm package's artifacts."""
    return eas_artifact_json(contract_name)["abi"]
