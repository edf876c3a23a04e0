"""The budget client through the policy seam alone (no chain): its choice among parallel offers (an offer whose
acceptance the market refused is not taken again), and what it does about a delivered result: it disputes or
appeals only what failed its own check."""

from __future__ import annotations

from agents.jobs.spec import JobSpec
from agents.policy import Capacity, Context, Dialogue, LocalState, Notice, NoticeKind, Role
from agents.protocol import Domain, Message, Offer, Performative, Request, Status, ValidationScheme
from agents.strategies.adversarial import FalseDisputeClient
from agents.strategies.client import BudgetClient

CLIENT = "0x" + "11" * 20
CHEAP = "0x" + "22" * 20
DEAR = "0x" + "33" * 20
TOKEN = "0x" + "44" * 20
DEAL = b"\x05" * 32
NOW = 2_000_000_000
BUDGET = 10**18


def _dialogue() -> Dialogue:
    request = Request(CLIENT, TOKEN, BUDGET, 10**15, NOW + 60, 60, 300, 60, ValidationScheme.OPTIMISTIC,
                      "0x" + "00" * 20, 0, BUDGET // 10, b"\x01" * 32, 0)
    dialogue = Dialogue(DEAL, Role.CLIENT, Domain(31337, "0x" + "55" * 20))
    requested = {"dealId": DEAL, "request": request.message(), "specURI": "file:///spec", "invited": []}
    dialogue.apply(Message(Performative.REQUEST, DEAL, CLIENT, requested, 1, NOW, (1, 0), 0.0))
    for index, (provider, price) in enumerate(((CHEAP, BUDGET // 4), (DEAR, BUDGET // 3)), start=1):
        offer = Offer(DEAL, provider, price, 10**15, NOW + 50, 0)
        args = {"dealId": DEAL, "offer": offer.message(), "signer": provider, "signature": bytes([index]) * 65}
        dialogue.apply(Message(Performative.OFFER, DEAL, provider, args, 2, NOW + 1, (2, index), 0.0))
    return dialogue


def _context(dialogue: Dialogue, now: int) -> Context:
    local = LocalState(hardware=None, free_capacity=Capacity(), free_funds=10 * BUDGET, open_deals=0)
    return Context(role=Role.CLIENT, me=CLIENT, now=now, dialogue=None, parallel=(dialogue,), local=local,
                   global_state=None)


def test_a_refused_accept_moves_the_client_to_the_next_offer():
    client, dialogue = BudgetClient(budget=BUDGET), _dialogue()
    later = NOW + 10  # past the decision delay: both offers are in
    [first] = client.act(_context(dialogue, later))
    assert first.performative == Performative.ACCEPT and first.offer.provider == CHEAP  # the cheaper one

    refused = Notice(NoticeKind.TX_FAILED, DEAL, {"kind": Performative.ACCEPT.value, "tx": "0x01"})
    assert client.react(refused, _context(dialogue, later)) is None
    [second] = client.act(_context(dialogue, later))
    assert second.performative == Performative.ACCEPT and second.offer.provider == DEAR

    client.react(Notice(NoticeKind.TX_FAILED, DEAL, {"kind": Performative.ACCEPT.value, "tx": "0x02"}),
                 _context(dialogue, later))
    assert client.act(_context(dialogue, later)) == []  # no funded offer left: it waits for new ones


def test_other_failed_transactions_exclude_no_offer():
    client, dialogue = BudgetClient(budget=BUDGET), _dialogue()
    client.act(_context(dialogue, NOW + 10))
    client.react(Notice(NoticeKind.TX_FAILED, DEAL, {"kind": Performative.OFFER.value, "tx": "0x03"}),
                 _context(dialogue, NOW + 10))
    [again] = client.act(_context(dialogue, NOW + 10))
    assert again.offer.provider == CHEAP


# --- what the client does about a delivered result -------------------------------------------------------

VALIDATOR = "0x" + "66" * 20


def _delivered(scheme: ValidationScheme, result_ok: bool | None, verdict: bool | None = None) -> Context:
    """A deal of the client's whose result was delivered (and judged, if `verdict` is given), checked with the
    outcome `result_ok`."""
    validator = VALIDATOR if scheme == ValidationScheme.VALIDATOR else "0x" + "00" * 20
    request = Request(CLIENT, TOKEN, BUDGET, 10**15, NOW + 60, 60, 300, 60, scheme, validator,
                      BUDGET // 20 if validator != "0x" + "00" * 20 else 0, BUDGET // 10, b"\x01" * 32, 0)
    dialogue = Dialogue(DEAL, Role.CLIENT, Domain(31337, "0x" + "55" * 20), request=request, provider=CHEAP,
                        price=BUDGET // 4, collateral=10**15, status=Status.COMPLETED, result_ok=result_ok)
    if verdict is not None:
        dialogue.status, dialogue.verdict = Status.JUDGED, verdict
    local = LocalState(hardware=None, free_capacity=Capacity(), free_funds=10 * BUDGET, open_deals=1)
    return Context(role=Role.CLIENT, me=CLIENT, now=NOW, dialogue=dialogue, parallel=(), local=local,
                   global_state=None)


def _move(policy, context: Context) -> Performative | None:
    reply = policy.assess(context)
    return reply.performative if reply else None


def test_the_client_disputes_an_optimistic_result_only_when_its_check_fails():
    client = BudgetClient(budget=BUDGET)
    assert _move(client, _delivered(ValidationScheme.OPTIMISTIC, False)) == Performative.DISPUTE
    assert _move(client, _delivered(ValidationScheme.OPTIMISTIC, True)) == Performative.APPROVE
    assert _move(client, _delivered(ValidationScheme.OPTIMISTIC, None)) is None  # not checked: no grounds
    patient = BudgetClient(budget=BUDGET, approve_early=False)
    assert _move(patient, _delivered(ValidationScheme.OPTIMISTIC, True)) is None  # silence pays the provider
    assert _move(patient, _delivered(ValidationScheme.OPTIMISTIC, False)) == Performative.DISPUTE


def test_the_client_appeals_a_validators_approval_only_when_its_check_fails():
    client = BudgetClient(budget=BUDGET)
    # Before the verdict it leaves judging to the validator, whatever its check says.
    assert _move(client, _delivered(ValidationScheme.VALIDATOR, False)) is None
    assert _move(client, _delivered(ValidationScheme.VALIDATOR, True)) is None
    assert _move(client, _delivered(ValidationScheme.VALIDATOR, False, verdict=True)) == Performative.APPEAL
    assert _move(client, _delivered(ValidationScheme.VALIDATOR, True, verdict=True)) is None
    assert _move(client, _delivered(ValidationScheme.VALIDATOR, None, verdict=True)) is None  # could not check
    assert _move(client, _delivered(ValidationScheme.VALIDATOR, False, verdict=False)) is None  # it won


def test_a_false_disputer_contests_results_that_passed_its_check():
    always = FalseDisputeClient(budget=BUDGET)
    assert _move(always, _delivered(ValidationScheme.OPTIMISTIC, True)) == Performative.DISPUTE
    assert _move(always, _delivered(ValidationScheme.VALIDATOR, True, verdict=True)) == Performative.APPEAL
    never = FalseDisputeClient(budget=BUDGET, dispute_probability=0.0)
    assert _move(never, _delivered(ValidationScheme.OPTIMISTIC, True)) == Performative.APPROVE  # honest otherwise
    sometimes = FalseDisputeClient(budget=BUDGET, dispute_probability=0.5, seed=1)
    moves = [_move(sometimes, _delivered(ValidationScheme.OPTIMISTIC, True)) for _ in range(200)]
    assert 60 < moves.count(Performative.DISPUTE) < 140 and set(moves) == {Performative.DISPUTE, Performative.APPROVE}


def test_request_terms_carry_a_bond_and_a_validator_fee():
    client = BudgetClient(budget=BUDGET, scheme=ValidationScheme.VALIDATOR, validator=VALIDATOR)
    spec = JobSpec.for_workload("sha256-chain", {"n": 1000})
    terms = client.terms_for(spec, _context(_dialogue(), NOW))
    assert (terms.bond, terms.validator_fee) == (BUDGET // 10, BUDGET // 20)
    assert BudgetClient(budget=3).terms_for(spec, _context(_dialogue(), NOW)).bond == 1  # at least one unit
