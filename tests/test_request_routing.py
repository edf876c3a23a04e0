"""Who hears a request: the feed asks only the subscribers a request may concern (the parties it names, the
providers of the open market when it names none, the court), and a client addresses each request to a few
providers drawn from the directory, so that in a market of thousands a request reaches a handful of agents."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from types import SimpleNamespace

import pytest

from agents.knowledge.directory import Profile, ProviderListing
from agents.knowledge.directory import Role as ListingRole
from agents.policy import Capacity, Context, LocalState, Role
from agents.protocol import Message, Performative, Request, ValidationScheme
from agents.runtime.feed import EventFeed, RequestAudience
from agents.strategies.client import BudgetClient

TOKEN = "0x" + "44" * 20
MARKET = "0x" + "55" * 20
NOBODY = "0x" + "00" * 20
CLIENT = "0x" + "c1" * 20
VALIDATOR = "0x" + "7a" * 20


def _address(n: int) -> str:
    return "0x" + f"{n:040x}"


def _request(invited: tuple[str, ...], validator: str = NOBODY) -> Message:
    request = Request(CLIENT, TOKEN, 10**18, 10**15, 60, 60, 300, 60, ValidationScheme.OPTIMISTIC, validator, 0,
                      10**17, b"\x01" * 32, 0)
    args = {"dealId": b"\x05" * 32, "request": request.message(), "specURI": "file:///spec", "invited": list(invited)}
    return Message(Performative.REQUEST, b"\x05" * 32, CLIENT, args, 1, 100, (1, 0), 0.0)


class Market:
    """A feed with subscribers that record every time the feed asks them about a message."""

    def __init__(self, providers: int):
        self.feed = EventFeed(rpc=None, market_address=MARKET, codec=None)
        self.asked: Counter = Counter()
        self.mailboxes = {}
        parties = [(_address(n), RequestAudience.NAMED_OR_BROADCAST) for n in range(1, providers + 1)]
        parties += [(CLIENT, RequestAudience.NAMED), (VALIDATOR, RequestAudience.NAMED),
                    ("court", RequestAudience.EVERY), ("observer", None)]
        for address, audience in parties:
            self.mailboxes[address] = self.feed.subscribe(self._concerns(address), address=address, audience=audience)

    def _concerns(self, address: str):
        def concerns(message: Message) -> bool:
            self.asked[address] += 1
            return True
        return concerns

    def deliver(self, message: Message) -> set[str]:
        self.asked.clear()
        asyncio.run(self.feed._deliver([message]))
        return {address for address, box in self.mailboxes.items() if not box.empty()}


def test_an_addressed_request_is_asked_of_its_named_parties_the_court_and_unindexed_subscribers_only():
    market = Market(providers=500)
    invited = (_address(7), _address(300))
    reached = market.deliver(_request(invited, validator=VALIDATOR))
    assert reached == {*invited, CLIENT, VALIDATOR, "court", "observer"}
    assert set(market.asked) == reached  # the 498 other providers were not even asked


def test_a_broadcast_request_is_asked_of_every_provider():
    market = Market(providers=50)
    reached = market.deliver(_request(()))
    assert reached == {*(_address(n) for n in range(1, 51)), CLIENT, "court", "observer"}


def test_the_index_follows_subscriptions_made_after_a_request():
    market = Market(providers=3)
    market.deliver(_request((_address(9),)))
    late = market.feed.subscribe(lambda message: True, address=_address(9), audience=RequestAudience.NAMED_OR_BROADCAST)
    market.deliver(_request((_address(9),)))
    assert not late.empty()


# --- the client's invitations --------------------------------------------------------------------------------------


def _listing(n: int, cores: int) -> ProviderListing:
    profile = Profile(roles=ListingRole.SELLER, market=MARKET, token=TOKEN, cpu_cores=cores, ram_bytes=2**34)
    return ProviderListing(uid=f"0x{n:064x}", attester=_address(n), profile=profile, time=0, ref_uid="0x" + "0" * 64,
                           expiration_time=0)


def _invitations(client: BudgetClient, listings, reputation, jobs: int, min_cores: int = 4) -> list[tuple[str, ...]]:
    spec = SimpleNamespace(requirements=SimpleNamespace(min_cores=min_cores, min_ram_bytes=2**30))
    local = LocalState(hardware=None, free_capacity=Capacity(), free_funds=10**20, open_deals=0)
    context = Context(role=Role.CLIENT, me=CLIENT, now=0, dialogue=None, parallel=(), local=local, global_state=None,
                      reputation=reputation, directory=lambda: listings)
    return [client.choose_providers(spec, context) for _ in range(jobs)]


@pytest.mark.parametrize("invite", [3, 70])  # a few of many, and most of them
def test_a_client_invites_distinct_providers_that_can_run_the_job(invite):
    listings = [_listing(n, cores=8 if n % 4 else 2) for n in range(1, 101)]  # every fourth has too few cores
    able = {l.attester for l in listings if l.profile.cpu_cores >= 4}
    listings.append(replace(_listing(101, cores=8), attester=CLIENT))  # the client sells too: never invites itself
    for invited in _invitations(BudgetClient(budget=10**18, invite=invite, seed=1), listings, lambda a: 0.5, 50):
        assert len(invited) == len(set(invited)) == invite
        assert set(invited) <= able
        assert list(invited) == sorted(invited)


def test_invitations_repeat_with_the_seed_and_favour_reputation():
    listings = [_listing(n, cores=8) for n in range(1, 201)]
    trusted = {_address(n) for n in range(1, 11)}
    reputation = lambda address: 0.9 if address in trusted else 0.3  # noqa: E731
    first = _invitations(BudgetClient(budget=10**18, invite=3, seed=5), listings, reputation, 400)
    again = _invitations(BudgetClient(budget=10**18, invite=3, seed=5), listings, reputation, 400)
    assert first == again
    share = sum(a in trusted for invited in first for a in invited) / (3 * len(first))
    # 10 of 200 providers, each 9 times as likely to be drawn: about a third of the invitations, not 5%.
    assert 0.25 < share < 0.45


def test_a_directory_too_small_is_invited_whole_and_no_invite_broadcasts():
    listings = [_listing(n, cores=8) for n in range(1, 3)]
    assert _invitations(BudgetClient(budget=10**18, invite=3), listings, None, 1) == [(_address(1), _address(2))]
    assert _invitations(BudgetClient(budget=10**18), listings, None, 1) == [()]
