"""Whole deals as agents run them, checking every event and every balance the escrow touches at each
step: the optimistic scheme settled by silence or by the client's approval, the validator scheme (a paid,
staked verdict that stands unless appealed), disputes and appeals ruled by the court, a negotiation with a
counter-offer, and the funding paths (escrow float, wallet shortfall, late funding)."""

import pytest

from agents.testing.market_client import MarketClient
from agents.protocol import CloseReason, Offer, Request, Status, ValidationScheme, Verdict
from conftest import (
    BOND,
    COLLATERAL,
    COMMENCE_WITHIN,
    JOB_DURATION,
    PRICE,
    RESULT_HASH,
    VALIDATION_WINDOW,
    VALIDATOR_FEE,
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
    """Optimistic: nobody objects and anyone settles after the window. Validator: the validator approves,
    nobody appeals, and anyone carries the verdict out after the appeal window (the validator is paid)."""
    validating = scheme == ValidationScheme.VALIDATOR
    fee = VALIDATOR_FEE if validating else 0
    b = balances()
    client.deposit(token, PRICE + fee)
    b = moved(b, _escrowed("client", PRICE + fee))
    provider.deposit(token, COLLATERAL)
    b = moved(b, _escrowed("provider", COLLATERAL))
    if validating:  # the validator's stake comes from its escrow account
        validator.deposit(token, BOND)
        b = moved(b, _escrowed("validator", BOND))

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

    # Accept: both sides (and the validator's fee and stake) are locked from the escrow float, at exactly the
    # offered terms.
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
    # A validator deal keeps the fee and the stake; an optimistic one stores its bond only when disputed.
    assert (deal.validatorFee, deal.bond, deal.verdict) == (fee, BOND if validating else 0, Verdict.NONE)
    locked = {"client.available": -PRICE - fee, "provider.available": -COLLATERAL}
    b = moved(b, locked | ({"validator.available": -BOND} if validating else {}))

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

    paid = {"provider.available": PRICE + COLLATERAL}
    if not validating:
        # Silence through the window pays the provider; anyone may trigger it.
        chain.pending_timestamp = deal.deadline + 1
        receipt = market.settle(deal_id, sender=stranger)
        reason = CloseReason.VALIDATION_WINDOW_PASSED
    else:
        # The named validator re-ran the job and attests the match, referencing the completion: the deal is
        # judged, and the client (whom the verdict went against) has the appeal window to take it to the court.
        receipt, verdict = validator.verdict(deal_id, provider.account.address, completion, True)
        assert (eas.getAttestation(verdict).attester, bytes(eas.getAttestation(verdict).refUID)) == (
            validator.account.address, completion,
        )
        log = only_event(receipt, market.Judged)
        assert (bytes(log.dealId), bytes(log.attestation), log.approved) == (deal_id, verdict, True)
        deal = market.getDeal(deal_id)
        assert (deal.status, deal.deadline, bytes(deal.lastAttestation), deal.verdict) == (
            Status.JUDGED, receipt.timestamp + VALIDATION_WINDOW, verdict, Verdict.APPROVED,
        )
        b = moved(b, {})
        chain.pending_timestamp = deal.deadline + 1
        receipt = market.settle(deal_id, sender=stranger)
        reason = CloseReason.VERDICT_APPROVED
        paid["validator.available"] = VALIDATOR_FEE + BOND  # its fee, and its stake back
    assert_closed(receipt, market, deal_id, Status.SETTLED, reason)
    assert client.status(deal_id) == Status.SETTLED
    b = moved(b, paid)

    # Pull payment: the provider takes its earnings and collateral out.
    receipt = provider.withdraw(token, PRICE + COLLATERAL)
    log = only_event(receipt, market.Withdrawn)
    assert (log.token, log.account, log.amount) == (token.address, provider.account.address, PRICE + COLLATERAL)
    moved(b, {key: -value for key, value in _escrowed("provider", PRICE + COLLATERAL).items()})


@pytest.mark.parametrize("scheme", list(ValidationScheme), ids=lambda s: s.name.lower())
def test_client_approval_closes_the_deal_at_once(market, client, provider, validator, balances, moved, run_deal,
                                                 scheme):
    """The client may always approve (even when a validator judges): the provider is paid at once, and the
    validator its fee with its stake back, verdict or not: the client bought the check when it named the
    validator, and approving first must not take the fee back from one that may have re-run the job."""
    run = run_deal(Status.COMPLETED, scheme=scheme)
    validating = scheme == ValidationScheme.VALIDATOR
    assert market.getDeal(run.deal_id).validator == (validator.account.address if validating else ZERO_ADDRESS)
    before = balances()
    receipt, _ = client.approve(run.deal_id, provider.account.address, run.completion)
    assert_closed(receipt, market, run.deal_id, Status.SETTLED, CloseReason.APPROVED)
    assert bytes(market.getDeal(run.deal_id).lastAttestation) == run.completion  # the approval closes: no later link
    returned = {"validator.available": VALIDATOR_FEE + BOND} if validating else {}
    moved(before, {"provider.available": PRICE + COLLATERAL} | returned)


@pytest.mark.parametrize("approved", [True, False], ids=["approves", "rejects"])
def test_unappealed_verdict_is_carried_out_after_the_appeal_window(chain, market, validator, stranger, balances,
                                                                   moved, run_deal, approved):
    """The verdict stands: the winner takes price and collateral, the validator its fee and its stake back."""
    run = run_deal(Status.JUDGED, scheme=ValidationScheme.VALIDATOR, approved=approved)
    deal = market.getDeal(run.deal_id)
    assert (deal.verdict, bytes(deal.lastAttestation)) == (Verdict.APPROVED if approved else Verdict.REJECTED,
                                                          run.verdict)
    chain.pending_timestamp = deal.deadline + 1
    before = balances()
    receipt = market.settle(run.deal_id, sender=stranger)
    outcome, reason, winner = ((Status.SETTLED, CloseReason.VERDICT_APPROVED, "provider") if approved
                               else (Status.SLASHED, CloseReason.VERDICT_REJECTED, "client"))
    assert_closed(receipt, market, run.deal_id, outcome, reason)
    moved(before, {f"{winner}.available": PRICE + COLLATERAL, "validator.available": VALIDATOR_FEE + BOND})


def test_optimistic_dispute_posts_the_bond_and_opens_the_court_window(market, token, client, balances, moved,
                                                                     run_deal):
    run = run_deal(Status.COMPLETED)
    client.deposit(token, BOND)
    before = balances()
    receipt = client.dispute(run.request)
    log = only_event(receipt, market.Disputed)
    deadline = receipt.timestamp + market.courtWindow()
    assert (bytes(log.dealId), log.client, log.bond, log.deadline) == (run.deal_id, client.account.address, BOND,
                                                                      deadline)
    deal = market.getDeal(run.deal_id)
    assert (deal.status, deal.deadline, deal.bond, bytes(deal.lastAttestation)) == (
        Status.DISPUTED, deadline, BOND, run.completion)
    moved(before, {"client.available": -BOND})


@pytest.mark.parametrize("approved", [True, False], ids=["verdict-approves", "verdict-rejects"])
def test_appeal_by_the_party_the_verdict_went_against(market, token, client, provider, balances, moved, run_deal,
                                                      approved):
    run = run_deal(Status.JUDGED, scheme=ValidationScheme.VALIDATOR, approved=approved)
    appellant = client if approved else provider
    appellant.deposit(token, BOND)
    before = balances()
    receipt = appellant.appeal(run.deal_id)
    log = only_event(receipt, market.Appealed)
    deadline = receipt.timestamp + market.courtWindow()
    assert (bytes(log.dealId), log.appellant, log.bond, log.deadline) == (
        run.deal_id, appellant.account.address, BOND, deadline)
    deal = market.getDeal(run.deal_id)
    assert (deal.status, deal.deadline, bytes(deal.lastAttestation)) == (Status.DISPUTED, deadline, run.verdict)
    moved(before, {f"{'client' if approved else 'provider'}.available": -BOND})


def test_silent_validator_is_escalated_by_anyone(chain, market, stranger, balances, moved, run_deal):
    run = run_deal(Status.COMPLETED, scheme=ValidationScheme.VALIDATOR)
    chain.pending_timestamp = market.getDeal(run.deal_id).deadline + 1
    before = balances()
    receipt = market.escalate(run.deal_id, sender=stranger)
    log = only_event(receipt, market.Escalated)
    deadline = receipt.timestamp + market.courtWindow()
    assert (bytes(log.dealId), log.deadline) == (run.deal_id, deadline)
    assert (market.getDeal(run.deal_id).status, market.getDeal(run.deal_id).deadline) == (Status.DISPUTED, deadline)
    moved(before, {})  # nobody posts a bond: the silent validator's stake is at stake


# How a deal reached the court -> the court's ruling -> who gets what. Price and collateral go to the
# winner; the court is paid one bond: the disputant's if the validator's verdict is confirmed (or, optimistic,
# always), the validator's stake if it was overruled or silent (its fee then goes back to the client and the
# appellant gets its bond back).
RULINGS = {
    "optimistic-dispute-upheld": ("dispute", None, False, {"client.available": PRICE + COLLATERAL}),
    "optimistic-dispute-dismissed": ("dispute", None, True, {"provider.available": PRICE + COLLATERAL}),
    "appeal-of-approval-dismissed": ("appeal", True, True, {
        "provider.available": PRICE + COLLATERAL, "validator.available": VALIDATOR_FEE + BOND}),
    "appeal-of-approval-upheld": ("appeal", True, False, {
        "client.available": PRICE + COLLATERAL + VALIDATOR_FEE + BOND}),
    "appeal-of-rejection-dismissed": ("appeal", False, False, {
        "client.available": PRICE + COLLATERAL, "validator.available": VALIDATOR_FEE + BOND}),
    "appeal-of-rejection-upheld": ("appeal", False, True, {
        "provider.available": PRICE + COLLATERAL + BOND, "client.available": VALIDATOR_FEE}),
    "escalated-approved": ("escalate", None, True, {
        "provider.available": PRICE + COLLATERAL, "client.available": VALIDATOR_FEE}),
    "escalated-rejected": ("escalate", None, False, {"client.available": PRICE + COLLATERAL + VALIDATOR_FEE}),
}


@pytest.mark.parametrize("case", list(RULINGS))
def test_court_ruling_pays_the_winner_and_the_court(chain, market, court, stranger, balances, moved, run_deal,
                                                   case):
    how, verdict, ruling, paid = RULINGS[case]
    if how == "dispute":
        run = run_deal(Status.DISPUTED)
    elif how == "appeal":
        run = run_deal(Status.DISPUTED, scheme=ValidationScheme.VALIDATOR, approved=verdict)
    else:
        run = run_deal(Status.COMPLETED, scheme=ValidationScheme.VALIDATOR)
        chain.pending_timestamp = market.getDeal(run.deal_id).deadline + 1
        market.escalate(run.deal_id, sender=stranger)
    before = balances()
    # The court rules on the deal's latest attestation: the verdict if there is one, else the completion.
    receipt, uid = court.ruling(run.deal_id, run.offer.provider, run.last_attestation, ruling)
    outcome, reason = ((Status.SETTLED, CloseReason.COURT_APPROVED) if ruling
                       else (Status.SLASHED, CloseReason.COURT_REJECTED))
    assert_closed(receipt, market, run.deal_id, outcome, reason)
    assert court.status(run.deal_id) == outcome
    moved(before, paid | {"court.available": BOND})


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
    receipt, _ = client.approve(deal_id, provider.account.address, completion)
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


@pytest.mark.parametrize("scheme", list(ValidationScheme), ids=lambda s: s.name.lower())
@pytest.mark.parametrize("status", [Status.AGREED, Status.COMMENCED])
def test_provider_aborts_and_client_is_compensated_at_once(market, provider, balances, moved, run_deal, status,
                                                           scheme):
    """A validator deal's fee goes back to the client and the stake to the validator: no verdict was needed."""
    run = run_deal(status, scheme=scheme)
    before = balances()
    receipt = provider.abort(run.deal_id)
    assert_closed(receipt, market, run.deal_id, Status.SLASHED, CloseReason.PROVIDER_ABORTED)
    if scheme == ValidationScheme.VALIDATOR:
        moved(before, {"client.available": PRICE + COLLATERAL + VALIDATOR_FEE, "validator.available": BOND})
    else:
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
