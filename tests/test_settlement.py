"""The settlement rules the agents' books and the report read (agents.settlement) against the contract's own payout
functions, as the memory backend executes them (agents.memory.payouts): every way a deal can close credits every
party the same, and the transfers between parties add up to nothing."""

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.memory.deal import Deal
from agents.memory.evm import ZERO_ADDRESS
from agents.memory.payouts import Payouts
from agents.protocol import CloseReason, Status, Verdict
from agents.settlement import Closing, credits, transfers

CLIENT, PROVIDER, VALIDATOR, COURT, TOKEN = (f"0x{n:040x}" for n in (1, 2, 3, 4, 5))
DEAL_ID = b"\x01" * 32
PROVIDER_FAILURES = (CloseReason.COMMENCEMENT_TIMEOUT, CloseReason.COMPLETION_TIMEOUT, CloseReason.PROVIDER_ABORTED)


class _Credits:
    """The escrow as Payouts uses it: what it credits to whom."""

    def __init__(self):
        self.credited = Counter()

    def credit(self, token: str, account: str, amount: int) -> None:
        self.credited[account] += amount


def _close(deal: Deal, path: str, argument) -> tuple[dict, Status, CloseReason, Status]:
    """Close `deal` down `path` with the contract's payouts: (credits, outcome, reason, status before closing)."""
    escrow, closed = _Credits(), {}
    payouts = Payouts(escrow, COURT, lambda event, **args: closed.update(args))
    before = deal.status
    if path == "return_unfunded":
        payouts.return_unfunded(DEAL_ID, deal, CLIENT if before == Status.AWAITING_COLLATERAL else PROVIDER)
    elif path in ("rule", "slash_provider"):
        getattr(payouts, path)(DEAL_ID, deal, argument)
    else:
        getattr(payouts, path)(DEAL_ID, deal)
    return {a: v for a, v in escrow.credited.items() if v}, closed["outcome"], closed["reason"], before


@st.composite
def closings(draw):
    """A deal with random terms, and a way to close it that the contract allows for it."""
    with_validator = draw(st.booleans())
    deal = Deal(client=CLIENT, provider=PROVIDER, token=TOKEN, price=draw(st.integers(0, 10**20)),
                collateral=draw(st.integers(0, 10**20)), bond=draw(st.integers(1, 10**20)),
                validator=VALIDATOR if with_validator else ZERO_ADDRESS,
                validator_fee=draw(st.integers(0, 10**19)) if with_validator else 0, status=Status.COMPLETED)
    paths = ["approve_by_client", "slash_provider", "return_unfunded", "rule", "unwind"]
    paths += ["carry_out_verdict"] if with_validator else ["settle_unchallenged"]
    path = draw(st.sampled_from(paths))
    argument = None
    if path == "carry_out_verdict":
        deal.verdict = draw(st.sampled_from([Verdict.APPROVED, Verdict.REJECTED]))
    elif path in ("rule", "unwind") and with_validator:
        deal.verdict = draw(st.sampled_from(list(Verdict)))  # NONE: a silent validator's deal was escalated
    if path == "rule":
        argument = draw(st.booleans())
    elif path == "slash_provider":
        argument = draw(st.sampled_from(PROVIDER_FAILURES))
    elif path == "return_unfunded":
        deal.status = draw(st.sampled_from([Status.AWAITING_COLLATERAL, Status.AWAITING_PAYMENT]))
    return deal, path, argument


@settings(max_examples=300, deadline=None)
@given(closings())
def test_the_rules_credit_every_party_what_the_contracts_payouts_do(case):
    deal, path, argument = case
    went_to_court = path in ("rule", "unwind")
    disputant = deal.disputant() if went_to_court else ZERO_ADDRESS
    verdict = {Verdict.APPROVED: True, Verdict.REJECTED: False}.get(deal.verdict)
    paid, outcome, reason, before = _close(deal, path, argument)
    closing = Closing(outcome=outcome, reason=reason, client=CLIENT, provider=PROVIDER, price=deal.price,
                      collateral=deal.collateral, validator_fee=deal.validator_fee, bond=deal.bond,
                      validator=None if deal.validator == ZERO_ADDRESS else deal.validator, verdict_approved=verdict,
                      disputant=None if disputant == ZERO_ADDRESS else disputant,
                      client_side_locked=before == Status.AWAITING_COLLATERAL)
    assert credits(closing, COURT) == paid
    net = Counter()
    for t in transfers(closing, COURT):
        assert t.amount > 0 and t.payer != t.payee
        net[t.payer] -= t.amount
        net[t.payee] += t.amount
    assert sum(net.values()) == 0
