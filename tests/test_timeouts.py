"""Every non-terminal deal state has a deadline after which anyone can move the deal on, and not before:
these tests stand exactly on each deadline (the call still refused) and one second past it (the call
goes through, for a stranger), and check who ends up with the locked funds."""

import pytest

from agents.protocol import CloseReason, Status, ValidationScheme
from conftest import COLLATERAL, PRICE, assert_closed, assert_solvent, commencement, completion, delta, validation


def _deadline(market, run) -> int:
    return market.getDeal(run.deal_id).deadline


# status -> (waiting party, funding party, what the waiting party locked and gets back)
AWAITING = {
    Status.AWAITING_COLLATERAL: ("client", "provider", PRICE),
    Status.AWAITING_PAYMENT: ("provider", "client", COLLATERAL),
}


@pytest.mark.parametrize("status", list(AWAITING), ids=lambda s: s.name)
def test_unfunded_deal_closed_by_stranger_after_deadline(
    chain, market, token, parties, stranger, balances, run_deal, refused, status
):
    waiting, funding, locked = AWAITING[status]
    run = run_deal(status)
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
    assert delta(before, after) == {f"{waiting}.available": locked}
    assert_solvent(market, token, after)

    # Terminal: the late funder can no longer come in.
    refused([run.deal_id], market.UnexpectedStatus, market.fund, run.deal_id, sender=parties[funding],
            dealId=run.deal_id, status=Status.UNFUNDED)


@pytest.mark.parametrize("status", list(AWAITING), ids=lambda s: s.name)
def test_waiting_party_may_give_up_before_deadline(market, parties, balances, run_deal, status):
    waiting, _, locked = AWAITING[status]
    run = run_deal(status)
    before = balances()
    receipt = market.collateralMissing(run.deal_id, sender=parties[waiting])
    assert_closed(receipt, market, run.deal_id, Status.UNFUNDED, CloseReason.COLLATERAL_MISSING)
    assert delta(before, balances()) == {f"{waiting}.available": locked}


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


# status -> (closing call, outcome, reason, who receives price + collateral)
TIMEOUTS = {
    Status.AGREED: ("claimTimeout", Status.SLASHED, CloseReason.COMMENCEMENT_TIMEOUT, "client"),
    Status.COMMENCED: ("claimTimeout", Status.SLASHED, CloseReason.COMPLETION_TIMEOUT, "client"),
    Status.COMPLETED: ("settle", Status.SETTLED, CloseReason.VALIDATION_WINDOW_PASSED, "provider"),
}


@pytest.mark.parametrize("status", list(TIMEOUTS), ids=lambda s: s.name)
@pytest.mark.parametrize("scheme", list(ValidationScheme), ids=lambda s: s.name)
def test_deadline_moves_the_deal_on_for_anyone(
    chain, market, token, stranger, balances, run_deal, refused, status, scheme
):
    call, outcome, reason, beneficiary = TIMEOUTS[status]
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
    assert delta(before, after) == {f"{beneficiary}.available": PRICE + COLLATERAL}
    assert_solvent(market, token, after)

    # Terminal states are absorbing: the same call again is refused.
    refused([run.deal_id], market.UnexpectedStatus, close, run.deal_id, sender=stranger,
            dealId=run.deal_id, status=outcome)


def _next_attestation(status, run, market, parties):
    """The attestation that moves a deal on from `status`, and the party that must make it."""
    if status == Status.AGREED:
        return "provider", commencement(market, run.deal_id, run.request.client)
    if status == Status.COMMENCED:
        return "provider", completion(market, run.deal_id, run.request.client, run.commencement)
    judge = "validator" if run.request.scheme == ValidationScheme.VALIDATOR else "client"
    return judge, validation(market, run.deal_id, run.offer.provider, run.completion, True)


NEXT_STATUS = {Status.AGREED: Status.COMMENCED, Status.COMMENCED: Status.COMPLETED, Status.COMPLETED: Status.SETTLED}


@pytest.mark.parametrize("status", list(NEXT_STATUS), ids=lambda s: s.name)
@pytest.mark.parametrize("scheme", list(ValidationScheme), ids=lambda s: s.name)
def test_attestation_on_the_deadline_is_accepted(chain, eas, market, parties, client, run_deal, status, scheme):
    run = run_deal(status, scheme=scheme)
    deadline = _deadline(market, run)
    attester, request = _next_attestation(status, run, market, parties)
    chain.pending_timestamp = deadline
    receipt = eas.attest(request, sender=parties[attester])
    assert receipt.timestamp == deadline
    assert client.status(run.deal_id) == NEXT_STATUS[status]


@pytest.mark.parametrize("status", list(NEXT_STATUS), ids=lambda s: s.name)
@pytest.mark.parametrize("scheme", list(ValidationScheme), ids=lambda s: s.name)
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
