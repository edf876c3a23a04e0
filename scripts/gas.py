"""`ape run gas`: the gas of every scheme operation on a fresh local deployment with the real EAS bytecode.

The last line is `happy-path gas: N` for a full optimistic deal (request, one offer, accept, commencement and
completion attestations, settlement once the validation window passed in silence). `--update-snapshot` rewrites
gas-snapshot.json, which the tests compare against so that any regression fails a test. The disputes, appeals,
verdicts and court rulings of bonded judgement are measured after the rest (agents.testing.gas).
"""

import json
from pathlib import Path

import click
from ape import accounts
from ape.cli import ConnectedProviderCommand
from rich.console import Console
from rich.table import Table

from agents.testing.gas import HAPPY_PATH, measure

SNAPSHOT = Path(__file__).resolve().parent.parent / "gas-snapshot.json"


@click.command(cls=ConnectedProviderCommand)
@click.option("--update-snapshot", is_flag=True, help="Rewrite gas-snapshot.json with these figures.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON instead of a table.")
def cli(update_snapshot: bool, as_json: bool):
    report = measure(accounts.test_accounts)
    figures = {**report.operations, "happy path": report.happy_path}
    if as_json:
        click.echo(json.dumps(figures, indent=2))
    else:
        snapshot = json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {}
        table = Table(title="Gas per operation (anvil, real EAS bytecode, steady state)")
        table.add_column("operation")
        table.add_column("gas", justify="right")
        table.add_column("vs snapshot", justify="right")
        for name, gas in figures.items():
            delta = gas - snapshot[name] if name in snapshot else None
            marker = "" if delta is None else ("=" if delta == 0 else f"{delta:+,}")
            style = "bold" if name in HAPPY_PATH or name == "happy path" else None
            table.add_row(name, f"{gas:,}", marker, style=style)
        Console().print(table)
    if update_snapshot:
        SNAPSHOT.write_text(json.dumps(figures, indent=2) + "\n")
        click.echo(f"wrote {SNAPSHOT.name}")
    click.echo(f"happy-path gas: {report.happy_path}")
