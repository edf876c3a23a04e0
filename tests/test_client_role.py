"""The client role re-posts a job whose deal ended unfunded (the provider never locked its collateral), and
only then: messages are handed to a real ClientAgent directly, with no chain behind its connection."""

from __future__ import annotations

import asyncio

import pytest
from eth_account import Account

from agents.deploy.addresses import Deployment
from agents.jobs.spec import JobSpec
from agents.jobs.store import ResultStore
from agents.policy import Role
from agents.protocol import CloseReason, Message, Performative, Request, Status, ValidationScheme, typed_hash
from agents.roles.client import ClientAgent, QueuedJob
from agents.runtime.connection import MarketConnection
from agents.strategies.client import BudgetClient

PROVIDER = "0x" + "22" * 20
NOW = 2_000_000_000
UID = "0x" + "ab" * 32


@pytest.fixture
def client(tmp_path) -> ClientAgent:
    deployment = Deployment(chain_id=31337, market="0x" + "55" * 20, eas="0x" + "66" * 20,
                            registry="0x" + "77" * 20, token="0x" + "44" * 20, block=0, commencement_schema=UID,
                            completion_schema=UID, validation_schema=UID)
    connection = MarketConnection.open("http://127.0.0.1:9", deployment)  # never called in these tests
    agent = ClientAgent("client", Role.CLIENT, Account.create(), connection, BudgetClient(budget=10**18),
                        store=ResultStore(tmp_path))
    agent.mailbox = asyncio.Queue()
    return agent


def _post(client: ClientAgent) -> tuple[bytes, QueuedJob, list[Message]]:
    """A request of the client's, as if posted and seen on chain, accepted awaiting the provider's collateral."""
    request = Request(client.address, client.connection.deployment.token, 10**18, 10**15, NOW + 60, 60, 300, 60,
                      ValidationScheme.OPTIMISTIC, "0x" + "00" * 20, 0, 10**17, b"\x01" * 32, 1)
    deal_id = typed_hash(client.connection.domain, request)
    job = QueuedJob(JobSpec.for_workload("sha256-chain", {"n": 1000}))
    client.posted[deal_id] = (job, request.offer_deadline)
    requested = {"dealId": deal_id, "request": request.message(), "specURI": "file:///spec", "invited": []}
    accepted = {"dealId": deal_id, "client": client.address, "provider": PROVIDER, "offerHash": b"\x09" * 32,
                "status": int(Status.AWAITING_COLLATERAL)}
    messages = [Message(Performative.REQUEST, deal_id, client.address, requested, 1, NOW, (1, 0), 0.0),
                Message(Performative.ACCEPT, deal_id, None, accepted, 2, NOW + 5, (2, 0), 0.0)]
    return deal_id, job, messages


def _closed(deal_id: bytes, outcome: Status, reason: CloseReason, performative: Performative) -> Message:
    args = {"dealId": deal_id, "outcome": int(outcome), "reason": int(reason)}
    return Message(performative, deal_id, None, args, 3, NOW + 70, (3, 0), 0.0)


async def _deliver(client: ClientAgent, messages: list[Message]) -> None:
    for message in messages:
        await client.react(message)


def test_a_deal_that_ended_unfunded_is_posted_again(client):
    deal_id, job, messages = _post(client)
    closed = _closed(deal_id, Status.UNFUNDED, CloseReason.COLLATERAL_MISSING, Performative.COLLATERAL_MISSING)
    asyncio.run(_deliver(client, [*messages, closed]))
    assert client.errors == []
    assert client.dialogues.get(deal_id).status == Status.UNFUNDED
    assert list(client.queue) == [job]  # first in line for the next act
    assert deal_id not in client.posted


def test_a_deal_that_ended_otherwise_is_not_posted_again(client):
    deal_id, job, messages = _post(client)
    cancelled = _closed(deal_id, Status.CANCELLED, CloseReason.CANCELLED, Performative.CANCEL_REQUEST)
    asyncio.run(_deliver(client, [messages[0], cancelled]))
    assert client.errors == []
    assert client.dialogues.get(deal_id).status == Status.CANCELLED
    assert not client.queue and deal_id not in client.posted


def test_a_request_nobody_agreed_to_is_forgotten_after_its_deadline(client):
    deal_id, job, messages = _post(client)
    asyncio.run(_deliver(client, messages[:1]))  # requested, never accepted
    feed = client.connection.feed
    feed.set_time(NOW + 60)  # on the offer deadline: still open
    feed.synced_time = NOW + 60
    asyncio.run(client.act())
    assert deal_id in client.posted
    feed.set_time(NOW + 61)  # past it, but the chain has not been read that far (an outage): an acceptance
    asyncio.run(client.act())  # made in time may still arrive, so the request is kept
    assert deal_id in client.posted
    feed.synced_time = NOW + 61  # read past the deadline: nobody agreed
    asyncio.run(client.act())
    assert client.errors == []
    assert deal_id not in client.posted and not client.queue  # over, and not posted again
