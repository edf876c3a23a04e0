"""One memory-backend run of a scenario in a process of its own, for measurements that must see that run alone
(its peak memory): `python -m agents.simulation.memory_run --scenario bench --agents 10000 --out DIR` prints one
JSON line, the run's headline figures and the process's peak resident memory.

No node and no Ape: the funder is the first account of the default test mnemonic's keys, as `ape run simulate`
uses it on a fresh anvil.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
from dataclasses import replace
from pathlib import Path

from agents.simulation.run import simulate
from agents.simulation.scenario import ScenarioError, load_scenario

# Anvil's (and Ape's default test mnemonic's) first account: the funder and court of a fresh local deployment.
FIRST_TEST_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
HEADLINE = ("agents", "deals_settled", "market_seconds", "deals_settled_per_s", "funds_conserved", "deals_open")


def peak_rss_bytes() -> int:
    """This process's peak resident memory (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="bench")
    parser.add_argument("--agents", type=int, default=None, help="scale the scenario to about this many agents")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", default="runs/memory")
    args = parser.parse_args(argv)
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    if args.agents is not None:
        scenario = scenario.scaled(args.agents)
    if args.seed is not None:
        scenario = replace(scenario, seed=args.seed)
    result = asyncio.run(simulate(scenario, funder_key=FIRST_TEST_KEY, out_dir=Path(args.out), backend="memory"))
    figures = {key: result.summary[key] for key in HEADLINE}
    print(json.dumps({**figures, "peak_rss_bytes": peak_rss_bytes(), "run_dir": str(result.run_dir)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
