"""Whole deals as agents run them, checking every event and every balance the escrow touches at each
step: the optimistic scheme settled by silence or by a verdict, the validator scheme, a negotiation
with a counter-offer, and the funding paths (escrow float, wallet shortfall, late funding)."""

import pytest

from agents.testing.market_client import MarketClient
from agents.protocol import CloseReason, Offer, Request, Status, ValidationScheme
from conftest import (
    COLLATERAL,
    COMMENCE_WITHIN,
    JOB_DURATION,
    PRICE,
    RESULT_HASH,
    VALIDATION_WINDOW,
    ZERO_ADDRESS,
    ZERO_BYTES32,
    assert_closed,
    assert_solvent,
    delta,
    only_event,
)


@pytest.fixture
def moved(market, token, balances):
    """`snapshot = moved(snapshot, {...})`: exactly these amounts moved since `snapshot` (nothing else did)
    and the escrow still holds what it owes; returns the new snapshot."""

    def check(before, expected):
        after = balances()
        assert delta(before, after) == expected
        assert_solvent(market, token, after)
        return after

    return check


def _escrowed(who: str, amount: int) -> dict:
    """The balance moves of `who` depositing `amount`."""
    return {f"{who}.wallet": -amount, f"{who}.available": amount, "market": amount, "owed": amount}


@pytest.mark.parametrize("scheme", list(ValidationScheme), ids=lambda s: s.name.lower())
def test_full_deal(chain, eas, market, token, client, provider, validator, stranger, balances, moved, make_request,
                   make_offer, scheme):
    """Optimistic: nobody objects and anyone settles after the window. Validator: the validator approves."""
    b = balances()
    client.deposit(token, PRICE)
    b = moved(b, _escrowed("client", PRICE))
    provider.deposit(token, COLLATERAL)
    b = moved(b, _escrowed("provider", COLLATERAL))

    # Request: an event only; its EIP-712 hash is the deal id.
    request = make_request(scheme=scheme)
    deal_id = client.deal_id(request)
    receipt = client.request(request, "ipfs://spec")
    log = only_event(receipt, market.Requested)
    assert (bytes(log.dealId), log.client, log.specURI, log.invited) == (
        deal_id, client.account.address, "ipfs://spec", [],  # no invitations: broadcast to every provider
    )
    assert Request.from_tuple(log.request) == request
    assert client.status(deal_id) == Status.NONE
    b = moved(b, {})

    # Offer: signed by the provider, broadcast by it.
    offer = make_offer(request)
    signature = provider.sign(offer)
    receipt = provider.offer(offer, signature)
    log = only_event(receipt, market.Offered)
    # `provider` is read through event_arguments: ContractLog.provider is Ape's chain provider.
    assert (bytes(log.dealId), log.signer, log.event_arguments["provider"], bytes(log.signature)) == (
        deal_id, provider.account.address, provider.account.address, signature,
    )
    assert Offer.from_tuple(log.offer) == offer
    b = moved(b, {})

    # Accept: both sides are locked from the escrow float, at exactly the offered terms.
    receipt = client.accept(request, offer, signature)
    log = only_event(receipt, market.Accepted)
    assert (bytes(log.dealId), log.client, log.event_arguments["provider"], bytes(log.offerHash), log.status) == (
        deal_id, client.account.address, provider.account.address, bytes(market.hashOffer(offer.as_tuple())),
        Status.AGREED,
    )
    deal = market.getDeal(deal_id)
    assert (deal.client, deal.price, deal.provider, deal.collateral, deal.token) == (
        client.account.address, PRICE, provider.account.address, COLLATERAL, token.address,
    )
    assert (deal.status, deal.deadline) == (Status.AGREED, receipt.timestamp + COMMENCE_WITHIN)
    assert (deal.jobDuration, deal.validationWindow, deal.validator) == (JOB_DURATION, VALIDATION_WINDOW,
                                                                         request.validator)
    assert bytes(deal.lastAttestation) == ZERO_BYTES32
    b = moved(b, {"client.available": -PRICE, "provider.available": -COLLATERAL})

    # Commencement, attested by the provider to the client on EAS.
    receipt, commencement = provider.attest_commencement(deal_id, client.account.address)
    log = only_event(receipt, market.Commenced)
    assert (bytes(log.dealId), bytes(log.attestation)) == (deal_id, commencement)
    attestation = eas.getAttestation(commencement)
    assert (attestation.attester, attestation.recipient) == (provider.account.address, client.account.address)
    deal = market.getDeal(deal_id)
    assert (deal.status, deal.deadline, bytes(deal.lastAttestation)) == (
        Status.COMMENCED, receipt.timestamp + JOB_DURATION, commencement,
    )
    b = moved(b, {})

    # Completion, referencing the commencement.
    receipt, completion = provider.attest_completion(
        deal_id, client.account.address, commencement, RESULT_HASH, "ipfs://result"
    )
    log = only_event(receipt, market.Completed)
    assert (bytes(log.dealId), bytes(log.attestation), bytes(log.resultHash), log.resultURI) == (
        deal_id, completion, RESULT_HASH, "ipfs://result",
    )
    assert bytes(eas.getAttestation(completion).refUID) == commencement
    deal = market.getDeal(deal_id)
    assert (deal.status, deal.deadline, bytes(deal.lastAttestation)) == (
        Status.COMPLETED, receipt.timestamp + VALIDATION_WINDOW, completion,
    )
    b = moved(b, {})

    if scheme == ValidationScheme.OPTIMISTIC:
        # Silence through the window pays the provider; anyone may trigger it.
        chain.pending_timestamp = deal.deadline + 1
        receipt = market.settle(deal_id, sender=stranger)
        reason = CloseReason.VALIDATION_WINDOW_PASSED
    else:
        # The named validator re-ran the job and attests the match, referencing the completion.
        receipt, verdict = validator.attest_validation(deal_id, provider.account.address, completion, True)
        assert (eas.getAttestation(verdict).attester, bytes(eas.getAttestation(verdict).refUID)) == (
            validator.account.address, completion,
        )
        reason = CloseReason.APPROVED
    assert_closed(receipt, market, deal_id, Status.SETTLED, reason)
    assert client.status(deal_id) == Status.SETTLED
    b = moved(b, {"provider.available": PRICE + COLLATERAL})

    # Pull payment: the provider takes its earnings and collateral out.
    receipt = provider.withdraw(token, PRICE + COLLATERAL)
    log = only_event(receipt, market.Withdrawn)
    assert (log.token, log.account, log.amount) == (token.address, provider.account.address, PRICE + COLLATERAL)
    moved(b, {key: -value for key, value in _escrowed("provider", PRICE + COLLATERAL).items()})


# (scheme, who judges, approved) -> (outcome, reason, who receives price + collateral)
VERDICTS = [
    (ValidationScheme.OPTIMISTIC, "client", True, Status.SETTLED, CloseReason.APPROVED, "provider"),
    (ValidationScheme.OPTIMISTIC, "client", False, Status.SLASHED, CloseReason.REJECTED, "client"),
    (ValidationScheme.VALIDATOR, "validator", True, Status.SETTLED, CloseReason.APPROVED, "provider"),
    (ValidationScheme.VALIDATOR, "validator", False, Status.SLASHED, CloseReason.REJECTED, "client"),
    # The client may always waive its objection and pay, even when a validator judges.
    (ValidationScheme.VALIDATOR, "client", True, Status.SETTLED, CloseReason.APPROVED, "provider"),
]


@pytest.mark.parametrize(
    "scheme, judge, approved, outcome, reason, beneficiary",
    VERDICTS,
    ids=["optimistic-client-approves", "optimistic-client-rejects", "validator-approves", "validator-rejects",
         "validator-scheme-client-approves"],
)
def test_verdict_closes_the_deal_at_once(
    market, client, provider, validator, balances, moved, run_deal,
    scheme, judge, approved, outcome, reason, beneficiary,
):
    run = run_deal(Status.COMPLETED, scheme=scheme)
    deal = market.getDeal(run.deal_id)
    assert deal.validator == (validator.account.address if scheme == ValidationScheme.VALIDATOR else ZERO_ADDRESS)
    judge_client = {"client": client, "validator": validator}[judge]

    before = balances()
    receipt, uid = judge_client.attest_validation(run.deal_id, provider.account.address, run.completion, approved)
    assert_closed(receipt, market, run.deal_id, outcome, reason)
    assert client.status(run.deal_id) == outcome
    assert bytes(market.getDeal(run.deal_id).lastAttestation) == run.completion  # the verdict closes, no later link
    moved(before, {f"{beneficiary}.available": PRICE + COLLATERAL})


def test_negotiation_with_counter_offer_accepted_by_provider(
    market, token, client, provider, balances, moved, make_request, make_offer, refused
):
    request = make_request()
    deal_id = client.deal_id(request)
    client.request(request, "ipfs://spec")

    # The provider asks 900; the client counters with 600 in round 1, addressed to that provider.
    asked = make_offer(request, price=900, round=0)
    provider.offer(asked)
    countered = make_offer(request, price=600, round=1)
    counter_signature = client.sign(countered)
    receipt = client.offer(countered, counter_signature)
    log = only_event(receipt, market.Offered)
    assert (log.signer, log.event_arguments["provider"], Offer.from_tuple(log.offer)) == (
        client.account.address, provider.account.address, countered,
    )

    client.deposit(token, 600)
    provider.deposit(token, COLLATERAL)
    before = balances()
    receipt = provider.accept(request, countered, counter_signature)
    assert only_event(receipt, market.Accepted).status == Status.AGREED
    # The accepted terms bind the escrow: exactly the countered price is locked, not the asked one.
    assert market.getDeal(deal_id).price == 600
    moved(before, {"client.available": -600, "provider.available": -COLLATERAL})

    # The provider's own earlier offer can no longer be taken.
    refused([deal_id], market.UnexpectedStatus, market.accept, request.as_tuple(), asked.as_tuple(),
            provider.sign(asked), sender=client.account, dealId=deal_id, status=Status.AGREED)

    _, commencement = provider.attest_commencement(deal_id, client.account.address)
    _, completion = provider.attest_completion(deal_id, client.account.address, commencement, RESULT_HASH, "r")
    before = balances()
    receipt, _ = client.attest_validation(deal_id, provider.account.address, completion, True)
    assert_closed(receipt, market, deal_id, Status.SETTLED, CloseReason.APPROVED)
    moved(before, {"provider.available": 600 + COLLATERAL})


def test_accept_pulls_the_shortfall_from_the_wallet(market, token, client, provider, balances, moved, make_request,
                                                    make_offer):
    request = make_request()
    offer = make_offer(request)
    client.deposit(token, 200)
    provider.deposit(token, COLLATERAL)
    token.approve(market.address, PRICE - 200, sender=client.account)
    before = balances()
    client.accept(request, offer, provider.sign(offer))
    moved(before, {
        "client.available": -200,  # the float first,
        "client.wallet": -(PRICE - 200),  # then the wallet for the rest
        "market": PRICE - 200,
        "owed": PRICE - 200,
        "provider.available": -COLLATERAL,
    })
    assert client.status(client.deal_id(request)) == Status.AGREED


def test_provider_funds_awaited_collateral(market, token, provider, balances, moved, run_deal):
    run = run_deal(Status.AWAITING_COLLATERAL)
    token.approve(market.address, COLLATERAL, sender=provider.account)
    before = balances()
    receipt = provider.fund(run.deal_id)  # pulled from the wallet: the escrow account is empty
    log = only_event(receipt, market.Funded)
    assert (bytes(log.dealId), log.account) == (run.deal_id, provider.account.address)
    moved(before, {"provider.wallet": -COLLATERAL, "market": COLLATERAL, "owed": COLLATERAL})
    deal = market.getDeal(run.deal_id)
    # Funding restarts the commencement window.
    assert (deal.status, deal.deadline) == (Status.AGREED, receipt.timestamp + COMMENCE_WITHIN)


def test_client_funds_awaited_payment(market, token, client, balances, moved, run_deal):
    run = run_deal(Status.AWAITING_PAYMENT)
    client.deposit(token, PRICE)
    before = balances()
    receipt = client.fund(run.deal_id)  # from the escrow float
    assert only_event(receipt, market.Funded).account == client.account.address
    moved(before, {"client.available": -PRICE})
    deal = market.getDeal(run.deal_id)
    assert (deal.status, deal.deadline) == (Status.AGREED, receipt.timestamp + COMMENCE_WITHIN)


@pytest.mark.parametrize("status", [Status.AGREED, Status.COMMENCED])
def test_provider_aborts_and_client_is_compensated_at_once(market, provider, balances, moved, run_deal, status):
    run = run_deal(status)
    before = balances()
    receipt = provider.abort(run.deal_id)
    assert_closed(receipt, market, run.deal_id, Status.SLASHED, CloseReason.PROVIDER_ABORTED)
    moved(before, {"client.available": PRICE + COLLATERAL})


def test_request_addressed_to_chosen_providers(accounts, system, market, client, provider, token, make_request,
                                               make_offer):
    """Invitations guide providers; the client may still take an offer from a provider it did not invite."""
    request = make_request()
    receipt = client.request(request, "ipfs://spec", invited=(provider.account.address,))
    assert only_event(receipt, market.Requested).invited == [provider.account.address]
    uninvited = MarketClient(system, accounts[5])
    offer = make_offer(request, provider=uninvited.account.address)
    uninvited.deposit(token, COLLATERAL)
    client.deposit(token, PRICE)
    client.accept(request, offer, uninvited.sign(offer))
    assert market.getDeal(client.deal_id(request)).provider == uninvited.account.address


def test_client_cancels_its_request(market, client, make_request):
    request = make_request()
    deal_id = client.deal_id(request)
    client.request(request, "ipfs://spec")
    receipt = client.cancel_request(request)
    assert_closed(receipt, market, deal_id, Status.CANCELLED, CloseReason.CANCELLED)
    assert client.status(deal_id) == Status.CANCELLED


def test_provider_cancels_its_offer(market, provider, make_request, make_offer):
    offer = make_offer(make_request())
    offer_hash = bytes(market.hashOffer(offer.as_tuple()))
    receipt = provider.cancel_offer(offer)
    log = only_event(receipt, market.OfferCancelled)
    assert (bytes(log.offerHash), log.signer) == (offer_hash, provider.account.address)
    assert market.isOfferCancelled(provider.account.address, offer_hash)


def test_zero_collateral_deal(chain, market, stranger, balances, moved, make_request, make_offer, run_deal):
    """A request may ask for no collateral; the deal runs and pays exactly the price."""
    request = make_request(min_collateral=0)
    run = run_deal(Status.COMPLETED, request=request, offer=make_offer(request, collateral=0))
    chain.pending_timestamp = market.getDeal(run.deal_id).deadline + 1
    before = balances()
    market.settle(run.deal_id, sender=stranger)
    moved(before, {"provider.available": PRICE})


def test_escrow_float_serves_several_deals(token, client, provider, balances, moved, make_request, make_offer):
    """One deposit covers two deals; the second accept finds the float and locks from it."""
    client.deposit(token, 2 * PRICE)
    provider.deposit(token, 2 * COLLATERAL)
    before = balances()
    for _ in range(2):
        request = make_request()
        offer = make_offer(request)
        client.accept(request, offer, provider.sign(offer))
        assert client.status(client.deal_id(request)) == Status.AGREED
    moved(before, {"client.available": -2 * PRICE, "provider.available": -2 * COLLATERAL})
