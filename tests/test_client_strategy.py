"""The budget client's choice among parallel offers, through the policy seam alone (no chain): an offer whose
acceptance the market refused (the provider's escrow could not lock its collateral) is not taken again."""

from __future__ import annotations

from agents.policy import Capacity, Context, Dialogue, LocalState, Notice, NoticeKind, Role
from agents.protocol import Domain, Message, Offer, Performative, Request, ValidationScheme
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
                      "0x" + "00" * 20, b"\x01" * 32, 0)
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
