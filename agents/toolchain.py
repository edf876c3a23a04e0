"""The project's own tools for any `ape` command run from a plain shell in the checkout: anvil, forge and cast from
node_modules/.bin and the pinned solc in tools/solc come before whatever else is on PATH, as the Makefile arranges
for `make` targets. Nothing is installed or downloaded here; folders that do not exist are left out."""

from __future__ import annotations

import os
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def use_project_toolchain(environ=os.environ) -> None:
    folders = [CHECKOUT / "tools" / "solc", CHECKOUT / "node_modules" / ".bin"]
    present = [str(folder) for folder in folders if folder.is_dir()]
    current = environ.get("PATH", "").split(os.pathsep)
    environ["PATH"] = os.pathsep.join([*present, *(p for p in current if p not in present)])
    solcx = CHECKOUT / "tools" / "solc" / "solcx"
    if solcx.is_dir():
        # py-solc-x (ape-solidity) takes solc-v<version> from here instead of downloading a compiler.
        environ.setdefault("SOLCX_BINARY_PATH", str(solcx))
