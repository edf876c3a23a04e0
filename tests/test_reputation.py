"""ReputationBook: hand-computed posteriors on tiny deal tables, then real deals on anvil (with the court)."""

import math

import pandas as pd
import pytest
from eth_utils import to_checksum_address

from agents.chain.sync import SyncClient
from agents.knowledge.history import ChainHistory
from agents.knowledge.reputation import ReputationBook, ReputationParams
from agents.protocol import Offer, Request, ValidationScheme
from agents.testing.market_client import MarketClient

HOUR = 3_600
GOOD, SLOW = "0x" + "aa" * 20, "0x" + "bb" * 20
HONEST, PICKY, BROKE = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
JUDGE, BENT = "0x" + "44" * 20, "0x" + "55" * 20
GOOD, SLOW, HONEST, PICKY, BROKE, JUDGE, BENT = (
    to_checksum_address(a) for a in (GOOD, SLOW, HONEST, PICKY, BROKE, JUDGE, BENT)
)
NOW = 1_000_000
ZERO_ADDRESS = "0x" + "00" * 20
SPEC_URI = "ipfs://spec"
WINDOW = 600  # commencement, job and validation windows of the on-chain deals
PRICE, COLLATERAL, BOND, FEE = 9 * 10**17, 10**17, 10**17, 5 * 10**16


def deal(client, provider, outcome, reason, closed_time, status_at_acceptance="AGREED", scheme="OPTIMISTIC",
         attester=None, validator=None, approved=None):
    """One row of a deal table, with the columns ReputationBook reads (`attester`/`approved`: the deal's first
    validation attestation)."""
    return {
        "client": client, "provider": provider, "outcome": outcome, "reason": reason, "closed_time": closed_time,
        "status_at_acceptance": status_at_acceptance, "scheme": scheme, "validation_attester": attester,
        "validator": validator, "approved": approved,
    }


def judged(client, provider, outcome, reason, validator, attester=None, approved=None):
    """A validator-scheme deal: `attester` and `approved` are its first validation attestation's (the
    validator's verdict if it gave one)."""
    return deal(client, provider, outcome, reason, NOW, scheme="VALIDATOR", validator=validator, attester=attester,
                approved=approved)


def table(*deals):
    return pd.DataFrame(list(deals))


# --- on chain ----------------------------------------------------------------------------------------


class Deals:
    """Runs deals through MarketClient fixtures: the market's court is the deployer."""

    def __init__(self, chain, token, court):
        self.chain, self.token, self.court = chain, token, court
        self.nonce = 0

    def agree(self, client, provider, validator=None) -> tuple[Request, Offer]:
        self.nonce += 1
        now = self.chain.pending_timestamp
        request = Request(
            client.account.address, self.token.address, 10**18, 10**16, now + 3600, WINDOW, WINDOW, WINDOW,
            ValidationScheme.VALIDATOR if validator else ValidationScheme.OPTIMISTIC,
            validator.account.address if validator else ZERO_ADDRESS, FEE if validator else 0, BOND, b"\x5e" * 32,
            self.nonce,
        )
        offer = Offer(provider.deal_id(request), provider.account.address, PRICE, COLLATERAL, now + 1800, 0)
        signature = provider.sign(offer)
        client.request(request, SPEC_URI)
        client.accept(request, offer, signature)
        return request, offer

    def delivered(self, client, provider, validator=None) -> tuple[Request, bytes]:
        request, offer = self.agree(client, provider, validator)
        _, commencement = provider.attest_commencement(offer.deal_id, client.account.address)
        _, completion = provider.attest_completion(
            offer.deal_id, client.account.address, commencement, b"\x7e" * 32, "ipfs://r"
        )
        return request, completion

    def settled(self, client, provider) -> None:
        request, completion = self.delivered(client, provider)
        client.approve(client.deal_id(request), provider.account.address, completion)

    def timed_out(self, client, provider) -> None:
        request, _ = self.agree(client, provider)
        self.chain.pending_timestamp += WINDOW + 1
        client.claim_timeout(client.deal_id(request))

    def disputed(self, client, provider, result_was_right: bool) -> None:
        request, completion = self.delivered(client, provider)
        client.dispute(request)
        self.court.ruling(client.deal_id(request), provider.account.address, completion, result_was_right)

    def judged(self, client, provider, validator, verdict: bool, result_was_right: bool) -> None:
        """The validator's verdict; if it was wrong, the party it went against appeals and the court overturns."""
        request, completion = self.delivered(client, provider, validator)
        deal_id = client.deal_id(request)
        _, verdict_uid = validator.verdict(deal_id, provider.account.address, completion, verdict)
        if verdict == result_was_right:
            self.chain.pending_timestamp += WINDOW + 1
            client.settle(deal_id)
        else:
            (client if verdict else provider).appeal(deal_id)
            self.court.ruling(deal_id, provider.account.address, verdict_uid, result_was_right)

    def unfunded(self, broke_client, provider) -> None:
        """The provider accepts a counter-offer from a client with an empty escrow account, then gives up."""
        self.nonce += 1
        now = self.chain.pending_timestamp
        request = Request(broke_client.account.address, self.token.address, 10**18, 10**16, now + 3600, WINDOW,
                          WINDOW, WINDOW, ValidationScheme.OPTIMISTIC, ZERO_ADDRESS, 0, BOND, b"\x5e" * 32, self.nonce)
        counter = Offer(provider.deal_id(request), provider.account.address, PRICE, COLLATERAL, now + 1800, 0)
        signature = broke_client.sign(counter)
        broke_client.request(request, SPEC_URI)
        provider.accept(request, counter, signature)
        provider.collateral_missing(counter.deal_id)


@pytest.fixture(scope="module")
def chain_book(chain, system, token, client, provider, validator, deployer, accounts):
    node = SyncClient.connect(chain.provider.uri)
    slow_provider, picky_client, broke_client = (MarketClient(system, accounts[i]) for i in (5, 4, 7))
    for party in (client, provider, slow_provider, picky_client, validator):
        party.deposit(token, 10**19)
    start = chain.blocks.head.number + 1
    deals = Deals(chain, token, MarketClient(system, deployer))
    deals.settled(client, provider)
    deals.timed_out(client, slow_provider)
    deals.disputed(picky_client, provider, result_was_right=True)  # a false dispute: the court approves
    deals.disputed(client, slow_provider, result_was_right=False)  # a right one: the result was wrong
    deals.unfunded(broke_client, provider)
    deals.judged(client, provider, validator, verdict=True, result_was_right=True)  # stood
    deals.judged(picky_client, provider, validator, verdict=False, result_was_right=True)  # overturned
    history = ChainHistory.from_system(node, system, from_block=start)
    history.refresh()
    book = ReputationBook.from_history(history, now=node.timestamp(), params=ReputationParams(half_life=None))
    return book, dict(client=client, provider=provider, slow=slow_provider, picky=picky_client, broke=broke_client,
                      validator=validator)


def test_a_provider_that_delivered_beats_one_that_timed_out(chain_book):
    book, parties = chain_book
    provider, slow = (parties[n].account.address for n in ("provider", "slow"))
    # provider: delivered five times (one result wrongly rejected, then approved by the court); slow: one
    # commencement timeout and one wrong result the court rejected.
    assert (book.provider(provider).delivered, book.provider(provider).failed) == (4, 0)
    assert book.provider_score(provider) == pytest.approx(5 / 6)
    assert (book.provider(slow).delivered, book.provider(slow).failed) == (0, 2)
    assert book.provider_score(slow) == pytest.approx(1 / 4)
    assert book.rank_providers([slow, provider]) == [provider, slow]


def test_clients_that_dispute_falsely_or_leave_deals_unfunded_score_lower(chain_book):
    book, parties = chain_book
    client, picky, broke = (parties[n].account.address for n in ("client", "picky", "broke"))
    # client: four deals honoured (a timeout and a wrong result it rightly disputed included).
    assert (book.client(client).honoured, book.client(client).disputes_lost) == (4, 0)
    assert book.client_score(client) == pytest.approx(5 / 6)
    # picky: one false dispute lost; its validator deal, where a validator wrongly rejected, honoured.
    assert (book.client(picky).disputes_lost, book.client(picky).honoured) == (1, 1)
    assert book.client(picky).false_dispute_rate == 0.5
    assert book.client(broke).unfunded == 1
    assert book.client_score(picky) == pytest.approx(1 / 2) and book.client_score(broke) == pytest.approx(1 / 3)
    assert book.client_score(client) > book.default_score >= book.client_score(picky) > book.client_score(broke)


def test_a_validator_the_court_overturned_is_linked_to_whom_it_favoured(chain_book):
    book, parties = chain_book
    record = book.validator(parties["validator"].account.address)
    assert (record.upheld, record.overturned, record.silent) == (1, 1, 0)
    assert record.favoured == {parties["picky"].account.address}  # its wrong rejection sided with the client
    assert record.score == pytest.approx(2 / 4)
    assert book.validator(parties["provider"].account.address).score == book.default_score  # never judged


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
    assert book.provider(stranger).delivered == 0 and book.client(stranger).false_dispute_rate is None
    assert book.provider_score(GOOD.lower()) > book.default_score  # addresses in any case


def test_client_defaults_false_disputes_and_unfunded_deals():
    params = ReputationParams(half_life=None)
    book = ReputationBook.from_history(
        table(
            deal(PICKY, GOOD, "SETTLED", "COURT_APPROVED", NOW),  # disputed a correct result and lost
            deal(PICKY, GOOD, "SETTLED", "VALIDATION_WINDOW_PASSED", NOW),
            # Appealed a validator's (right) approval and lost.
            judged(PICKY, GOOD, "SETTLED", "COURT_APPROVED", JUDGE, JUDGE, True),
            # A wrong result it disputed: the court agreed with it, and the provider failed.
            deal(HONEST, SLOW, "SLASHED", "COURT_REJECTED", NOW, attester="0x" + "99" * 20, approved=False),
            # The provider appealed a validator's rejection and won: no fault of the client's.
            judged(HONEST, GOOD, "SETTLED", "COURT_APPROVED", BENT, BENT, False),
            deal(BROKE, GOOD, "UNFUNDED", "COLLATERAL_MISSING", NOW, status_at_acceptance="AWAITING_PAYMENT"),
            # The provider left this one unfunded: the client locked its payment and is not to blame.
            deal(HONEST, SLOW, "UNFUNDED", "COLLATERAL_MISSING", NOW, status_at_acceptance="AWAITING_COLLATERAL"),
            deal(HONEST, None, "CANCELLED", "CANCELLED", NOW),  # a cancelled request is no deal
        ),
        now=NOW,
        params=params,
    )
    picky, honest, broke = book.client(PICKY), book.client(HONEST), book.client(BROKE)
    assert (picky.disputes_lost, picky.honoured, picky.delivered) == (2, 1, 3)
    assert picky.false_dispute_rate == pytest.approx(2 / 3)
    assert picky.score == pytest.approx(2 / 5)
    assert (honest.honoured, honest.disputes_lost, honest.unfunded, honest.delivered) == (3, 0, 0, 2)
    assert honest.score == pytest.approx(4 / 5) and honest.false_dispute_rate == 0.0
    assert (broke.unfunded, broke.score) == (1, pytest.approx(1 / 3))
    assert book.provider(SLOW).failed == 1 and book.provider(SLOW).unfunded == 1
    assert book.provider(GOOD).delivered == 4 and book.provider(GOOD).failed == 0  # the court approved its work

    frame = book.to_frame()
    assert set(frame.index.get_level_values("role")) == {"provider", "client", "validator"}
    assert frame.loc[("client", PICKY), "disputes_lost"] == 2
    assert frame.loc[("client", HONEST), "score"] == pytest.approx(0.8)
    clients = frame.loc["client"]
    assert list(clients["score"]) == sorted(clients["score"], reverse=True)


def _with_verdict_column(rows: list[dict]) -> list[dict]:
    """The same deals as ChainHistory's deal table gives them: the validator's verdict in its own column, and
    the validation that decided the deal (the court's ruling over a verdict) as the attestation."""
    court = "0x" + "99" * 20
    rows = [dict(row) for row in rows]
    for row in rows:
        row["verdict"] = row["approved"] if row["validation_attester"] == row["validator"] else None
        if row["reason"].startswith("COURT_"):
            row["validation_attester"], row["approved"] = court, row["reason"] == "COURT_APPROVED"
    return rows


@pytest.mark.parametrize("form", ["first attestation", "verdict column"])
def test_validators_score_verdicts_that_stood_against_those_overturned_or_never_given(form):
    rows = [
        judged(HONEST, GOOD, "SETTLED", "VERDICT_APPROVED", JUDGE, JUDGE, True),
        judged(HONEST, SLOW, "SLASHED", "VERDICT_REJECTED", JUDGE, JUDGE, False),
        # Confirmed by the court on a false appeal.
        judged(PICKY, GOOD, "SETTLED", "COURT_APPROVED", JUDGE, JUDGE, True),
        # Rejected good work for its partner; approved garbage for another; never judged a third.
        judged(PICKY, GOOD, "SETTLED", "COURT_APPROVED", BENT, BENT, False),
        judged(HONEST, SLOW, "SLASHED", "COURT_REJECTED", BENT, BENT, True),
        judged(HONEST, GOOD, "SETTLED", "COURT_APPROVED", BENT, "0x" + "99" * 20, True),
        # No verdict needed: the client approved, or the provider never delivered.
        judged(HONEST, GOOD, "SETTLED", "APPROVED", BENT, HONEST, True),
        judged(HONEST, SLOW, "SLASHED", "COMPLETION_TIMEOUT", BENT),
    ]
    if form == "verdict column":
        rows = _with_verdict_column(rows)
    book = ReputationBook.from_history(table(*rows), now=NOW, params=ReputationParams(half_life=None))
    judge, bent = book.validator(JUDGE), book.validator(BENT)
    assert (judge.upheld, judge.overturned, judge.silent, judge.favoured) == (3, 0, 0, frozenset())
    assert judge.score == pytest.approx(4 / 5)
    assert (bent.upheld, bent.overturned, bent.silent) == (0, 2, 1)
    assert bent.favoured == {PICKY, SLOW}  # the client it rejected for, the provider it approved for
    assert bent.score == pytest.approx(1 / 5)
    assert book.validator(GOOD).score == book.default_score


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="alpha, beta > 0"):
        ReputationParams(prior_alpha=0)
    with pytest.raises(ValueError, match="half_life"):
        ReputationParams(half_life=-1)


def test_a_history_scores_as_its_deal_table(tmp_path):
    """`from_history` reads a history's closed deals without building its deal table: the same records, in the same
    order (weights are summed in it), and the same book, on a market with disputes, verdicts and slashings."""
    import asyncio

    from agents.simulation.markets import market_for
    from agents.simulation.memory_run import FIRST_TEST_KEY
    from agents.simulation.model import MarketModel
    from agents.simulation.scenario import load_scenario

    async def run():
        market = market_for("memory", node_url=None, deployment=None, funder_key=FIRST_TEST_KEY)
        model = MarketModel(load_scenario("adversarial"), market, tmp_path)
        await model.setup()
        await model.run()
        await model.close()
        model.history.refresh()
        return model.history, model.time

    history, now = asyncio.run(run())
    table = history.deal_table()
    closed = table[table["provider"].notna() & table["outcome"].notna() & table["closed_time"].notna()]
    columns = list(history.closed_deals()[0])
    assert len(history.closed_deals()) > 10
    assert history.closed_deals() == [
        {column: row[column] for column in columns} for row in closed.to_dict("records")]
    assert {deal["reason"] for deal in history.closed_deals()} >= {"COURT_APPROVED", "APPROVED"}
    assert any(deal["verdict"] is not None for deal in history.closed_deals())
    for moment in (now, now - 300):
        by_history, by_table = (ReputationBook.from_history(source, now=moment) for source in (history, table))
        for role in ("providers", "clients", "validators"):
            assert getattr(by_history, role) == getattr(by_table, role)
