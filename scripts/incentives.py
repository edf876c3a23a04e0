"""`ape run incentives`: does any deviation from the rules pay? Each one is played on a fresh local deployment
against honest play of the same deal; the last line is `profitable deviations: N` (the mechanism's claim: 0).

    ape run incentives
    ape run incentives --json        # the figures, for tools
    ape run incentives --markdown    # the table as README "Incentives" shows it
"""

import json

import click
from ape import accounts
from ape.cli import ConnectedProviderCommand
from rich.console import Console
from rich.table import Table

from agents.testing.incentives import Economy, payoff_table


@click.command(cls=ConnectedProviderCommand)
@click.option("--json", "as_json", is_flag=True, help="Print the payoffs as JSON instead of a table.")
@click.option("--markdown", is_flag=True, help="Print the table as Markdown.")
def cli(as_json: bool, markdown: bool):
    economy = Economy()
    console = Console(stderr=as_json or markdown)
    with console.status("") as status:
        rows = payoff_table(accounts.test_accounts, economy,
                            progress=lambda name: status.update(f"playing: {name}"))
    if as_json:
        click.echo(json.dumps([{
            "deviation": r.deviation.name, "deviators": list(r.deviation.deviators),
            "honest": r.payoff_honest, "deviating": r.payoff_deviating, "pays": r.pays,
            "outcome": r.deviating.status.name.lower(), "payoffs": r.deviating.payoffs,
        } for r in rows], indent=2))
    elif markdown:
        click.echo("| deviation | who | honest | deviating | deal ends |\n| --- | --- | ---: | ---: | --- |")
        for r in rows:
            click.echo(f"| {r.deviation.name} | {' + '.join(r.deviation.deviators)} | {r.payoff_honest:+.2f} | "
                       f"{r.payoff_deviating:+.2f} | {r.deviating.status.name.lower()} |")
    else:
        e = economy
        console.print(
            f"Terms: price {e.price}, collateral {e.collateral}, validator fee {e.validator_fee}, bond {e.bond}; "
            f"value of a correct result to the client {e.value:g}, compute cost {e.compute_cost:g}, "
            f"cost of checking {e.check_cost:g} (tokens; gas charged at {e.eth_price:,.0f} tokens/ETH). "
            "Payoff: what the party (or coalition) ends with minus what it started with.")
        table = Table(title="Payoff of each deviation against honest play")
        table.add_column("deviation")
        table.add_column("who")
        table.add_column("honest", justify="right")
        table.add_column("deviating", justify="right")
        table.add_column("deal ends")
        for r in rows:
            style = "bold red" if r.pays else None
            table.add_row(r.deviation.name, "+".join(r.deviation.deviators), f"{r.payoff_honest:+.2f}",
                          f"{r.payoff_deviating:+.2f}", r.deviating.status.name.lower(), style=style)
        console.print(table)
    unbalanced = [r.deviation.name for r in rows if not (r.honest.balanced and r.deviating.balanced)]
    if unbalanced:
        raise click.ClickException(f"tokens were created or left locked in: {', '.join(unbalanced)}")
    click.echo(f"profitable deviations: {sum(r.pays for r in rows)}")
