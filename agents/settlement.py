"""Who pays whom when a deal closes: ComputeMarket's settlement rules, written once.

A closed deal moves tokens between its parties (`transfers`): the price to the provider, the collateral to the
client, the validator's fee, a bond to the court. Everything else a party had locked in the deal comes back to
it. So what the market credits each party when the deal closes (`credits`) is what it had locked (`locked`),
less what it paid, plus what it received.

Two readers: an agent's escrow book (agents.runtime.escrow), which credits its own balance from its dialogue,
and the run's report (agents.simulation.faults), which lists every transfer and what each fault cost. The
memory backend executes the contract's own functions instead (agents.memory.payouts), and the tests hold the
three together: the backends agree deal by deal, the agents' books match the escrow, and the report's
transfers add up to the change of each agent's holdings.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from agents.protocol import CloseReason, Status

COURT_RULINGS = (CloseReason.COURT_APPROVED, CloseReason.COURT_REJECTED)
VERDICTS_THAT_STOOD = (CloseReason.VERDICT_APPROVED, CloseReason.VERDICT_REJECTED)
# Nothing was agreed, or every party got back what it had locked: no transfer.
NOTHING_MOVES = (Status.CANCELLED, Status.UNFUNDED, Status.UNWOUND)


@dataclass(frozen=True)
class Closing:
    """A closed deal as its settlement sees it. Amounts are token units (ints in the agents' books) or whole
    tokens (floats in the report): the rules only add them up."""

    outcome: Status
    reason: CloseReason | None
    client: str
    provider: str | None
    price: int | float
    collateral: int | float
    validator_fee: int | float  # 0 without a validator
    bond: int | float
    validator: str | None = None
    verdict_approved: bool | None = None  # the validator's verdict, if it gave one
    disputant: str | None = None  # who took the result to the court (None for a validator's silence)
    # For an unfunded deal, which side had been locked: the client's (the provider's collateral was awaited)
    # or the provider's (the client's payment was awaited).
    client_side_locked: bool = True


@dataclass(frozen=True)
class Transfer:
    kind: str  # payment, slash, validator_fee, dispute_bond, validator_stake
    payer: str
    payee: str
    amount: int | float


def transfers(closing: Closing, court: str) -> list[Transfer]:
    """The tokens the closing moves between parties, in the contract's order (winner first)."""
    c = closing
    if c.reason is None or c.outcome in NOTHING_MOVES:
        return []
    moves = []

    def move(kind: str, payer: str, payee: str, amount) -> None:
        if amount:
            moves.append(Transfer(kind, payer, payee, amount))

    if c.outcome == Status.SETTLED:
        move("payment", c.client, c.provider, c.price)
    elif c.outcome == Status.SLASHED:
        move("slash", c.provider, c.client, c.collateral)
    if c.reason in COURT_RULINGS:
        disputant = _bond_poster(c)
        if c.validator is None:
            move("dispute_bond", disputant, court, c.bond)  # win or lose: the court is paid for ruling
        elif c.verdict_approved is not None and c.verdict_approved == (c.reason == CloseReason.COURT_APPROVED):
            # The court confirmed the validator: it earned its fee, and the disputant's bond pays the court.
            move("validator_fee", c.client, c.validator, c.validator_fee)
            move("dispute_bond", disputant, court, c.bond)
        else:  # overruled or silent: its stake pays the court, its fee and the disputant's bond go back
            move("validator_stake", c.validator, court, c.bond)
    elif c.validator is not None and c.reason in (*VERDICTS_THAT_STOOD, CloseReason.APPROVED):
        # A verdict that stood, or the client's own approval: it bought the check when it named the validator.
        move("validator_fee", c.client, c.validator, c.validator_fee)
    return moves


def locked(closing: Closing) -> Counter:
    """What each party had locked in the deal when it closed."""
    c, held = closing, Counter()
    if c.outcome == Status.CANCELLED:
        return held
    if c.outcome == Status.UNFUNDED:  # only the side that was not awaited had been locked
        if c.client_side_locked:
            held[c.client] += c.price + c.validator_fee
        else:
            held[c.provider] += c.collateral
    else:
        held[c.client] += c.price + c.validator_fee
        held[c.provider] += c.collateral
        if c.reason in COURT_RULINGS or c.outcome == Status.UNWOUND:
            poster = _bond_poster(c)
            if poster is not None:
                held[poster] += c.bond
    if c.validator is not None:
        held[c.validator] += c.bond  # its stake, locked at acceptance
    return held


def _bond_poster(c: Closing) -> str | None:
    """Who posted a bond to take the deal to the court: the disputant; without a validator only the client can
    dispute, so it is the client even where the dispute itself went unseen. None for a validator's silence."""
    return c.disputant or (c.client if c.validator is None else None)


def credits(closing: Closing, court: str) -> dict[str, int | float]:
    """What the market credits each party's escrow balance when the deal closes."""
    credited = locked(closing)
    for t in transfers(closing, court):
        credited[t.payer] -= t.amount
        credited[t.payee] += t.amount
    return {party: amount for party, amount in credited.items() if amount}
