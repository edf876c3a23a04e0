"""ReputationBook: hand-computed posteriors on tiny deal tables, then real deals on anvil."""

import math

import pandas as pd
import pytest
from eth_utils import to_checksum_address
from test_history import SPEC_URI, Scenario  # the deal-running helper shared with the history tests

from agents.chain.sync import SyncClient
from agents.knowledge.history import ChainHistory
from agents.knowledge.reputation import ReputationBook, ReputationParams
from agents.testing.market_client import MarketClient

HOUR = 3_600
GOOD, SLOW = "0x" + "aa" * 20, "0x" + "bb" * 20
HONEST, PICKY, BROKE = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
GOOD, SLOW, HONEST, PICKY, BROKE = (to_checksum_address(a) for a in (GOOD, SLOW, HONEST, PICKY, BROKE))
NOW = 1_000_000


def deal(client, provider, outcome, reason, closed_time, status_at_acceptance="AGREED", scheme="OPTIMISTIC",
         attester=None):
    """One row of a deal table, with the columns ReputationBook reads."""
    return {
        "client": client, "provider": provider, "outcome": outcome, "reason": reason, "closed_time": closed_time,
        "status_at_acceptance": status_at_acceptance, "scheme": scheme, "validation_attester": attester,
    }


def table(*deals):
    return pd.DataFrame(list(deals))


# --- on chain ----------------------------------------------------------------------------------------


class ReputationScenario(Scenario):
    def rejected(self, picky_client, provider) -> None:
        request = self.make_request(client=picky_client)
        offer = self.make_offer(request, provider, price=9 * 10**17, collateral=10**17)
        signature = provider.sign(offer)
        picky_client.request(request, SPEC_URI)
        picky_client.accept(request, offer, signature)
        _, commencement = provider.attest_commencement(offer.deal_id, picky_client.account.address)
        _, completion = provider.attest_completion(
            offer.deal_id, picky_client.account.address, commencement, b"\x7e" * 32, "ipfs://r"
        )
        picky_client.attest_validation(offer.deal_id, provider.account.address, completion, False)


@pytest.fixture(scope="module")
def chain_book(chain, system, token, client, provider, accounts):
    node = SyncClient.connect(chain.provider.uri)
    slow_provider, picky_client, broke_client = (MarketClient(system, accounts[i]) for i in (5, 4, 3))
    for party in (client, provider, slow_provider, picky_client):
        party.deposit(token, 10**19)
    start = chain.blocks.head.number + 1
    run = ReputationScenario(chain, node, token, client, provider)
    run.settled("settled", provider)
    run.timed_out("timed_out", slow_provider)
    run.rejected(picky_client, provider)
    run.unfunded("unfunded", broke_client, provider)
    history = ChainHistory.from_system(node, system, from_block=start)
    history.refresh()
    now = node.timestamp()
    book = ReputationBook.from_history(history, now=now, params=ReputationParams(half_life=None))
    return book, dict(client=client, provider=provider, slow=slow_provider, picky=picky_client, broke=broke_client)


def test_a_provider_that_delivered_beats_one_that_timed_out(chain_book):
    book, parties = chain_book
    provider, slow = (parties[n].account.address for n in ("provider", "slow"))
    # provider: settled once, slashed once (its result was rejected); slow: one commencement timeout.
    assert (book.provider(provider).delivered, book.provider(provider).failed) == (1, 1)
    assert book.provider_score(provider) == pytest.approx(2 / 4)
    assert book.provider_score(slow) == pytest.approx(1 / 3)
    assert book.rank_providers([slow, provider]) == [provider, slow]


def test_clients_that_reject_or_leave_deals_unfunded_score_lower(chain_book):
    book, parties = chain_book
    client, picky, broke = (parties[n].account.address for n in ("client", "picky", "broke"))
    assert book.client_score(client) == pytest.approx(3 / 4)  # two deals honoured (one lost to a timeout)
    assert book.client(picky).rejected == 1 and book.client(picky).rejection_rate == 1.0
    assert book.client(broke).unfunded == 1
    assert book.client_score(picky) == book.client_score(broke) == pytest.approx(1 / 3)
    assert book.client_score(client) > book.default_score > book.client_score(picky)


# --- tiny hand-computed histories ------------------------------------------------------------------


def test_recency_weighting_matches_hand_computed_posteriors():
    params = ReputationParams(prior_alpha=1, prior_beta=1, half_life=HOUR)
    book = ReputationBook.from_history(
        table(
            deal(HONEST, GOOD, "SETTLED", "VALIDATION_WINDOW_PASSED", NOW),  # weight 1
            deal(HONEST, GOOD, "SLASHED", "COMPLETION_TIMEOUT", NOW - HOUR),  # weight 1/2
            deal(HONEST, SLOW, "SLASHED", "COMMENCEMENT_TIMEOUT", NOW),  # weight 1
            deal(HONEST, SLOW, "SETTLED", "APPROVED", NOW - 2 * HOUR, attester=HONEST),  # weight 1/4
        ),
        now=NOW,
        params=params,
    )
    good, slow = book.provider(GOOD), book.provider(SLOW)
    assert (good.alpha, good.beta) == pytest.approx((2.0, 1.5))
    assert good.score == pytest.approx(2 / 3.5)
    assert (slow.alpha, slow.beta) == pytest.approx((1.25, 2.0))
    assert slow.score == pytest.approx(1.25 / 3.25)
    assert good.std == pytest.approx(math.sqrt(2 * 1.5 / (3.5**2 * 4.5)))
    assert (good.delivered, good.failed, slow.delivered, slow.failed) == (1, 1, 1, 1)
    # Same counts, but recency decides: the provider whose failure is older ranks first.
    assert book.rank_providers([SLOW, GOOD]) == [GOOD, SLOW]
    # The client honoured all four deals: 1 + 1/2 + 1 + 1/4 on top of the prior.
    assert book.client(HONEST).alpha == pytest.approx(3.75) and book.client(HONEST).beta == pytest.approx(1.0)


def test_without_decay_only_counts_matter_and_the_future_is_ignored():
    deals = table(
        deal(HONEST, GOOD, "SETTLED", "APPROVED", NOW - 100 * HOUR),
        deal(HONEST, GOOD, "SETTLED", "APPROVED", NOW + 1),  # closed after `now`: not known yet
        deal(HONEST, SLOW, "SLASHED", "PROVIDER_ABORTED", NOW),
    )
    params = ReputationParams(prior_alpha=2, prior_beta=3, half_life=None)
    book = ReputationBook.from_history(deals, now=NOW, params=params)
    assert (book.provider(GOOD).alpha, book.provider(GOOD).beta) == (3.0, 3.0)
    assert book.provider(GOOD).delivered == 1
    assert book.provider_score(SLOW) == pytest.approx(2 / 6)


def test_unknown_parties_get_the_prior_mean():
    book = ReputationBook.from_history(table(deal(HONEST, GOOD, "SETTLED", "APPROVED", NOW)), now=NOW,
                                       params=ReputationParams(prior_alpha=1, prior_beta=3))
    stranger = "0x" + "99" * 20
    assert book.provider_score(stranger) == book.client_score(stranger) == book.default_score == 0.25
    assert book.provider(stranger).delivered == 0 and book.client(stranger).rejection_rate is None
    assert book.provider_score(GOOD.lower()) > book.default_score  # addresses in any case


def test_client_defaults_rejections_and_unfunded_deals():
    params = ReputationParams(half_life=None)
    book = ReputationBook.from_history(
        table(
            deal(PICKY, GOOD, "SLASHED", "REJECTED", NOW, attester=PICKY),
            deal(PICKY, GOOD, "SETTLED", "VALIDATION_WINDOW_PASSED", NOW),
            deal(PICKY, GOOD, "SLASHED", "REJECTED", NOW),  # no attester column value: the scheme says who judged
            # A validator's rejection is not the client's doing.
            deal(HONEST, SLOW, "SLASHED", "REJECTED", NOW, scheme="VALIDATOR", attester=GOOD),
            deal(BROKE, GOOD, "UNFUNDED", "COLLATERAL_MISSING", NOW, status_at_acceptance="AWAITING_PAYMENT"),
            # The provider left this one unfunded: the client locked its payment and is not to blame.
            deal(HONEST, SLOW, "UNFUNDED", "COLLATERAL_MISSING", NOW, status_at_acceptance="AWAITING_COLLATERAL"),
            deal(HONEST, None, "CANCELLED", "CANCELLED", NOW),  # a cancelled request is no deal
        ),
        now=NOW,
        params=params,
    )
    picky, honest, broke = book.client(PICKY), book.client(HONEST), book.client(BROKE)
    assert (picky.rejected, picky.honoured, picky.verdicts) == (2, 1, 3)
    assert picky.rejection_rate == pytest.approx(2 / 3)
    assert picky.score == pytest.approx(2 / 5)
    assert (honest.honoured, honest.rejected, honest.unfunded, honest.verdicts) == (2, 0, 0, 0)
    assert honest.score == pytest.approx(3 / 4) and honest.rejection_rate is None
    assert (broke.unfunded, broke.score) == (1, pytest.approx(1 / 3))
    assert book.provider(SLOW).failed == 1 and book.provider(SLOW).unfunded == 1
    # Rejections count against the provider as well: the optimistic scheme trusts the client.
    assert book.provider(GOOD).failed == 2

    frame = book.to_frame()
    assert set(frame.index.get_level_values("role")) == {"provider", "client"}
    assert frame.loc[("client", PICKY), "rejected"] == 2
    assert frame.loc[("client", HONEST), "score"] == pytest.approx(0.75)
    clients = frame.loc["client"]
    assert list(clients["score"]) == sorted(clients["score"], reverse=True)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="alpha, beta > 0"):
        ReputationParams(prior_alpha=0)
    with pytest.raises(ValueError, match="half_life"):
        ReputationParams(half_life=-1)
