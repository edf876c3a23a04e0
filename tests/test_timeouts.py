"""Every non-terminal deal state has a deadline after which anyone can move the deal on, and not before:
these tests stand exactly on each deadline (the call still refused) and one second past it (the call
goes through, for a stranger), and check who ends up with the locked funds: a validator deal that ends
without a verdict returns the fee to the client and the stake to the validator, and a dispute the court
leaves unruled gives everyone back what it locked."""

import pytest

from agents.protocol import CloseReason, Status, ValidationScheme
from conftest import (
    BOND,
    COLLATERAL,
    PRICE,
    VALIDATOR_FEE,
    assert_closed,
    assert_solvent,
    commencement,
    completion,
    delta,
    validation,
)

OPTIMISTIC, VALIDATOR = ValidationScheme.OPTIMISTIC, ValidationScheme.VALIDATOR
# A validator deal that closes without a verdict: the client's fee and the validator's stake go back.
UNJUDGED = {"client.available": VALIDATOR_FEE, "validator.available": BOND}


def _plus(*parts: dict) -> dict:
    total: dict[str, int] = {}
    for part in parts:
        for key, value in part.items():
            total[key] = total.get(key, 0) + value
    return total


def _deadline(market, run) -> int:
    return market.getDeal(run.deal_id).deadline


# status -> (waiting party, funding party, what the waiting party locked and gets back)
AWAITING = {
    Status.AWAITING_COLLATERAL: ("client", "provider", PRICE),
    Status.AWAITING_PAYMENT: ("provider", "client", COLLATERAL),
}


def _returned(status: Status, scheme: ValidationScheme) -> dict:
    """What an unfunded deal gives back: the waiting party's side, and a validator deal's stake (and the fee,
    when the client was the side that locked)."""
    waiting, _, locked = AWAITING[status]
    if scheme == OPTIMISTIC:
        return {f"{waiting}.available": locked}
    if waiting == "client":
        return _plus({"client.available": locked}, UNJUDGED)
    return {"provider.available": locked, "validator.available": BOND}


@pytest.mark.parametrize("scheme", list(ValidationScheme), ids=lambda s: s.name)
@pytest.mark.parametrize("status", list(AWAITING), ids=lambda s: s.name)
def test_unfunded_deal_closed_by_stranger_after_deadline(
    chain, market, token, parties, stranger, balances, run_deal, refused, status, scheme
):
    _, funding, _ = AWAITING[status]
    run = run_deal(status, scheme=scheme)
    deadline = _deadline(market, run)

    # Up to and including the deadline only the waiting party may give up.
    for caller in (stranger, parties[funding]):
        chain.pending_timestamp = deadline
        refused([run.deal_id], market.NotTheWaitingParty, market.collateralMissing, run.deal_id, sender=caller)

    chain.pending_timestamp = deadline + 1
    before = balances()
    receipt = market.collateralMissing(run.deal_id, sender=stranger)
    assert_closed(receipt, market, run.deal_id, Status.UNFUNDED, CloseReason.COLLATERAL_MISSING)
    after = balances()
    assert delta(before, after) == _returned(status, scheme)
    assert_solvent(market, token, after)

    # Terminal: the late funder can no longer come in.
    refused([run.deal_id], market.UnexpectedStatus, market.fund, run.deal_id, sender=parties[funding],
            dealId=run.deal_id, status=Status.UNFUNDED)


@pytest.mark.parametrize("scheme", list(ValidationScheme), ids=lambda s: s.name)
@pytest.mark.parametrize("status", list(AWAITING), ids=lambda s: s.name)
def test_waiting_party_may_give_up_before_deadline(market, parties, balances, run_deal, status, scheme):
    waiting, _, _ = AWAITING[status]
    run = run_deal(status, scheme=scheme)
    before = balances()
    receipt = market.collateralMissing(run.deal_id, sender=parties[waiting])
    assert_closed(receipt, market, run.deal_id, Status.UNFUNDED, CloseReason.COLLATERAL_MISSING)
    assert delta(before, balances()) == _returned(status, scheme)


@pytest.mark.parametrize("status", list(AWAITING), ids=lambda s: s.name)
def test_funding_is_open_until_the_deadline_inclusive(chain, market, token, parties, run_deal, status):
    _, funding, _ = AWAITING[status]
    run = run_deal(status)
    deadline = _deadline(market, run)
    token.approve(market.address, max(PRICE, COLLATERAL), sender=parties[funding])
    chain.pending_timestamp = deadline
    receipt = market.fund(run.deal_id, sender=parties[funding])
    assert receipt.timestamp == deadline
    assert market.getDeal(run.deal_id).status == Status.AGREED


@pytest.mark.parametrize("status", list(AWAITING), ids=lambda s: s.name)
def test_funding_after_the_deadline_is_refused(chain, market, token, parties, run_deal, refused, status):
    _, funding, _ = AWAITING[status]
    run = run_deal(status)
    deadline = _deadline(market, run)
    token.approve(market.address, max(PRICE, COLLATERAL), sender=parties[funding])
    chain.pending_timestamp = deadline + 1
    refused([run.deal_id], market.DeadlinePassed, market.fund, run.deal_id, sender=parties[funding],
            dealId=run.deal_id, deadline=deadline)


PAID = {"provider.available": PRICE + COLLATERAL}
REFUNDED = {"client.available": PRICE + COLLATERAL}
# (status, scheme) -> (closing call, outcome, reason, balance moves). A judged deal is the validator's approval;
# a disputed validator deal is the client's appeal of it.
TIMEOUTS = {
    (Status.AGREED, OPTIMISTIC): ("claimTimeout", Status.SLASHED, CloseReason.COMMENCEMENT_TIMEOUT, REFUNDED),
    (Status.COMMENCED, OPTIMISTIC): ("claimTimeout", Status.SLASHED, CloseReason.COMPLETION_TIMEOUT, REFUNDED),
    (Status.COMPLETED, OPTIMISTIC): ("settle", Status.SETTLED, CloseReason.VALIDATION_WINDOW_PASSED, PAID),
    (Status.DISPUTED, OPTIMISTIC): ("claimTimeout", Status.UNWOUND, CloseReason.COURT_TIMEOUT,
                                    {"client.available": PRICE + BOND, "provider.available": COLLATERAL}),
    (Status.AGREED, VALIDATOR): ("claimTimeout", Status.SLASHED, CloseReason.COMMENCEMENT_TIMEOUT,
                                 _plus(REFUNDED, UNJUDGED)),
    (Status.COMMENCED, VALIDATOR): ("claimTimeout", Status.SLASHED, CloseReason.COMPLETION_TIMEOUT,
                                    _plus(REFUNDED, UNJUDGED)),
    (Status.JUDGED, VALIDATOR): ("settle", Status.SETTLED, CloseReason.VERDICT_APPROVED,
                                 _plus(PAID, {"validator.available": VALIDATOR_FEE + BOND})),
    (Status.DISPUTED, VALIDATOR): ("claimTimeout", Status.UNWOUND, CloseReason.COURT_TIMEOUT, {
        "client.available": PRICE + VALIDATOR_FEE + BOND, "provider.available": COLLATERAL,
        "validator.available": BOND}),
}


@pytest.mark.parametrize("status, scheme", list(TIMEOUTS), ids=lambda v: v.name)
def test_deadline_moves_the_deal_on_for_anyone(
    chain, market, token, stranger, balances, run_deal, refused, status, scheme
):
    call, outcome, reason, moves = TIMEOUTS[status, scheme]
    run = run_deal(status, scheme=scheme)
    deadline = _deadline(market, run)
    close = getattr(market, call)

    chain.pending_timestamp = deadline
    refused([run.deal_id], market.DeadlineNotReached, close, run.deal_id, sender=stranger,
            dealId=run.deal_id, deadline=deadline)

    chain.pending_timestamp = deadline + 1
    before = balances()
    receipt = close(run.deal_id, sender=stranger)
    assert_closed(receipt, market, run.deal_id, outcome, reason)
    after = balances()
    assert delta(before, after) == moves
    assert_solvent(market, token, after)

    # Terminal states are absorbing: the same call again is refused.
    refused([run.deal_id], market.UnexpectedStatus, close, run.deal_id, sender=stranger,
            dealId=run.deal_id, status=outcome)


def test_a_silent_validators_deal_goes_to_the_court_not_to_settlement(chain, market, stranger, balances, run_deal,
                                                                      refused):
    """Without a verdict a validator deal never settles; after the window anyone escalates it, and not before."""
    run = run_deal(Status.COMPLETED, scheme=VALIDATOR)
    deadline = _deadline(market, run)
    chain.pending_timestamp = deadline
    refused([run.deal_id], market.DeadlineNotReached, market.escalate, run.deal_id, sender=stranger,
            dealId=run.deal_id, deadline=deadline)
    chain.pending_timestamp = deadline + 1
    refused([run.deal_id], market.VerdictMissing, market.settle, run.deal_id, sender=stranger, dealId=run.deal_id)
    chain.pending_timestamp = deadline + 1
    before = balances()
    receipt = market.escalate(run.deal_id, sender=stranger)
    assert market.getDeal(run.deal_id).status == Status.DISPUTED
    assert _deadline(market, run) == receipt.timestamp + market.courtWindow()
    assert delta(before, balances()) == {}


# (status, scheme, verdict) -> (who moves, the call, its argument): the moves open until their deadline
COURT_MOVES = {
    "dispute": (Status.COMPLETED, OPTIMISTIC, True, "client", "dispute"),
    "appeal-of-approval": (Status.JUDGED, VALIDATOR, True, "client", "appeal"),
    "appeal-of-rejection": (Status.JUDGED, VALIDATOR, False, "provider", "appeal"),
}


@pytest.mark.parametrize("late", [False, True], ids=["on-the-deadline", "one-second-late"])
@pytest.mark.parametrize("case", list(COURT_MOVES))
def test_dispute_and_appeal_are_open_until_the_deadline_inclusive(chain, market, token, parties, client, run_deal,
                                                                  refused, case, late):
    status, scheme, approved, who, call = COURT_MOVES[case]
    run = run_deal(status, scheme=scheme, approved=approved)
    deadline = _deadline(market, run)
    token.approve(market.address, BOND, sender=parties[who])
    argument = run.request.as_tuple() if call == "dispute" else run.deal_id
    chain.pending_timestamp = deadline + late
    if late:
        refused([run.deal_id], market.DeadlinePassed, getattr(market, call), argument, sender=parties[who],
                dealId=run.deal_id, deadline=deadline)
    else:
        receipt = getattr(market, call)(argument, sender=parties[who])
        assert receipt.timestamp == deadline and client.status(run.deal_id) == Status.DISPUTED


def _next_attestation(status, run, market, parties):
    """The attestation that moves a deal on from `status`, and the party that must make it."""
    if status == Status.AGREED:
        return "provider", commencement(market, run.deal_id, run.request.client)
    if status == Status.COMMENCED:
        return "provider", completion(market, run.deal_id, run.request.client, run.commencement)
    if status == Status.DISPUTED:
        return "court", validation(market, run.deal_id, run.offer.provider, run.last_attestation, True)
    judge = "validator" if run.request.scheme == VALIDATOR else "client"
    return judge, validation(market, run.deal_id, run.offer.provider, run.completion, True)


# (status, scheme) -> the status the attestation leads to
NEXT_STATUS = {
    (Status.AGREED, OPTIMISTIC): Status.COMMENCED,
    (Status.COMMENCED, OPTIMISTIC): Status.COMPLETED,
    (Status.COMPLETED, OPTIMISTIC): Status.SETTLED,  # the client's approval
    (Status.DISPUTED, OPTIMISTIC): Status.SETTLED,  # the court's ruling
    (Status.AGREED, VALIDATOR): Status.COMMENCED,
    (Status.COMMENCED, VALIDATOR): Status.COMPLETED,
    (Status.COMPLETED, VALIDATOR): Status.JUDGED,  # the validator's verdict
    (Status.DISPUTED, VALIDATOR): Status.SETTLED,  # the court's ruling on an appeal
}


@pytest.mark.parametrize("status, scheme", list(NEXT_STATUS), ids=lambda v: v.name)
def test_attestation_on_the_deadline_is_accepted(chain, eas, market, parties, client, run_deal, status, scheme):
    run = run_deal(status, scheme=scheme)
    deadline = _deadline(market, run)
    attester, request = _next_attestation(status, run, market, parties)
    chain.pending_timestamp = deadline
    receipt = eas.attest(request, sender=parties[attester])
    assert receipt.timestamp == deadline
    assert client.status(run.deal_id) == NEXT_STATUS[status, scheme]


@pytest.mark.parametrize("status, scheme", list(NEXT_STATUS), ids=lambda v: v.name)
def test_late_attestation_is_refused(chain, eas, market, parties, run_deal, refused, status, scheme):
    run = run_deal(status, scheme=scheme)
    deadline = _deadline(market, run)
    attester, request = _next_attestation(status, run, market, parties)
    chain.pending_timestamp = deadline + 1
    refused([run.deal_id], market.DeadlinePassed, eas.attest, request, sender=parties[attester],
            dealId=run.deal_id, deadline=deadline)


def test_deadlines_chain_from_each_attestation(chain, market, client, provider, run_deal):
    """Commencement at the last second still gives the provider the full job duration."""
    run = run_deal(Status.AGREED)
    deadline = _deadline(market, run)
    chain.pending_timestamp = deadline
    provider.attest_commencement(run.deal_id, client.account.address)
    assert _deadline(market, run) == deadline + run.request.job_duration


@pytest.mark.parametrize("status", list(AWAITING), ids=lambda s: s.name)
def test_late_funding_restarts_the_commencement_window(
    chain, market, token, parties, client, provider, stranger, run_deal, refused, status
):
    """Regression (fixed in 9b7f2ad): a client that paid in the deadline block left the provider no block to
    commence, then took its collateral through claimTimeout. Funding now restarts the window."""
    _, funding, _ = AWAITING[status]
    run = run_deal(status)
    deadline = _deadline(market, run)
    token.approve(market.address, max(PRICE, COLLATERAL), sender=parties[funding])
    chain.pending_timestamp = deadline
    market.fund(run.deal_id, sender=parties[funding])
    restarted = deadline + run.request.commence_within
    assert _deadline(market, run) == restarted

    chain.pending_timestamp = deadline + 1
    refused([run.deal_id], market.DeadlineNotReached, market.claimTimeout, run.deal_id, sender=stranger,
            dealId=run.deal_id, deadline=restarted)
    provider.attest_commencement(run.deal_id, client.account.address)
    assert market.getDeal(run.deal_id).status == Status.COMMENCED


def test_offer_past_its_expiry_is_refused(chain, market, client, provider, token, make_request, make_offer, refused):
    request = make_request()
    offer = make_offer(request, expiry=chain.pending_timestamp + 100)
    signature = provider.sign(offer)
    client.deposit(token, PRICE)
    provider.deposit(token, COLLATERAL)

    chain.pending_timestamp = offer.expiry + 1
    refused([], market.OfferExpired, market.offer, offer.as_tuple(), signature, sender=provider.account)
    refused([client.deal_id(request)], market.OfferExpired, market.accept, request.as_tuple(), offer.as_tuple(),
            signature, sender=client.account)


def test_offer_and_accept_on_the_expiry_second(chain, client, provider, token, make_request, make_offer):
    request = make_request()
    offer = make_offer(request, expiry=chain.pending_timestamp + 100)
    client.deposit(token, PRICE)
    provider.deposit(token, COLLATERAL)
    chain.pending_timestamp = offer.expiry
    provider.offer(offer)
    chain.pending_timestamp = offer.expiry  # the same second, next block
    receipt = client.accept(request, offer, provider.sign(offer))
    assert receipt.timestamp == offer.expiry
    assert client.status(client.deal_id(request)) == Status.AGREED
