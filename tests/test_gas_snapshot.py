"""Gas is deterministic, so any change to it must be deliberate: `make gas-snapshot` rewrites the snapshot.

The measurement runs `ape run gas` as a real subprocess on its own fresh anvil, because the figures depend
on a pristine chain (fixed clock, fresh deployment), not on the state the other tests leave behind.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = json.loads((ROOT / "gas-snapshot.json").read_text())
OFFER_LIMIT = 40_000  # each negotiation message, from the contracts issue


# What Ape says when the anvil it started did not answer in time: the node's start-up, not the gas, failed.
NODE_DID_NOT_START = "Timed out waiting for successful RPC connection"


def _measure() -> dict[str, int]:
    ape = Path(sys.executable).with_name("ape")
    for _ in range(3):  # a node that did not start is started again; any other failure fails the test
        result = subprocess.run(
            [str(ape), "run", "gas", "--json", "-v", "WARNING"], cwd=ROOT, capture_output=True, text=True,
            timeout=600, env=os.environ
        )
        if result.returncode == 0 or NODE_DID_NOT_START not in result.stdout + result.stderr:
            break
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("happy-path gas: ")
    start = next(i for i, line in enumerate(lines) if line.startswith("{"))
    end = max(i for i, line in enumerate(lines) if line.startswith("}"))
    figures = json.loads("\n".join(lines[start : end + 1]))
    assert int(lines[-1].split(": ")[1]) == figures["happy path"]
    return figures


def test_gas_matches_snapshot():
    figures = _measure()
    changed = {name: (SNAPSHOT.get(name), gas) for name, gas in figures.items() if SNAPSHOT.get(name) != gas}
    assert not changed, f"gas changed (snapshot, now): {changed}; run `make gas-snapshot` if this is intended"
    assert set(figures) == set(SNAPSHOT)


def test_negotiation_messages_fit_their_budget():
    assert SNAPSHOT["offer"] <= OFFER_LIMIT
    assert SNAPSHOT["counter-offer (client)"] <= OFFER_LIMIT
