"""Bad input gets a named custom error and changes nothing.

Each case snapshots the deals involved and every balance the escrow touches (escrow accounts, wallets,
the market's token balance, totalOwed), sends the bad message as a mined transaction, checks the exact
error with all its arguments, and compares the snapshot afterwards (the `refused` fixture). Deals are
built with real funds locked, so that a message that wrongly went through would move something.

At the end, the commands: each bad option of `ape run agent`, `fund`, `simulate` and `deploy` is refused with
exit code 2 and one line, `Error: ...`, naming the option, the parameter or the URL, and nothing is sent to
the chain, deployed or written."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from agents.deploy.addresses import Deployment
from agents.protocol import Domain, Status, ValidationScheme, typed_message
from conftest import (
    BOND,
    COLLATERAL,
    MAX_PRICE,
    MIN_COLLATERAL,
    PRICE,
    ZERO_ADDRESS,
    ZERO_BYTES32,
    attestation_request as _attestation,
    commencement,
    completion,
    delta,
    validation,
)

EOA = to_checksum_address("0x" + "ab" * 20)  # an address without code


def _address(parties, value):
    """Parametrize tables name accounts by role ("@client"); resolve them once fixtures exist."""
    if isinstance(value, str) and value.startswith("@"):
        return parties[value[1:]].address
    return value


def _terms(parties, overrides):
    return {key: _address(parties, value) for key, value in overrides.items()}


# --- escrow ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["deposit", "withdraw"])
def test_zero_amount(market, token, client_account, refused, method):
    refused([], market.ZeroAmount, getattr(market, method), token.address, 0, sender=client_account)


def test_withdraw_more_than_available(market, token, client, refused):
    client.deposit(token, 100)
    refused([], market.InsufficientBalance, market.withdraw, token.address, 101, sender=client.account,
            available=100, requested=101)


def test_locked_funds_cannot_be_withdrawn(market, token, client, run_deal, refused):
    run = run_deal(Status.AGREED)
    client.deposit(token, 50)  # unlocked float next to the locked price
    refused([run.deal_id], market.InsufficientBalance, market.withdraw, token.address, 51, sender=client.account,
            available=50, requested=51)


def test_deposit_of_an_address_without_code(market, client_account, refused):
    refused([], market.NotAToken, market.deposit, EOA, 1, sender=client_account, token=EOA)


def test_deposit_without_allowance(market, token, client_account, refused):
    refused([], token.ERC20InsufficientAllowance, market.deposit, token.address, 1, sender=client_account,
            spender=market.address, allowance=0, needed=1)


@pytest.fixture
def fee_token(project, deployer, client_account, provider_account, market):
    fee_token = project.FeeOnTransferToken.deploy(sender=deployer)
    for account in (client_account, provider_account):
        fee_token.mint(account.address, 10**6, sender=deployer)
        fee_token.approve(market.address, 10**6, sender=account)
    return fee_token


@pytest.fixture
def fee_token_state(market, fee_token, client_account, provider_account):
    """What the escrow knows of the fee-on-transfer token (the `unchanged` fixture watches the test token)."""

    def state():
        return [fee_token.balanceOf(market.address), market.totalOwed(fee_token.address)] + [
            (fee_token.balanceOf(a.address), market.available(fee_token.address, a.address))
            for a in (client_account, provider_account)
        ]

    return state


def test_fee_on_transfer_token_refused_on_deposit(market, fee_token, fee_token_state, client_account, refused):
    before = fee_token_state()
    refused([], market.FeeOnTransferNotSupported, market.deposit, fee_token.address, 1000, sender=client_account,
            token=fee_token.address, expected=1000, received=990)
    assert fee_token_state() == before


def test_fee_on_transfer_token_refused_on_accept(market, fee_token, fee_token_state, client, provider, make_request,
                                                 make_offer, refused):
    request = make_request(token=fee_token.address)
    offer = make_offer(request)
    before = fee_token_state()
    refused([client.deal_id(request)], market.FeeOnTransferNotSupported,
            market.accept, request.as_tuple(), offer.as_tuple(), provider.sign(offer), sender=client.account,
            token=fee_token.address, expected=PRICE, received=PRICE - PRICE // 100)
    assert fee_token_state() == before


def test_failing_transfer_of_a_false_returning_token(project, deployer, market, client_account, refused):
    """A token that reports failure by returning false (instead of reverting) is caught, not trusted."""
    false_token = project.FalseReturningToken.deploy(sender=deployer)
    false_token.approve(market.address, 1000, sender=client_account)  # approved, but holds nothing
    refused([], market.SafeERC20FailedOperation, market.deposit, false_token.address, 1000, sender=client_account,
            token=false_token.address)
    assert market.available(false_token.address, client_account.address) == market.totalOwed(false_token.address) == 0


def test_token_without_return_values_round_trips(project, deployer, market, client_account):
    """USDT-style tokens (no bool returned) can be deposited and withdrawn."""
    usdt = project.NoReturnToken.deploy(sender=deployer)
    usdt.mint(client_account.address, 1000, sender=deployer)
    usdt.approve(market.address, 1000, sender=client_account)
    market.deposit(usdt.address, 1000, sender=client_account)
    market.withdraw(usdt.address, 400, sender=client_account)
    assert market.available(usdt.address, client_account.address) == market.totalOwed(usdt.address) == 600
    assert usdt.balanceOf(market.address) == 600 and usdt.balanceOf(client_account.address) == 400


def test_tokens_sent_around_the_escrow_change_no_account(market, token, client, stranger, balances):
    """A plain transfer to the market credits nobody and leaves totalOwed alone; skim sends exactly that
    excess out (anyone may call it), and every account can still leave in full."""
    client.deposit(token, 500)
    before = balances()
    token.transfer(market.address, 123, sender=stranger)
    assert delta(before, balances()) == {"stranger.wallet": -123, "market": 123}
    market.skim(token.address, stranger.address, sender=client.account)
    assert delta(before, balances()) == {}
    client.withdraw(token, 500)
    assert token.balanceOf(market.address) == market.totalOwed(token.address)


# --- requests -------------------------------------------------------------------------------------

INVALID_TERMS = {
    "token-without-code": ({"token": EOA}, "NotAToken", {"token": EOA}),
    "zero-max-price": ({"max_price": 0}, "ZeroAmount", {}),
    "zero-commence-within": ({"commence_within": 0}, "InvalidDuration", {}),
    "zero-job-duration": ({"job_duration": 0}, "InvalidDuration", {}),
    "zero-validation-window": ({"validation_window": 0}, "InvalidDuration", {}),
    "validator-scheme-without-validator": (
        {"scheme": ValidationScheme.VALIDATOR, "validator": ZERO_ADDRESS}, "InvalidValidationScheme", {}),
    "optimistic-with-validator": (
        {"scheme": ValidationScheme.OPTIMISTIC, "validator": "@validator"}, "InvalidValidationScheme", {}),
    "client-is-validator": (
        {"scheme": ValidationScheme.VALIDATOR, "validator": "@client"}, "InvalidValidationScheme", {}),
    "zero-spec-hash": ({"spec_hash": ZERO_BYTES32}, "ZeroSpecHash", {}),
    "zero-bond": ({"bond": 0}, "ZeroAmount", {}),
    "optimistic-with-validator-fee": ({"validator_fee": 1}, "InvalidValidationScheme", {}),
    # The court judges last: it may not be a judge below itself.
    "court-is-validator": ({"scheme": ValidationScheme.VALIDATOR, "validator": "@court"}, "SelfDeal", {}),
}


@pytest.mark.parametrize("case", list(INVALID_TERMS))
def test_request_with_invalid_terms(market, client, parties, make_request, refused, case):
    overrides, error, inputs = INVALID_TERMS[case]
    request = make_request(**_terms(parties, overrides))
    refused([client.deal_id(request)], error, market.request, request.as_tuple(), "ipfs://spec", [], sender=client.account,
            **inputs)


@pytest.mark.parametrize("case", list(INVALID_TERMS))
def test_accept_rechecks_the_terms(market, token, client, provider, parties, make_request, make_offer, refused, case):
    """A request never has to be broadcast, so accept checks its terms again."""
    overrides, error, inputs = INVALID_TERMS[case]
    client.deposit(token, PRICE)
    request = make_request(**_terms(parties, overrides))
    offer = make_offer(request)
    refused([client.deal_id(request)], error, market.accept, request.as_tuple(), offer.as_tuple(),
            provider.sign(offer), sender=client.account, **inputs)


def test_request_by_someone_else(market, stranger, make_request, refused):
    request = make_request()  # names the client
    refused([], market.NotTheClient, market.request, request.as_tuple(), "ipfs://spec", [], sender=stranger)


def test_request_with_deadline_not_in_the_future(chain, market, client, make_request, refused):
    request = make_request(offer_deadline=chain.pending_timestamp - 1)
    refused([], market.InvalidDeadline, market.request, request.as_tuple(), "ipfs://spec", [],
            sender=client.account)


def test_request_again_after_agreement(market, client, run_deal, refused):
    run = run_deal(Status.AGREED)
    refused([run.deal_id], market.UnexpectedStatus, market.request, run.request.as_tuple(), "again", [],
            sender=client.account, dealId=run.deal_id, status=Status.AGREED)


@pytest.mark.parametrize("who", ["provider", "stranger"])
def test_cancel_request_by_someone_else(market, parties, client, make_request, refused, who):
    request = make_request()
    refused([client.deal_id(request)], market.NotTheClient, market.cancelRequest, request.as_tuple(),
            sender=parties[who])


@pytest.mark.parametrize("status", [Status.AWAITING_COLLATERAL, Status.AGREED, Status.CANCELLED])
def test_cancel_request_after_it_left_the_open_state(market, client, run_deal, make_request, refused, status):
    """Includes cancelling twice."""
    if status == Status.CANCELLED:
        request = make_request()
        client.cancel_request(request)
    else:
        request = run_deal(status).request
    deal_id = client.deal_id(request)
    refused([deal_id], market.UnexpectedStatus, market.cancelRequest, request.as_tuple(), sender=client.account,
            dealId=deal_id, status=status)


# --- offers ---------------------------------------------------------------------------------------


def test_offer_with_zero_price(market, provider, make_request, make_offer, refused):
    offer = make_offer(make_request(), price=0)
    refused([], market.ZeroAmount, market.offer, offer.as_tuple(), provider.sign(offer), sender=provider.account)


def test_offer_already_expired(chain, market, provider, make_request, make_offer, refused):
    offer = make_offer(make_request(), expiry=chain.pending_timestamp - 1)
    refused([], market.OfferExpired, market.offer, offer.as_tuple(), provider.sign(offer), sender=provider.account)


def test_offer_broadcast_by_someone_other_than_its_signer(market, provider, stranger, make_request, make_offer,
                                                          refused):
    offer = make_offer(make_request())
    refused([], market.InvalidSignature, market.offer, offer.as_tuple(), provider.sign(offer), sender=stranger)


def test_offer_on_an_agreed_deal(market, provider, run_deal, make_offer, refused):
    run = run_deal(Status.AGREED)
    offer = make_offer(run.request, round=1)
    refused([run.deal_id], market.UnexpectedStatus, market.offer, offer.as_tuple(), provider.sign(offer),
            sender=provider.account, dealId=run.deal_id, status=Status.AGREED)


# --- accept ---------------------------------------------------------------------------------------


@pytest.fixture
def funded(token, client, provider):
    """Both sides hold their float in the escrow, so a wrongly accepted offer would lock it."""
    client.deposit(token, MAX_PRICE)
    provider.deposit(token, COLLATERAL)


@pytest.fixture
def accept_refused(market, client, provider, refused):
    """`accept_refused(request, offer, error, acceptor=client, signature=provider's, **inputs)`."""

    def check(request, offer, error, *, acceptor=None, signature=None, **inputs):
        acceptor = acceptor or client
        signature = provider.sign(offer) if signature is None else signature
        refused([client.deal_id(request)], error, market.accept, request.as_tuple(), offer.as_tuple(), signature,
                sender=acceptor.account, **inputs)

    return check


OFFER_TERMS = {
    "zero-price": ({"price": 0}, "ZeroAmount", {}),
    "price-above-max": ({"price": MAX_PRICE + 1}, "PriceAboveMaximum", {"price": MAX_PRICE + 1, "maxPrice": MAX_PRICE}),
    "collateral-below-min": ({"collateral": MIN_COLLATERAL - 1}, "CollateralBelowMinimum",
                             {"collateral": MIN_COLLATERAL - 1, "minCollateral": MIN_COLLATERAL}),
    "other-request": ({"deal_id": keccak(text="another request")}, "OfferForAnotherRequest", {}),
    "provider-is-client": ({"provider": "@client"}, "SelfDeal", {}),
    "provider-is-court": ({"provider": "@court"}, "SelfDeal", {}),
}


@pytest.mark.parametrize("case", list(OFFER_TERMS))
@pytest.mark.usefixtures("funded")
def test_accept_offer_with_bad_terms(parties, make_request, make_offer, accept_refused, case):
    overrides, error, inputs = OFFER_TERMS[case]
    request = make_request()
    accept_refused(request, make_offer(request, **_terms(parties, overrides)), error, **inputs)


@pytest.mark.usefixtures("funded")
def test_accept_offer_from_the_named_validator(market, validator, make_request, make_offer, accept_refused):
    request = make_request(scheme=ValidationScheme.VALIDATOR)
    offer = make_offer(request, provider=validator.account.address)
    accept_refused(request, offer, market.SelfDeal, signature=validator.sign(offer))


@pytest.mark.usefixtures("funded")
def test_accept_after_the_request_expired(chain, market, make_request, make_offer, accept_refused):
    request = make_request()
    offer = make_offer(request, expiry=request.offer_deadline + 100)
    chain.pending_timestamp = request.offer_deadline + 1
    accept_refused(request, offer, market.RequestExpired)


@pytest.mark.usefixtures("funded")
def test_accept_after_the_offer_expired(chain, market, make_request, make_offer, accept_refused):
    request = make_request()
    offer = make_offer(request, expiry=chain.pending_timestamp + 10)
    chain.pending_timestamp = offer.expiry + 1
    accept_refused(request, offer, market.OfferExpired)


@pytest.mark.usefixtures("funded")
def test_accept_by_a_stranger(market, stranger_client, make_request, make_offer, accept_refused):
    request = make_request()
    accept_refused(request, make_offer(request), market.NotAParty, acceptor=stranger_client)


@pytest.mark.usefixtures("funded")
def test_accept_cancelled_offer(market, provider, make_request, make_offer, accept_refused):
    request = make_request()
    offer = make_offer(request)
    provider.cancel_offer(offer)
    accept_refused(request, offer, market.OfferIsCancelled)


@pytest.mark.usefixtures("funded")
def test_offer_cancelled_by_someone_else_stays_valid(client, provider, stranger_client, make_request, make_offer):
    """Cancellation is per signer: a stranger cancelling the provider's offer does not withdraw it."""
    request = make_request()
    offer = make_offer(request)
    stranger_client.cancel_offer(offer)
    client.accept(request, offer, provider.sign(offer))
    assert client.status(client.deal_id(request)) == Status.AGREED


def _foreign_domain_signature(provider, offer):
    other = Domain(chain_id=provider.domain.chain_id, market="0x" + "11" * 20)
    return provider.account.sign_message(typed_message(other, offer)).encode_rsv()


# case -> (who accepts, signature from (client, provider, stranger, offer, other terms))
BAD_SIGNATURES = {
    "signed-by-stranger": ("client", lambda c, p, s, o, other: s.sign(o)),
    "signed-over-other-terms": ("client", lambda c, p, s, o, other: p.sign(other)),
    "client-accepts-own-counter-offer": ("client", lambda c, p, s, o, other: c.sign(o)),
    "provider-accepts-own-offer": ("provider", lambda c, p, s, o, other: p.sign(o)),
    "signed-for-another-market": ("client", lambda c, p, s, o, other: _foreign_domain_signature(p, o)),
    "truncated": ("client", lambda c, p, s, o, other: p.sign(o)[:64]),
    "garbage": ("client", lambda c, p, s, o, other: b"\x01" * 65),
}


@pytest.mark.parametrize("case", list(BAD_SIGNATURES))
@pytest.mark.usefixtures("funded")
def test_accept_with_invalid_signature(market, client, provider, stranger_client, make_request, make_offer,
                                       accept_refused, case):
    acceptor, sign = BAD_SIGNATURES[case]
    request = make_request()
    offer = make_offer(request)
    signature = sign(client, provider, stranger_client, offer, make_offer(request, price=PRICE + 1))
    accept_refused(request, offer, market.InvalidSignature, signature=signature,
                   acceptor={"client": client, "provider": provider}[acceptor])


@pytest.mark.parametrize("status", [Status.AWAITING_COLLATERAL, Status.AGREED, Status.COMPLETED])
def test_double_accept(market, client, token, run_deal, refused, status):
    run = run_deal(status)
    client.deposit(token, PRICE)  # a float that a second accept could wrongly lock
    refused([run.deal_id], market.UnexpectedStatus, market.accept, run.request.as_tuple(), run.offer.as_tuple(),
            run.signature, sender=client.account, dealId=run.deal_id, status=status)


@pytest.mark.usefixtures("funded")
def test_accept_cancelled_request(market, client, make_request, make_offer, accept_refused):
    request = make_request()
    client.cancel_request(request)
    accept_refused(request, make_offer(request), market.UnexpectedStatus,
                   dealId=client.deal_id(request), status=Status.CANCELLED)


@pytest.mark.parametrize("function", ["accept", "acceptFunded"])
@pytest.mark.usefixtures("funded")
def test_accept_when_the_validator_has_not_staked(market, token, client, provider, validator, make_request,
                                                  make_offer, refused, function):
    """The validator's stake comes from its escrow account, never its wallet: short of the bond, no deal."""
    validator.deposit(token, BOND - 1)
    request = make_request(scheme=ValidationScheme.VALIDATOR)
    offer = make_offer(request)
    refused([client.deal_id(request)], market.UnfundedCounterparty, getattr(market, function), request.as_tuple(),
            offer.as_tuple(), provider.sign(offer), sender=client.account,
            party=validator.account.address, required=BOND, available=BOND - 1)


def test_accept_without_funds_or_allowance(market, token, make_request, make_offer, accept_refused):
    request = make_request()
    accept_refused(request, make_offer(request), token.ERC20InsufficientAllowance,
                   spender=market.address, allowance=0, needed=PRICE)


# --- funding --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, who",
    [(Status.AWAITING_COLLATERAL, "client"), (Status.AWAITING_COLLATERAL, "stranger"),
     (Status.AWAITING_PAYMENT, "provider"), (Status.AWAITING_PAYMENT, "stranger")],
)
def test_fund_by_the_wrong_party(market, token, parties, run_deal, refused, status, who):
    run = run_deal(status)
    token.approve(market.address, MAX_PRICE, sender=parties[who])
    refused([run.deal_id], market.NotTheFundingParty, market.fund, run.deal_id, sender=parties[who])


@pytest.mark.parametrize("status", [Status.NONE, Status.AGREED, Status.COMPLETED])
def test_fund_in_the_wrong_state(market, token, client, provider, make_request, run_deal, refused, status):
    deal_id = client.deal_id(make_request()) if status == Status.NONE else run_deal(status).deal_id
    provider.deposit(token, COLLATERAL)
    refused([deal_id], market.UnexpectedStatus, market.fund, deal_id, sender=provider.account,
            dealId=deal_id, status=status)


@pytest.mark.parametrize("status", [Status.NONE, Status.AGREED, Status.COMPLETED])
def test_collateral_missing_in_the_wrong_state(market, client, make_request, run_deal, refused, status):
    deal_id = client.deal_id(make_request()) if status == Status.NONE else run_deal(status).deal_id
    refused([deal_id], market.UnexpectedStatus, market.collateralMissing, deal_id, sender=client.account,
            dealId=deal_id, status=status)


# --- termination ----------------------------------------------------------------------------------

OPTIMISTIC, VALIDATOR = ValidationScheme.OPTIMISTIC, ValidationScheme.VALIDATOR
WRONG_STATES = {
    "settle": [(Status.NONE, OPTIMISTIC), (Status.AWAITING_PAYMENT, OPTIMISTIC), (Status.AGREED, OPTIMISTIC),
               (Status.COMMENCED, OPTIMISTIC), (Status.DISPUTED, OPTIMISTIC), (Status.DISPUTED, VALIDATOR)],
    "claimTimeout": [(Status.NONE, OPTIMISTIC), (Status.AWAITING_COLLATERAL, OPTIMISTIC),
                     (Status.COMPLETED, OPTIMISTIC), (Status.JUDGED, VALIDATOR)],
    "abort": [(Status.AWAITING_COLLATERAL, OPTIMISTIC), (Status.AWAITING_PAYMENT, OPTIMISTIC),
              (Status.COMPLETED, OPTIMISTIC), (Status.JUDGED, VALIDATOR), (Status.DISPUTED, OPTIMISTIC)],
    "escalate": [(Status.COMMENCED, VALIDATOR), (Status.JUDGED, VALIDATOR), (Status.DISPUTED, VALIDATOR)],
    "appeal": [(Status.COMPLETED, VALIDATOR), (Status.DISPUTED, VALIDATOR)],
}


@pytest.mark.parametrize(
    "call, status, scheme", [(call, *case) for call, cases in WRONG_STATES.items() for case in cases],
    ids=lambda v: v.name if isinstance(v, Status) else (v.name.lower() if isinstance(v, ValidationScheme) else v),
)
def test_termination_in_the_wrong_state(chain, market, provider, client, make_request, run_deal, refused, call,
                                        status, scheme):
    if status == Status.NONE:
        deal_id = client.deal_id(make_request())
    else:
        deal_id = run_deal(status, scheme=scheme).deal_id
        chain.pending_timestamp = market.getDeal(deal_id).deadline + 1  # time is not what is missing
    # abort is the provider's; the others are open to anyone (or checked for their party after the status)
    refused([deal_id], market.UnexpectedStatus, getattr(market, call), deal_id, sender=provider.account,
            dealId=deal_id, status=status)


def test_dispute_in_the_wrong_state(market, client, make_request, run_deal, refused):
    request = make_request()
    refused([client.deal_id(request)], market.UnexpectedStatus, market.dispute, request.as_tuple(),
            sender=client.account, dealId=client.deal_id(request), status=Status.NONE)
    run = run_deal(Status.DISPUTED)  # disputing twice
    refused([run.deal_id], market.UnexpectedStatus, market.dispute, run.request.as_tuple(), sender=client.account,
            dealId=run.deal_id, status=Status.DISPUTED)


def test_dispute_of_a_validator_deal(market, token, client, run_deal, refused):
    """A validator deal goes to the court by appeal of the verdict, or by escalation of a silent validator."""
    run = run_deal(Status.COMPLETED, scheme=VALIDATOR)
    client.deposit(token, BOND)
    refused([run.deal_id], market.InvalidValidationScheme, market.dispute, run.request.as_tuple(),
            sender=client.account)


@pytest.mark.parametrize("who", ["provider", "validator", "stranger"])
def test_dispute_by_someone_other_than_the_client(market, token, parties, run_deal, refused, who):
    run = run_deal(Status.COMPLETED)
    token.approve(market.address, BOND, sender=parties[who])
    refused([run.deal_id], market.NotTheClient, market.dispute, run.request.as_tuple(), sender=parties[who])


def test_dispute_without_the_bond(market, token, client, run_deal, refused):
    run = run_deal(Status.COMPLETED)
    refused([run.deal_id], token.ERC20InsufficientAllowance, market.dispute, run.request.as_tuple(),
            sender=client.account, spender=market.address, allowance=0, needed=BOND)


# verdict -> who may appeal it
APPELLANTS = {True: "client", False: "provider"}


@pytest.mark.parametrize("approved, who", [(approved, who) for approved in APPELLANTS
                                            for who in ("client", "provider", "validator", "stranger", "court")
                                            if who != APPELLANTS[approved]],
                         ids=lambda v: {True: "approval", False: "rejection"}.get(v, v))
def test_appeal_by_anyone_but_the_party_the_verdict_went_against(market, token, parties, run_deal, refused,
                                                                 approved, who):
    run = run_deal(Status.JUDGED, scheme=VALIDATOR, approved=approved)
    token.approve(market.address, BOND, sender=parties[who])
    refused([run.deal_id], market.NotTheAppellant, market.appeal, run.deal_id, sender=parties[who],
            expected=parties[APPELLANTS[approved]].address, actual=parties[who].address)


def test_escalation_of_an_optimistic_deal(chain, market, stranger, run_deal, refused):
    """An optimistic deal nobody disputed settles: there is no validator to escalate past."""
    run = run_deal(Status.COMPLETED)
    chain.pending_timestamp = market.getDeal(run.deal_id).deadline + 1
    refused([run.deal_id], market.InvalidValidationScheme, market.escalate, run.deal_id, sender=stranger)


def _close(kind, chain, market, client, provider, court, stranger, run):
    """Close a deal one of the ways a deal closes."""
    if kind in ("settled", "verdict-rejected"):
        chain.pending_timestamp = market.getDeal(run.deal_id).deadline + 1
        market.settle(run.deal_id, sender=stranger)
    elif kind == "approved":
        client.approve(run.deal_id, provider.account.address, run.completion)
    elif kind == "court-rejected":
        court.ruling(run.deal_id, provider.account.address, run.last_attestation, False)
    elif kind == "unwound":
        chain.pending_timestamp = market.getDeal(run.deal_id).deadline + 1
        market.claimTimeout(run.deal_id, sender=stranger)
    elif kind == "aborted":
        provider.abort(run.deal_id)


# how the deal closed -> (status it was run to first, its scheme, status it closed with)
CLOSINGS = {
    "settled": (Status.COMPLETED, OPTIMISTIC, Status.SETTLED),
    "approved": (Status.COMPLETED, OPTIMISTIC, Status.SETTLED),
    "verdict-rejected": (Status.JUDGED, VALIDATOR, Status.SLASHED),
    "court-rejected": (Status.DISPUTED, VALIDATOR, Status.SLASHED),
    "unwound": (Status.DISPUTED, OPTIMISTIC, Status.UNWOUND),
    "aborted": (Status.COMMENCED, OPTIMISTIC, Status.SLASHED),
}


@pytest.mark.parametrize("kind", list(CLOSINGS))
@pytest.mark.parametrize("call", ["settle", "claimTimeout", "abort", "escalate", "appeal"])
def test_closed_deal_cannot_be_closed_again(chain, market, client, provider, court, stranger, run_deal, refused, kind,
                                            call):
    """No deal settles, slashes, unwinds or goes to the court twice, whichever way it closed and however late."""
    reached, scheme, closed = CLOSINGS[kind]
    run = run_deal(reached, scheme=scheme, approved=False)
    _close(kind, chain, market, client, provider, court, stranger, run)
    chain.pending_timestamp = chain.pending_timestamp + 10**6
    refused([run.deal_id], market.UnexpectedStatus, getattr(market, call), run.deal_id, sender=provider.account,
            dealId=run.deal_id, status=closed)


@pytest.mark.parametrize("who", ["client", "stranger", "validator"])
def test_abort_by_someone_other_than_the_provider(market, parties, run_deal, refused, who):
    run = run_deal(Status.AGREED)
    refused([run.deal_id], market.NotTheProvider, market.abort, run.deal_id, sender=parties[who])


# --- attestations ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["client", "validator", "stranger"])
def test_commencement_by_someone_other_than_the_provider(eas, market, parties, run_deal, refused, who):
    run = run_deal(Status.AGREED)
    refused([run.deal_id], market.WrongAttester, eas.attest, commencement(market, run.deal_id, run.request.client),
            sender=parties[who], expected=run.offer.provider, actual=parties[who].address)


@pytest.mark.parametrize("who", ["provider", "stranger"])
def test_commencement_to_the_wrong_recipient(eas, market, parties, provider, run_deal, refused, who):
    run = run_deal(Status.AGREED)
    refused([run.deal_id], market.WrongRecipient, eas.attest, commencement(market, run.deal_id, parties[who].address),
            sender=provider.account, expected=run.request.client, actual=parties[who].address)


def test_commencement_with_a_reference(eas, market, provider, run_deal, refused):
    """Commencement opens the chain of attestations: referencing anything (here another deal's) is refused."""
    other = run_deal(Status.COMMENCED)
    run = run_deal(Status.AGREED)
    refused([run.deal_id, other.deal_id], market.WrongReference,
            eas.attest, commencement(market, run.deal_id, run.request.client, ref=other.commencement),
            sender=provider.account, expected=ZERO_BYTES32, actual=other.commencement)


@pytest.mark.parametrize("status", [Status.NONE, Status.AWAITING_COLLATERAL, Status.AWAITING_PAYMENT,
                                    Status.COMMENCED, Status.COMPLETED])
def test_commencement_in_the_wrong_state(eas, market, client, provider, make_request, run_deal, refused, status):
    """Includes a replayed (second) commencement."""
    deal_id = client.deal_id(make_request()) if status == Status.NONE else run_deal(status).deal_id
    refused([deal_id], market.UnexpectedStatus, eas.attest, commencement(market, deal_id, client.account.address),
            sender=provider.account, dealId=deal_id, status=status)


def test_completion_referencing_another_deals_commencement(eas, market, provider, run_deal, refused):
    other = run_deal(Status.COMMENCED)
    run = run_deal(Status.COMMENCED)
    refused([run.deal_id, other.deal_id], market.WrongReference,
            eas.attest, completion(market, run.deal_id, run.request.client, other.commencement),
            sender=provider.account, expected=run.commencement, actual=other.commencement)


def test_completion_without_reference(eas, market, provider, run_deal, refused):
    run = run_deal(Status.COMMENCED)
    refused([run.deal_id], market.WrongReference, eas.attest,
            completion(market, run.deal_id, run.request.client, ZERO_BYTES32),
            sender=provider.account, expected=run.commencement, actual=ZERO_BYTES32)


def test_completion_with_zero_result_hash(eas, market, provider, run_deal, refused):
    run = run_deal(Status.COMMENCED)
    refused([run.deal_id], market.ZeroResultHash, eas.attest,
            completion(market, run.deal_id, run.request.client, run.commencement, result_hash=ZERO_BYTES32),
            sender=provider.account)


@pytest.mark.parametrize("who", ["client", "stranger"])
def test_completion_by_someone_other_than_the_provider(eas, market, parties, run_deal, refused, who):
    run = run_deal(Status.COMMENCED)
    refused([run.deal_id], market.WrongAttester, eas.attest,
            completion(market, run.deal_id, run.request.client, run.commencement),
            sender=parties[who], expected=run.offer.provider, actual=parties[who].address)


def test_completion_to_the_wrong_recipient(eas, market, provider, stranger, run_deal, refused):
    run = run_deal(Status.COMMENCED)
    refused([run.deal_id], market.WrongRecipient, eas.attest,
            completion(market, run.deal_id, stranger.address, run.commencement),
            sender=provider.account, expected=run.request.client, actual=stranger.address)


@pytest.mark.parametrize("status", [Status.AGREED, Status.COMPLETED])
def test_completion_in_the_wrong_state(eas, market, provider, run_deal, refused, status):
    """Includes a second completion of a completed deal."""
    run = run_deal(status)
    refused([run.deal_id], market.UnexpectedStatus, eas.attest,
            completion(market, run.deal_id, run.request.client, run.commencement or ZERO_BYTES32),
            sender=provider.account, dealId=run.deal_id, status=status)


# (status, scheme, who attests, approved) -> the attester the contract expected
WRONG_JUDGES = [
    (Status.COMPLETED, OPTIMISTIC, "stranger", True, "client"),
    (Status.COMPLETED, OPTIMISTIC, "provider", True, "client"),
    (Status.COMPLETED, OPTIMISTIC, "validator", False, "client"),  # a validator the request never named
    (Status.COMPLETED, OPTIMISTIC, "court", True, "client"),  # the court rules only on disputes
    (Status.COMPLETED, VALIDATOR, "client", False, "validator"),  # the client may approve, not reject
    (Status.COMPLETED, VALIDATOR, "provider", True, "validator"),
    (Status.COMPLETED, VALIDATOR, "stranger", False, "validator"),
    (Status.COMPLETED, VALIDATOR, "court", False, "validator"),
    (Status.DISPUTED, OPTIMISTIC, "client", True, "court"),  # a disputed deal is the court's alone
    (Status.DISPUTED, OPTIMISTIC, "provider", True, "court"),
    (Status.DISPUTED, VALIDATOR, "validator", True, "court"),
    (Status.DISPUTED, VALIDATOR, "stranger", False, "court"),
]


@pytest.mark.parametrize("status, scheme, who, approved, judge", WRONG_JUDGES,
                         ids=[f"{st.name}-{s.name}-{w}-{'approves' if a else 'rejects'}"
                              for st, s, w, a, _ in WRONG_JUDGES])
def test_validation_by_the_wrong_judge(eas, market, parties, run_deal, refused, status, scheme, who, approved,
                                       judge):
    run = run_deal(status, scheme=scheme)
    refused([run.deal_id], market.WrongAttester, eas.attest,
            validation(market, run.deal_id, run.offer.provider, run.last_attestation, approved),
            sender=parties[who], expected=parties[judge].address, actual=parties[who].address)


def test_optimistic_client_rejects_only_by_dispute(eas, market, client, run_deal, refused):
    """A rejection attestation would let the client keep the result without a bond at stake."""
    run = run_deal(Status.COMPLETED)
    refused([run.deal_id], market.RejectionNeedsDispute, eas.attest,
            validation(market, run.deal_id, run.offer.provider, run.completion, False), sender=client.account)


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.DISPUTED])
def test_validation_to_the_wrong_recipient(eas, market, parties, run_deal, refused, status):
    run = run_deal(status, scheme=VALIDATOR)
    judge = "validator" if status == Status.COMPLETED else "court"
    refused([run.deal_id], market.WrongRecipient, eas.attest,
            validation(market, run.deal_id, run.request.client, run.last_attestation, False),
            sender=parties[judge], expected=run.offer.provider, actual=run.request.client)


@pytest.mark.parametrize("ref", ["commencement", "other-completion", "none"])
def test_validation_with_the_wrong_reference(eas, market, client, run_deal, refused, ref):
    other = run_deal(Status.COMPLETED)
    run = run_deal(Status.COMPLETED)
    uid = {"commencement": run.commencement, "other-completion": other.completion, "none": ZERO_BYTES32}[ref]
    refused([run.deal_id, other.deal_id], market.WrongReference, eas.attest,
            validation(market, run.deal_id, run.offer.provider, uid, True),
            sender=client.account, expected=run.completion, actual=uid)


def test_court_ruling_must_reference_the_verdict(eas, market, court, run_deal, refused):
    """The court rules on what was appealed: the verdict, not the completion under it."""
    run = run_deal(Status.DISPUTED, scheme=VALIDATOR)
    refused([run.deal_id], market.WrongReference, eas.attest,
            validation(market, run.deal_id, run.offer.provider, run.completion, True),
            sender=court.account, expected=run.verdict, actual=run.completion)


def test_second_verdict_is_refused(eas, market, validator, run_deal, refused):
    """A judged deal takes no other verdict: only an appeal or, after the window, settlement."""
    run = run_deal(Status.JUDGED, scheme=VALIDATOR)
    refused([run.deal_id], market.UnexpectedStatus, eas.attest,
            validation(market, run.deal_id, run.offer.provider, run.verdict, False), sender=validator.account,
            dealId=run.deal_id, status=Status.JUDGED)


@pytest.mark.parametrize("status", [Status.AGREED, Status.COMMENCED])
def test_validation_before_completion(eas, market, client, run_deal, refused, status):
    run = run_deal(status)
    refused([run.deal_id], market.UnexpectedStatus, eas.attest,
            validation(market, run.deal_id, run.offer.provider, run.commencement or ZERO_BYTES32, False),
            sender=client.account, dealId=run.deal_id, status=status)


@pytest.mark.parametrize("kind", list(CLOSINGS))
def test_validation_of_a_closed_deal(chain, eas, market, client, provider, court, stranger, run_deal, refused, kind):
    """A verdict or ruling after the deal closed (e.g. replayed after approval) moves nothing."""
    reached, scheme, closed = CLOSINGS[kind]
    run = run_deal(reached, scheme=scheme, approved=False)
    _close(kind, chain, market, client, provider, court, stranger, run)
    refused([run.deal_id], market.UnexpectedStatus, eas.attest,
            validation(market, run.deal_id, run.offer.provider, run.last_attestation or run.commencement, True),
            sender=court.account, dealId=run.deal_id, status=closed)


@pytest.mark.parametrize("schema", ["commencement", "completion", "validation"])
def test_expiring_attestation(chain, eas, market, client, provider, run_deal, refused, schema):
    """A referenced attestation must stay valid, so the market's attestations may not expire."""
    expires = chain.pending_timestamp + 10**6
    if schema == "commencement":
        run = run_deal(Status.AGREED)
        request, sender = commencement(market, run.deal_id, run.request.client, expiration=expires), provider
    elif schema == "completion":
        run = run_deal(Status.COMMENCED)
        request = completion(market, run.deal_id, run.request.client, run.commencement, expiration=expires)
        sender = provider
    else:
        run = run_deal(Status.COMPLETED)
        request = validation(market, run.deal_id, run.offer.provider, run.completion, True, expiration=expires)
        sender = client
    refused([run.deal_id], market.AttestationMustNotExpire, eas.attest, request, sender=sender.account)


def test_attestation_on_an_unknown_schema_naming_the_market(system, eas, market, provider, stranger, run_deal,
                                                            refused):
    """Anyone can register a schema with the market as resolver; its attestations must not move deals."""
    receipt = system.registry.register("bytes32 dealId,uint8 note", market.address, False, sender=stranger)
    schema = bytes(receipt.decode_logs(system.registry.Registered)[0].uid)
    run = run_deal(Status.AGREED)
    data = encode(["bytes32", "uint8"], [run.deal_id, 1])
    refused([run.deal_id], market.UnknownSchema, eas.attest, _attestation(schema, run.request.client, data),
            sender=provider.account, schema=schema)


def test_attestation_on_a_schema_without_resolver_moves_nothing(system, eas, provider, run_deal, unchanged):
    """The same payload on a look-alike schema that has no resolver is recorded by EAS but ignored."""
    receipt = system.registry.register("bytes32 dealId", ZERO_ADDRESS, False, sender=provider.account)
    schema = bytes(receipt.decode_logs(system.registry.Registered)[0].uid)
    run = run_deal(Status.AGREED)
    data = encode(["bytes32"], [run.deal_id])
    with unchanged(run.deal_id):
        eas.attest(_attestation(schema, run.request.client, data), sender=provider.account)


def test_malformed_attestation_data(eas, market, provider, run_deal, refused):
    """Data that does not decode as the schema reverts (without a name: abi.decode fails)."""
    run = run_deal(Status.AGREED)
    refused([run.deal_id], "0x", eas.attest,
            _attestation(market.commencementSchemaUID(), run.request.client, b"\x01" * 8), sender=provider.account)


def test_resolver_only_listens_to_eas(market, client, provider, stranger, run_deal, refused):
    """Calling the resolver hook directly with a forged attestation is refused."""
    run = run_deal(Status.AGREED)
    forged = (keccak(text="forged"), market.commencementSchemaUID(), 0, 0, 0, ZERO_BYTES32,
              client.account.address, provider.account.address, False, encode(["bytes32"], [run.deal_id]))
    refused([run.deal_id], market.AccessDenied, market.attest, forged, sender=stranger)


# --- the command line -----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
AGENT_INDEX = 9  # a test account no other test funds


def ape_run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    ape = Path(sys.executable).with_name("ape")
    return subprocess.run([str(ape), "run", *args], cwd=ROOT, capture_output=True, text=True, timeout=180,
                          env={**os.environ, **(env or {})})


def one_line_error(result: subprocess.CompletedProcess, *named: str) -> str:
    """The command was refused with exit code 2 and a single line, `Error: ...`, that names each of `named`."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for name in named:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def dead_url():
    """A local URL where nothing answers and nothing can start listening while the test runs: the port is
    held, bound but not listening (a connection is refused)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture
def deployment_file(system, tmp_path):
    path = tmp_path / "deployment.json"
    path.write_text(Deployment.from_system(system).to_json())
    return path


@pytest.fixture
def nothing_sent(chain, accounts):
    """Asserts, after the test's command, that no block was mined and the agent's account sent nothing."""
    agent = accounts[AGENT_INDEX].address
    before = (chain.provider.make_request("eth_blockNumber", []), chain.provider.get_nonce(agent))
    yield
    assert (chain.provider.make_request("eth_blockNumber", []), chain.provider.get_nonce(agent)) == before


def agent(chain, deployment_file, *options: str) -> subprocess.CompletedProcess:
    """`ape run agent` for one second on the test chain, as the test account, with `options` added; a
    command that wrongly starts ends by itself."""
    return ape_run("agent", "--test-account", str(AGENT_INDEX), "--rpc", chain.provider.http_uri, "--deployment",
                   str(deployment_file), "--duration", "1", "--store", str(deployment_file.parent / "store"),
                   *options)


AGENT_BAD_OPTIONS = {
    "typo-in-a-strategy-parameter": (["--role", "client", "--param", "budgett=2"], ["no parameter 'budgett'"]),
    "negative-budget": (["--role", "client", "--budget", "-1"], ["budget must not be negative"]),
    "budget-not-a-number": (["--role", "client", "--budget", "lots"], ["--budget", "'lots'"]),
    "parameter-not-a-number": (["--role", "provider", "--param", "margin=high"], ["margin must be a number"]),
    "negative-parameter": (["--role", "provider", "--param", "margin=-0.1"], ["margin must not be negative"]),
    "parameter-without-value": (["--role", "provider", "--param", "margin"], ["--param takes NAME=VALUE"]),
    "budget-for-a-provider": (["--role", "provider", "--budget", "2"], ["--budget is for clients"]),
    "negative-stake": (["--role", "validator", "--stake", "-5"], ["--stake"]),
    "unknown-role": (["--role", "broker"], ["--role", "broker"]),
    "test-account-out-of-range": (["--role", "client", "--test-account", "99"], ["--test-account", "99"]),
}


@pytest.mark.parametrize("case", list(AGENT_BAD_OPTIONS))
@pytest.mark.usefixtures("nothing_sent")
def test_agent_bad_option(chain, deployment_file, case):
    options, named = AGENT_BAD_OPTIONS[case]
    one_line_error(agent(chain, deployment_file, *options), *named)


@pytest.mark.usefixtures("nothing_sent")
def test_agent_unreachable_rpc(chain, deployment_file, dead_url):
    result = ape_run("agent", "--role", "client", "--test-account", str(AGENT_INDEX), "--rpc", dead_url,
                     "--deployment", str(deployment_file), "--duration", "1")
    one_line_error(result, f"no node answers at {dead_url}")


@pytest.mark.usefixtures("nothing_sent")
def test_agent_deployment_of_another_chain(chain, system, tmp_path):
    other = tmp_path / "other-chain.json"
    other.write_text(json.dumps({**json.loads(Deployment.from_system(system).to_json()), "chain_id": 8453}))
    result = agent(chain, other, "--role", "client")
    one_line_error(result, "is for chain 8453", f"is chain {chain.provider.chain_id}")


@pytest.mark.usefixtures("nothing_sent")
def test_agent_file_that_is_not_a_deployment(chain, tmp_path):
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"name": "tiny", "steps": 3}))
    one_line_error(agent(chain, scenario, "--role", "client"), "is not a deployment record")


FUND_BAD_OPTIONS = {
    "zero-tokens": (["--tokens", "0"], ["--tokens"]),
    "negative-tokens": (["--tokens", "-3"], ["--tokens"]),
    "finer-than-the-token": (["--tokens", "0.0000000000000000001"], ["more decimals than tUSD's 18"]),
    "no-account": (["--tokens", "5", "--test-account", "1", "--account", "someone"], ["exactly one of"]),
}


@pytest.mark.parametrize("case", list(FUND_BAD_OPTIONS))
@pytest.mark.usefixtures("nothing_sent")
def test_fund_bad_option(chain, deployment_file, case):
    options, named = FUND_BAD_OPTIONS[case]
    if "--test-account" not in options:
        options = [*options, "--test-account", str(AGENT_INDEX)]
    result = ape_run("fund", "--rpc", chain.provider.http_uri, "--deployment", str(deployment_file), *options)
    one_line_error(result, *named)


@pytest.mark.usefixtures("nothing_sent")
def test_fund_unreachable_rpc(deployment_file, dead_url):
    result = ape_run("fund", "--test-account", str(AGENT_INDEX), "--tokens", "5", "--rpc", dead_url,
                     "--deployment", str(deployment_file))
    one_line_error(result, f"no node answers at {dead_url}")


TINY = str(ROOT / "tests" / "data" / "tiny.yaml")


def test_simulate_unreachable_node(dead_url, tmp_path):
    """Ape would start an anvil of its own at a local URL where nothing listens; the user named a node they run."""
    result = ape_run("simulate", "--scenario", TINY, "--out", str(tmp_path), "--network", "ethereum:local:foundry",
                     "--provider-settings", json.dumps({"host": dead_url}))
    one_line_error(result, f"no node answers at {dead_url}")
    assert not any(tmp_path.iterdir())


def test_simulate_unknown_network(tmp_path):
    """Not Ape's list of every ecosystem: the networks that make sense here."""
    line = one_line_error(ape_run("simulate", "--scenario", TINY, "--out", str(tmp_path), "--network", "nonsense"),
                          "'nonsense'", "ethereum:local:foundry", "base:sepolia:node")
    assert "polygon" not in line
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("network", ["base:sepolia:{url}", "ethereum:local:{url}"])
def test_deploy_unreachable_node(dead_url, tmp_path, network):
    result = ape_run("deploy", "--network", network.format(url=dead_url), "--account", "TEST::0",
                     "--with-test-token", env={"COMPUTE_MARKET_DEPLOYMENTS_DIR": str(tmp_path)})
    one_line_error(result, f"no node answers at {dead_url}")
    assert not any(tmp_path.iterdir())


def test_deploy_unknown_network(tmp_path):
    result = ape_run("deploy", "--network", "base:nowhere:node", "--account", "TEST::0", "--with-test-token",
                     env={"COMPUTE_MARKET_DEPLOYMENTS_DIR": str(tmp_path)})
    one_line_error(result, "'base:nowhere:node'", "optimism:sepolia:node")
    assert not any(tmp_path.iterdir())
