"""`ape run train --role provider`: train a provider's pricing policy with CMA-ES, each candidate scored in
memory-backend runs of the training scenario as Ray tasks (agents/learning/train.py; README: Learning).
`--role client` trains a client's buying policy the same way, for its surplus, in train-client.

    ape run train --role provider                                 # 10 generations of 8, 8 seeds each: ~15 min, 2 cores
    ape run train --role provider --generations 2 --population 4 --seeds 1 --seeds-per-generation 1   # a smoke run
    ape run train --role provider --start policies/provider.json --ship   # resume: 10 more generations from it
    ape run train --role provider --start FILE --actions "offer at the max price" --fields is_counter,round   # a corner
    ape run train --role provider --out runs/train/try --address 10.0.0.5:6379                       # a Ray cluster

Writes policy.json, curve.csv, curve.png and final.csv into --out; `--ship` also copies the policy to
policies/provider.json (policies/client.json).
"""

import shutil
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from agents.cli import BadInput, OneLineErrors
from agents.learning.cli import parse_names, parse_seeds, progress_bar
from agents.learning.seeds import TRAINING_SEEDS

SHIPPED = "policies/{role}.json"


@click.command(cls=OneLineErrors)
@click.option("--role", type=click.Choice(["provider", "client"]), required=True, help="Whose policy to train.")
@click.option("--scenario", default=None,
              help="The training market: a scenario with a group of the role whose strategy is `learned` (a "
              "provider) or `learned-client` (a client): the seat. Default: train-provider or train-client.")
@click.option("--generations", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--population", type=click.IntRange(min=3), default=8, show_default=True)
@click.option("--seeds", default=f"{TRAINING_SEEDS[0]}-{TRAINING_SEEDS[-1]}", show_default=True,
              help="Training seeds (e.g. 1-8,12); never the held-out ones.")
@click.option("--seeds-per-generation", type=click.IntRange(min=1), default=8, show_default=True,
              help="Seeds each generation's candidates are scored on (the list taken in turn).")
@click.option("--objective", type=click.Choice(["sortino", "pnl", "surplus"]), default=None,
              help="A provider seat's mean Sortino ratio (default) or trading P&L over the seeds; a client seat's "
              "surplus (its only one).")
@click.option("--sigma", type=click.FloatRange(min=0, min_open=True), default=0.25, show_default=True,
              help="CMA-ES's initial step size.")
@click.option("--cma-seed", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--start", "start", default=None, type=click.Path(dir_okay=False),
              help="A policy file to start the search from (default: a provider at cost-plus 30%, "
              "policies/initial.json's; a client near the baseline client, policies/client-initial.json's).")
@click.option("--actions", default="", help="Search only these actions' weights and biases (comma-separated names, "
              "e.g. an action just added to the start's policy); every other number stays at the start's. "
              "Default: all.")
@click.option("--fields", default="", help="Search only the weights on these observation fields (comma-separated "
              "names); with --actions, only those actions' weights on them. Default: all.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Where to write (default: runs/train/ROLE).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Runs at once (default: this machine's cores, or the cluster's CPUs).")
@click.option("--address", default=None, help="Join this Ray cluster (host:port of its head) instead of a local Ray.")
@click.option("--ship", is_flag=True, help=f"Copy the trained policy to {SHIPPED.format(role='ROLE')}.")
def cli(role, scenario, generations, population, seeds, seeds_per_generation, objective, sigma, cma_seed, start,
        actions, fields, out_dir, workers, address, ship):
    from agents.learning.seat import SeatError
    from agents.learning.train import TrainConfig, confinement, start_name, train
    from agents.simulation.scenario import ScenarioError, load_scenario

    scenario = scenario or f"train-{role}"
    objective = objective or ("sortino" if role == "provider" else "surplus")
    out_dir = out_dir or f"runs/train/{role}"
    try:
        config = TrainConfig(role=role, scenario=scenario, generations=generations, population=population,
                             seeds=parse_seeds(seeds), seeds_per_generation=seeds_per_generation, sigma=sigma,
                             objective=objective, seed=cma_seed, start=Path(start) if start else None,
                             actions=parse_names(actions), fields=parse_names(fields),
                             out_dir=Path(out_dir), workers=workers,
                             address=address)
        config.check()
        from agents.learning.seat import seat_groups

        seat_groups(load_scenario(scenario), role)
    except (ValueError, ScenarioError, SeatError, click.BadParameter) as error:
        raise BadInput(str(error)) from error
    console = Console()
    console.print(f"[bold]training[/] the {role} seat of {scenario}: {generations} generations of {population} "
                  f"(+ the start), {seeds_per_generation} of {len(config.seeds)} training seeds each, "
                  f"objective {objective}, from {start_name(config)}"
                  + confinement(config))
    with progress_bar(console, "runs") as advance:
        outcome = train(config, progress=advance)
    table = Table(title=f"finalists on all {len(config.seeds)} training seeds (mean {objective})")
    table.add_column("policy")
    table.add_column("fitness", justify="right")
    for name, row in outcome.final.iterrows():
        table.add_row(name + (" (chosen)" if name == outcome.chosen else ""), f"{row['mean']:.3f}")
    console.print(table)
    console.print(f"{outcome.runs} runs in {outcome.seconds / 60:.1f} min")
    console.print(f"curve: {outcome.curve_csv}, {outcome.curve_png}")
    console.print(f"policy: {outcome.policy}")
    if ship:
        shipped = Path(SHIPPED.format(role=role))
        shipped.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(outcome.policy, shipped)
        console.print(f"shipped: {shipped}")
