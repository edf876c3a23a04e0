"""`ape run bench_engine` (`make bench-engine`): the bench market (scenarios/bench.yaml) on both backends in one
run.

- the chain backend at 10, 100 and 1000 agents, on an anvil of the benchmark's own (as `make bench-sim`);
- the memory backend at 100 agents, on the same deployment and from the block the chain's 100-agent run started
  from, so that the two runs can be compared deal for deal;
- the memory backend at 10,000 agents in a process of its own (agents.simulation.memory_run), whose peak memory
  is that run's alone.

Cost per deal is market seconds per settled deal; a ratio of 1 means a deal costs the same however large the
market. Printed, in this order:

    backends agree on deals: yes            (or: no, and the first difference)
    memory deals/s at 100 agents: X
    memory/chain speedup at 100 agents: X   (target >= 50)
    memory cost per deal 10000/100 agents: X  (target <= 1.25)
    chain cost per deal 1000/10 agents: X     (target <= 1.25)
    memory peak at 10000 agents: X GiB        (must stay under 8)
"""

import asyncio
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import click
from ape import accounts, chain, networks
from rich.console import Console

from agents.chain.anvil import Anvil
from agents.deploy.addresses import Deployment
from agents.deploy.system import deploy_system
from agents.simulation.compare import first_difference
from agents.simulation.run import simulate
from agents.simulation.scenario import load_scenario

GIB = 2**30


def _start_anvil() -> Anvil:
    """An anvil that keeps only recent states in memory (a thousand agents' blocks otherwise grow it past 20 GB) and
    mines a block's transactions in the order the model submits them (first in, first out, as the memory backend
    runs them: anvil's default orders by fee, and puts equal fees in an order of its own)."""
    try:
        return Anvil("--chain-id", "1337", "--prune-history", "64", "--silent", "--base-fee", "0",
                     "--gas-price", "0", "--order", "fifo", output=None)
    except RuntimeError as error:
        raise click.ClickException(str(error)) from error


def _sizes(value: str) -> list[int]:
    try:
        sizes = [int(s) for s in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of agent counts") from None
    if len(sizes) != 2 or min(sizes) < 1:
        raise click.BadParameter(f"give two agent counts, small,large (got {value!r})")
    return sizes


@click.command()
@click.option("--chain-sizes", default="10,1000", show_default=True,
              help="Chain runs compared for cost per deal (small,large); 100 agents always runs.")
@click.option("--memory-sizes", default="100,10000", show_default=True,
              help="Memory runs compared for cost per deal (small,large); the large one in a process of its own.")
@click.option("--out", "out_dir", default="runs/bench-engine", show_default=True, type=click.Path(file_okay=False))
def cli(chain_sizes: str, memory_sizes: str, out_dir: str):
    chain_small, chain_large = _sizes(chain_sizes)
    memory_small, memory_large = _sizes(memory_sizes)
    out = Path(out_dir)
    console = Console(stderr=True)
    base = load_scenario("bench")

    def scaled(size: int):
        return replace(base.scaled(size), seed=base.seed + size)  # a seed per size, as make bench-sim

    # The large memory run first, alone on the machine: its peak memory is its own process's.
    console.print(f"memory backend, {memory_large} agents (own process) ...")
    large_memory = _memory_run_in_own_process(memory_large, base.seed + memory_large, out / "memory")
    anvil = _start_anvil()
    try:
        with networks.parse_network_choice(f"ethereum:local:{anvil.url}"):
            funder = accounts.test_accounts[0]
            deployment = Deployment.from_system(deploy_system(funder, court=funder.address))
            on_chain = {}
            # 100 agents first, on the fresh market: the memory run that replays it starts from an empty one too.
            for size in [100, *sorted({chain_small, chain_large} - {100})]:
                console.print(f"chain backend, {size} agents ...")
                on_chain[size] = asyncio.run(simulate(
                    scaled(size), node_url=chain.provider.http_uri, deployment=deployment,
                    funder_key=funder.private_key, out_dir=out / "chain"))
    finally:
        anvil.stop(graceful=True)
    console.print("memory backend, 100 agents (the chain's 100-agent run, replayed) ...")
    reference = on_chain[100].summary
    at_100 = asyncio.run(simulate(scaled(100), deployment=deployment, funder_key=funder.private_key,
                                  out_dir=out / "memory", backend="memory",
                                  head=(reference["head_block"], reference["head_time"])))
    small_memory = at_100.summary if memory_small == 100 else asyncio.run(simulate(
        scaled(memory_small), funder_key=funder.private_key, out_dir=out / "memory", backend="memory")).summary

    difference = first_difference(on_chain[100].deals, at_100.deals)
    click.echo(f"backends agree on deals: {'yes' if difference is None else 'no: ' + difference}")
    click.echo(f"memory deals/s at 100 agents: {at_100.summary['deals_settled_per_s']:.1f}")
    speedup = at_100.summary["deals_settled_per_s"] / reference["deals_settled_per_s"]
    click.echo(f"memory/chain speedup at 100 agents: {speedup:.1f}")
    click.echo(f"memory cost per deal {memory_large}/{memory_small} agents: "
               f"{_cost_per_deal(large_memory) / _cost_per_deal(small_memory):.2f}")
    click.echo(f"chain cost per deal {chain_large}/{chain_small} agents: "
               f"{_cost_per_deal(on_chain[chain_large].summary) / _cost_per_deal(on_chain[chain_small].summary):.2f}")
    click.echo(f"memory peak at {memory_large} agents: {large_memory['peak_rss_bytes'] / GIB:.2f} GiB")
    for name, summary in [(f"chain {n}", on_chain[n].summary) for n in sorted(on_chain)] + [
            ("memory 100", at_100.summary), (f"memory {memory_large}", large_memory)]:
        console.print(f"  {name}: {summary['agents']} agents, {summary['deals_settled']} deals settled in "
                      f"{summary['market_seconds']:.1f} s ({summary['deals_settled_per_s']:.1f} deals/s)")


def _cost_per_deal(summary: dict) -> float:
    """Market seconds per settled deal."""
    return summary["market_seconds"] / summary["deals_settled"]


def _memory_run_in_own_process(size: int, seed: int, out: Path) -> dict:
    command = [sys.executable, "-m", "agents.simulation.memory_run", "--scenario", "bench", "--agents", str(size),
               "--seed", str(seed), "--out", str(out)]
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        raise click.ClickException(f"the {size}-agent memory run failed: {finished.stderr.strip()[-2000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])
