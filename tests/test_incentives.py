"""The mechanism's claim, played with real transactions: no deviation from the rules leaves the deviating party
(or a colluding pair) as well off as honest play, and every deal ends with nothing left locked."""

import pytest

from agents.protocol import Status
from agents.testing.incentives import DEVIATIONS, Economy, payoff_table


@pytest.fixture(scope="module")
def rows(accounts):
    return payoff_table(accounts, Economy())


def test_no_deviation_pays(rows):
    paying = [(r.deviation.name, r.payoff_honest, r.payoff_deviating) for r in rows if r.pays]
    assert paying == []
    assert len(rows) == len(DEVIATIONS)


def test_every_world_ends_terminal_with_nothing_locked(rows):
    for row in rows:
        for outcome in (row.honest, row.deviating):
            assert outcome.status.is_terminal, row.deviation.name
            assert outcome.balanced, row.deviation.name


def test_the_victims_are_made_whole_by_the_court(rows):
    """Collusion with a validator is undone on appeal: the wronged party ends where honest play leaves it, less
    only the gas of its appeal (its bond comes back)."""
    by_name = {r.deviation.name: r for r in rows}
    rejected = by_name["client + validator reject a correct result"]
    passed = by_name["provider + validator pass a wrong result"]
    assert rejected.deviating.status == Status.SETTLED
    assert rejected.honest.payoffs["provider"] - rejected.deviating.payoffs["provider"] < 0.5
    assert passed.deviating.status == Status.SLASHED
    # The client got its price, the fee and the provider's collateral back: better than paying for garbage.
    assert passed.deviating.payoffs["client"] > Economy().collateral - 1


def test_the_court_is_paid_one_bond_per_ruling(rows):
    by_name = {r.deviation.name: r for r in rows}
    for name in ("client disputes a correct result", "validator rejects a correct result",
                 "validator stays silent", "client appeals a correct approval", "provider delivers a wrong result"):
        assert by_name[name].deviating.tokens["court"] == Economy().bond, name
    assert by_name["provider never delivers"].deviating.tokens["court"] == 0
