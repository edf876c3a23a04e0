"""ABIs of the deployed contracts as plain JSON lists, for web3.py and eth-abi, without Ape's high-level
call path (which is far too slow for agents: see the transaction rates in the README)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from agents.deployment import EAS_PACKAGE

BUILD_MANIFEST = Path(__file__).resolve().parent.parent / ".build" / "__local__.json"


@cache
def project_abi(contract_name: str) -> list[dict]:
    """ABI of one of the project's contracts, from Ape's compiled manifest (compiling on first use)."""
    from ape import project

    container = getattr(project, contract_name)
    return [entry.model_dump(mode="json", by_alias=True) for entry in container.contract_type.abi]


@cache
def eas_abi(contract_name: str) -> list[dict]:
    """ABI of "EAS" or "SchemaRegistry" from the npm package's artifacts."""
    path = EAS_PACKAGE / "artifacts" / "contracts" / f"{contract_name}.sol" / f"{contract_name}.json"
    return json.loads(path.read_text())["abi"]
