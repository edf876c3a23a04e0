"""Providers, validators and the court around a judgement, through the policy seam alone (no chain): a provider
vets the validator a request names before offering and appeals a rejection of its own correct work; validators
give verdicts (a colluding one sides with its partner); the court rules on what its re-run showed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agents.jobs.spec import JobSpec
from agents.policy import (
    Capacity,
    Context,
    CourtPolicy,
    Dialogue,
    LocalState,
    Notice,
    NoticeKind,
    Role,
    ValidatorPolicy,
    ValidatorStanding,
)
from agents.protocol import Domain, Message, Performative, Request, Status, ValidationScheme
from agents.strategies.adversarial import ColludingValidator
from agents.strategies.provider import CostPlusProvider, validator_objection
from agents.strategies.validator import HonestCourt, HonestValidator

CLIENT = "0x" + "11" * 20
PROVIDER = "0x" + "22" * 20
VALIDATOR = "0x" + "33" * 20
TOKEN = "0x" + "44" * 20
DEAL = b"\x05" * 32
NOW = 2_000_000_000
BUDGET = 10**18
BOND = BUDGET // 10
REQUEST = Request(CLIENT, TOKEN, BUDGET, 10**15, NOW + 60, 60, 300, 60, ValidationScheme.VALIDATOR, VALIDATOR,
                  BUDGET // 20, BOND, b"\x01" * 32, 0)
GOOD = ValidatorStanding(VALIDATOR, available=10 * BOND, score=0.5, overturned=0, linked_to_client=False)


def _context(dialogue: Dialogue, me: str, role: Role, perception: dict | None = None) -> Context:
    local = LocalState(hardware=None, free_capacity=Capacity(cores=8, ram_bytes=16 << 30), free_funds=10 * BUDGET,
                       open_deals=0)
    spec = JobSpec.for_workload("sha256-chain", {"n": 1000})
    return Context(role=role, me=me, now=NOW, dialogue=dialogue, parallel=(), local=local, global_state=None,
                   spec=spec, perception=perception or {})


def _requested(request: Request = REQUEST) -> tuple[Message, Dialogue]:
    args = {"dealId": DEAL, "request": request.message(), "specURI": "file:///spec", "invited": []}
    message = Message(Performative.REQUEST, DEAL, CLIENT, args, 1, NOW, (1, 0), 0.0)
    dialogue = Dialogue(DEAL, Role.PROVIDER, Domain(31337, "0x" + "55" * 20))
    dialogue.apply(message)
    return message, dialogue


def _offers(standing: ValidatorStanding | None, request: Request = REQUEST) -> bool:
    message, dialogue = _requested(request)
    reply = CostPlusProvider().react(message, _context(dialogue, PROVIDER, Role.PROVIDER, {"validator": standing}))
    return reply is not None and reply.performative == Performative.OFFER


def test_a_provider_offers_when_the_validator_is_paid_staked_and_independent():
    assert validator_objection(REQUEST, GOOD, PROVIDER) is None
    assert _offers(GOOD)
    # The optimistic scheme names no validator: nothing to vet.
    optimistic = replace(REQUEST, scheme=ValidationScheme.OPTIMISTIC, validator="0x" + "00" * 20, validator_fee=0)
    assert validator_objection(optimistic, None, PROVIDER) is None and _offers(None, optimistic)


@pytest.mark.parametrize("request_, standing, reason", [
    (REQUEST, replace(GOOD, available=BOND - 1), "stake is not funded"),
    (REQUEST, replace(GOOD, available=0), "stake is not funded"),
    (REQUEST, replace(GOOD, linked_to_client=True), "linked to the client"),
    (REQUEST, replace(GOOD, score=1 / 3, overturned=1), "record scores 0.33"),
    (replace(REQUEST, validator_fee=0), GOOD, "not paid"),
    (replace(REQUEST, validator=PROVIDER), GOOD, "a party to the deal"),
    (REQUEST, None, "nothing is known"),
])
def test_a_provider_declines_an_unvetted_validator(request_, standing, reason):
    assert reason in validator_objection(request_, standing, PROVIDER)
    assert not _offers(standing, request_)


def _judged(verdict: bool, result_ok: bool | None) -> Dialogue:
    return Dialogue(DEAL, Role.PROVIDER, Domain(31337, "0x" + "55" * 20), request=REQUEST, provider=PROVIDER,
                    price=BUDGET // 2, collateral=10**15, status=Status.JUDGED, verdict=verdict, result_ok=result_ok)


def _verdict_message(approved: bool) -> Message:
    args = {"dealId": DEAL, "attestation": b"\x07" * 32, "approved": approved}
    return Message(Performative.VERDICT, DEAL, None, args, 9, NOW, (9, 0), 0.0)


def test_a_provider_appeals_a_rejection_of_its_own_correct_work():
    provider = CostPlusProvider()
    dialogue = _judged(verdict=False, result_ok=True)
    reply = provider.react(_verdict_message(False), _context(dialogue, PROVIDER, Role.PROVIDER))
    assert reply.performative == Performative.APPEAL and reply.deal_id == DEAL
    # Re-asked as an owed move (a lost reply, a restart): the same appeal.
    assert provider.owed_move(_context(dialogue, PROVIDER, Role.PROVIDER)).performative == Performative.APPEAL


@pytest.mark.parametrize("verdict, result_ok", [(False, False), (False, None), (True, True)])
def test_a_provider_does_not_appeal_a_verdict_it_cannot_win(verdict, result_ok):
    # Its delivered result is not its own work (or it does not know), or the verdict went its way.
    provider = CostPlusProvider()
    dialogue = _judged(verdict, result_ok)
    assert provider.react(_verdict_message(verdict), _context(dialogue, PROVIDER, Role.PROVIDER)) is None
    assert provider.owed_move(_context(dialogue, PROVIDER, Role.PROVIDER)) is None


def _rerun(match: bool) -> Notice:
    return Notice(NoticeKind.VALIDATION_FINISHED, DEAL, {"match": match})


def _completed(client=CLIENT, provider=PROVIDER, status=Status.COMPLETED) -> Dialogue:
    request = replace(REQUEST, client=client)
    return Dialogue(DEAL, Role.VALIDATOR, Domain(31337, "0x" + "55" * 20), request=request, provider=provider,
                    status=status)


def test_an_honest_validator_attests_what_its_rerun_showed():
    validator = HonestValidator()
    assert isinstance(validator, ValidatorPolicy)
    for match in (True, False):
        reply = validator.react(_rerun(match), _context(_completed(), VALIDATOR, Role.VALIDATOR))
        assert (reply.performative, reply.approved) == (Performative.VERDICT, match)
    # Once judged (or judged by the client's approval) there is nothing left to attest.
    assert validator.react(_rerun(True), _context(_completed(status=Status.SETTLED), VALIDATOR, Role.VALIDATOR)) is None


def test_a_colluding_validator_sides_with_its_partner():
    partner_client, partner_provider = "0x" + "77" * 20, "0x" + "88" * 20

    def verdict(policy, match, client=CLIENT, provider=PROVIDER):
        return policy.react(_rerun(match), _context(_completed(client, provider), VALIDATOR, Role.VALIDATOR)).approved

    with_client = ColludingValidator(partner=partner_client)
    with_provider = ColludingValidator(partner=partner_provider)
    assert verdict(with_client, True, client=partner_client) is False  # good work rejected for its partner
    assert verdict(with_provider, False, provider=partner_provider) is True  # garbage approved for its partner
    assert verdict(with_client, True) is True and verdict(with_client, False) is False  # honest with others


def test_the_court_rules_on_disputed_deals_only():
    court = HonestCourt()
    assert isinstance(court, CourtPolicy)
    for match in (True, False):
        reply = court.react(_rerun(match), _context(_completed(status=Status.DISPUTED), VALIDATOR, Role.COURT))
        assert (reply.performative, reply.approved) == (Performative.RULING, match)
    assert court.react(_rerun(True), _context(_completed(status=Status.COMPLETED), VALIDATOR, Role.COURT)) is None
