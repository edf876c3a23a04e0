"""The README's example policy works as the README says, through the policy seam alone (no chain)."""

from __future__ import annotations

import re
from pathlib import Path

from agents.jobs.spec import JobSpec, Requirements
from agents.policy import (
    Capacity,
    ClientPolicy,
    Context,
    CourtPolicy,
    Dialogue,
    LocalState,
    ProviderPolicy,
    Role,
    ValidatorPolicy,
)
from agents.protocol import Domain, Message, Performative, Request, Status, ValidationScheme, is_valid_reply
from agents.strategies.client import BudgetClient
from agents.strategies.validator import HonestCourt, HonestValidator

README = Path(__file__).resolve().parent.parent / "README.md"
CLIENT = "0x" + "11" * 20
PROVIDER = "0x" + "22" * 20
TOKEN = "0x" + "33" * 20
NOW = 2_000_000_000


def example_policy_class():
    text = README.read_text()
    block = re.search(r"<!-- example-policy -->\s*```python\n(.*?)```\s*<!-- /example-policy -->", text, re.S)
    assert block, "README has no example policy block"
    namespace: dict = {}
    exec(compile(block.group(1), "README.md example", "exec"), namespace)  # noqa: S102 - our own README
    return namespace["HalfBudget"]


def request_context(max_price: int, min_collateral: int = 10**15) -> tuple[Message, Context]:
    request = Request(CLIENT, TOKEN, max_price, min_collateral, NOW + 60, 60, 300, 60,
                      ValidationScheme.OPTIMISTIC, "0x" + "00" * 20, 0, 10**15, b"\x01" * 32, 0)
    message = Message(
        Performative.REQUEST, b"\x02" * 32, CLIENT,
        {"dealId": b"\x02" * 32, "request": request.message(), "specURI": "file:///spec", "invited": []},
        block=1, time=NOW, log_key=(1, 0), received_at=0.0,
    )
    dialogue = Dialogue(message.deal_id, Role.PROVIDER, Domain(31337, "0x" + "44" * 20))
    dialogue.apply(message)
    spec = JobSpec.for_workload("sha256-chain", {"n": 1000}, requirements=Requirements(min_cores=2))
    local = LocalState(hardware=None, free_capacity=Capacity(cores=8, ram_bytes=16 << 30), free_funds=10**18,
                       open_deals=0, region="eu-west")
    context = Context(role=Role.PROVIDER, me=PROVIDER, now=NOW, dialogue=dialogue, parallel=(), local=local,
                      global_state=None, spec=spec)
    return message, context


def test_the_readme_example_is_a_provider_policy_that_offers_half_the_budget():
    policy = example_policy_class()()
    assert isinstance(policy, ProviderPolicy)
    message, context = request_context(max_price=10**18)
    reply = policy.react(message, context)
    assert reply is not None and reply.performative == Performative.OFFER
    assert is_valid_reply(Status.NONE, reply.performative)
    assert reply.offer.price == 10**18 // 2
    assert reply.offer.provider == PROVIDER and reply.offer.deal_id == message.deal_id
    assert reply.capacity == Capacity(cores=2)  # what the job holds while it runs


def test_the_readme_example_never_prices_below_its_floor():
    policy = example_policy_class()()
    message, context = request_context(max_price=10)  # half of it is far below any cost floor
    floor = policy.floor(context)
    assert floor > 10
    assert policy.react(message, context) is None  # its price would exceed what the client may pay


def test_shipped_strategies_satisfy_the_typed_protocols():
    assert isinstance(BudgetClient(budget=10**18), ClientPolicy)
    assert not isinstance(BudgetClient(budget=10**18), ProviderPolicy)
    assert isinstance(HonestValidator(), ValidatorPolicy)
    assert isinstance(HonestCourt(), CourtPolicy)
