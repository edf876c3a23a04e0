"""ChainHistory against real deals on anvil: one settled after the validation window, one slashed for a
commencement timeout (accepted from an offer never broadcast), one cancelled, one agreed through a
counter-offer and approved by the client, one left unfunded by its client; and four that a validator or the
court judges: one left judged, one whose rejection the provider appealed and the court overruled, one
disputed by its client and left before the court, one whose silent validator was escalated and that the court
let unwind. Every table is checked row by row against what the scenario did and the timestamps of the blocks
it mined."""

import pandas as pd
import pytest

from agents.chain.logs import get_logs_chunked
from agents.chain.rpc import RPCError
from agents.chain.sync import SyncClient
from agents.knowledge.history import ChainHistory
from agents.deploy.system import DEFAULT_COURT_WINDOW
from agents.protocol import Offer, Request, ValidationScheme, typed_hash
from agents.testing.market_client import MarketClient

ZERO_ADDRESS = "0x" + "00" * 20
SPEC_URI = "ipfs://spec"
COMMENCE_WITHIN, JOB_DURATION, VALIDATION_WINDOW = 600, 3600, 600
FEE, BOND = 5 * 10**15, 10**16


class Scenario:
    """Runs deals through the MarketClient fixtures and remembers what it did."""

    def __init__(self, chain, node, token, client, provider):
        self.chain, self.node, self.token = chain, node, token
        self.client, self.provider = client, provider
        self.nonce = 0
        self.deals = {}

    def time_of(self, receipt) -> int:
        return self.node.timestamp(receipt.block_number)

    def advance(self, seconds: int) -> None:
        self.chain.pending_timestamp += seconds

    def make_request(self, client=None, max_price=10**18, validator=None) -> Request:
        client = client or self.client
        self.nonce += 1
        return Request(
            client=client.account.address, token=self.token.address, max_price=max_price, min_collateral=10**16,
            offer_deadline=self.chain.pending_timestamp + 3600, commence_within=COMMENCE_WITHIN,
            job_duration=JOB_DURATION, validation_window=VALIDATION_WINDOW,
            scheme=ValidationScheme.VALIDATOR if validator else ValidationScheme.OPTIMISTIC,
            validator=validator.account.address if validator else ZERO_ADDRESS, validator_fee=FEE if validator else 0,
            bond=BOND, spec_hash=b"\x5e" * 32, nonce=self.nonce,
        )

    def make_offer(self, request: Request, provider, price: int, collateral: int, round_: int = 0) -> Offer:
        return Offer(
            deal_id=provider.deal_id(request), provider=provider.account.address, price=price,
            collateral=collateral, expiry=self.chain.pending_timestamp + 1800, round=round_,
        )

    def completed(self, request: Request, provider, price: int = 9 * 10**17) -> tuple[Offer, dict, bytes]:
        """A deal run through to its completion: (offer, times, completion uid)."""
        offer = self.make_offer(request, provider, price=price, collateral=10**17)
        signature = provider.sign(offer)
        times = {"requested": self.time_of(self.client.request(request, SPEC_URI))}
        provider.offer(offer, signature)
        times["accepted"] = self.time_of(self.client.accept(request, offer, signature))
        receipt, commencement = provider.attest_commencement(offer.deal_id, self.client.account.address)
        times["commenced"] = self.time_of(receipt)
        receipt, completion = provider.attest_completion(
            offer.deal_id, self.client.account.address, commencement, b"\x7e" * 32, "ipfs://r"
        )
        times["completed"] = self.time_of(receipt)
        return offer, times, completion

    def settled(self, name: str, provider) -> None:
        request = self.make_request()
        offer, times, _ = self.completed(request, provider)
        self.advance(VALIDATION_WINDOW + 1)
        times["closed"] = self.time_of(self.client.settle(offer.deal_id))
        self.deals[name] = dict(request=request, offer=offer, provider=provider, times=times)

    def judged(self, name: str, provider, validator) -> None:
        """The validator approves; nobody appeals yet."""
        request = self.make_request(validator=validator)
        offer, times, completion = self.completed(request, provider, price=6 * 10**17)
        receipt, verdict = validator.verdict(offer.deal_id, provider.account.address, completion, True)
        times["judged"] = times["validated"] = self.time_of(receipt)
        self.deals[name] = dict(request=request, offer=offer, provider=provider, times=times, verdict=verdict)

    def appealed(self, name: str, provider, validator, court) -> None:
        """The validator rejects, the provider appeals, the court overrules the validator."""
        request = self.make_request(validator=validator)
        offer, times, completion = self.completed(request, provider, price=7 * 10**17)
        receipt, verdict = validator.verdict(offer.deal_id, provider.account.address, completion, False)
        times["judged"] = self.time_of(receipt)
        times["disputed"] = self.time_of(provider.appeal(offer.deal_id))
        receipt, ruling = court.ruling(offer.deal_id, provider.account.address, verdict, True)
        times["closed"] = times["validated"] = self.time_of(receipt)
        self.deals[name] = dict(request=request, offer=offer, provider=provider, times=times, verdict=verdict,
                                ruling=ruling)

    def disputed(self, name: str, provider) -> None:
        """The client disputes an optimistic result; the court has yet to rule."""
        request = self.make_request()
        offer, times, _ = self.completed(request, provider, price=8 * 10**17)
        times["disputed"] = self.time_of(self.client.dispute(request))
        self.deals[name] = dict(request=request, offer=offer, provider=provider, times=times)

    def escalated(self, name: str, provider, validator) -> None:
        """The validator stays silent, the client escalates, the court never rules: the deal unwinds."""
        request = self.make_request(validator=validator)
        offer, times, _ = self.completed(request, provider, price=5 * 10**17)
        self.advance(VALIDATION_WINDOW + 1)
        times["disputed"] = self.time_of(self.client.escalate(offer.deal_id))
        self.advance(DEFAULT_COURT_WINDOW + 1)
        times["closed"] = self.time_of(self.client.claim_timeout(offer.deal_id))
        self.deals[name] = dict(request=request, offer=offer, provider=provider, times=times)

    def timed_out(self, name: str, provider) -> None:
        request = self.make_request()
        offer = self.make_offer(request, provider, price=8 * 10**17, collateral=2 * 10**17)
        signature = provider.sign(offer)  # handed over off chain: never broadcast
        times = {"requested": self.time_of(self.client.request(request, SPEC_URI))}
        # Accepted as agents accept (acceptFunded): the history reads its terms from that call's calldata.
        times["accepted"] = self.time_of(self.client.accept_funded(request, offer, signature))
        self.advance(COMMENCE_WITHIN + 1)
        times["closed"] = self.time_of(self.client.claim_timeout(offer.deal_id))
        self.deals[name] = dict(request=request, offer=offer, provider=provider, times=times)

    def cancelled(self, name: str) -> None:
        request = self.make_request()
        times = {"requested": self.time_of(self.client.request(request, SPEC_URI))}
        self.advance(5)
        times["closed"] = self.time_of(self.client.cancel_request(request))
        self.deals[name] = dict(request=request, times=times)

    def countered(self, name: str, provider) -> None:
        request = self.make_request()
        first = self.make_offer(request, provider, price=95 * 10**16, collateral=10**17)
        counter = self.make_offer(request, provider, price=8 * 10**17, collateral=10**17, round_=1)
        times = {"requested": self.time_of(self.client.request(request, SPEC_URI))}
        provider.offer(first)
        self.advance(10)
        counter_signature = self.client.sign(counter)
        self.client.offer(counter, counter_signature)
        self.advance(10)
        times["accepted"] = self.time_of(provider.accept(request, counter, counter_signature))
        receipt, commencement = provider.attest_commencement(counter.deal_id, self.client.account.address)
        times["commenced"] = self.time_of(receipt)
        receipt, completion = provider.attest_completion(
            counter.deal_id, self.client.account.address, commencement, b"\x7f" * 32, "ipfs://r"
        )
        times["completed"] = self.time_of(receipt)
        receipt, _ = self.client.approve(counter.deal_id, provider.account.address, completion)
        times["closed"] = times["validated"] = self.time_of(receipt)
        self.deals[name] = dict(request=request, offer=counter, first=first, provider=provider, times=times)

    def unfunded(self, name: str, broke_client, provider) -> None:
        """The provider accepts a counter-offer from a client with an empty escrow account, then gives up."""
        request = self.make_request(client=broke_client)
        counter = self.make_offer(request, provider, price=5 * 10**17, collateral=10**17)
        signature = broke_client.sign(counter)
        times = {"requested": self.time_of(broke_client.request(request, SPEC_URI))}
        broke_client.offer(counter, signature)
        times["accepted"] = self.time_of(provider.accept(request, counter, signature))
        times["closed"] = self.time_of(provider.collateral_missing(counter.deal_id))
        self.deals[name] = dict(request=request, offer=counter, provider=provider, times=times)


@pytest.fixture(scope="module")
def node(chain):
    return SyncClient.connect(chain.provider.uri)


@pytest.fixture(scope="module")
def second_provider(system, accounts):
    return MarketClient(system, accounts[5])


@pytest.fixture(scope="module")
def broke_client(system, accounts):
    return MarketClient(system, accounts[4])


@pytest.fixture(scope="module")
def scenario(chain, node, system, token, client, provider, second_provider, broke_client, validator, court):
    for party in (client, provider, second_provider, validator):
        party.deposit(token, 10**19)
    run = Scenario(chain, node, token, client, provider)
    run.start_block = chain.blocks.head.number + 1
    run.settled("settled", provider)
    run.after_first_deal = chain.blocks.head.number
    run.timed_out("timed_out", second_provider)
    run.cancelled("cancelled")
    run.countered("countered", provider)
    run.unfunded("unfunded", broke_client, provider)
    run.judged("judged", provider, validator)
    run.appealed("appealed", provider, validator, court)
    run.disputed("disputed", provider)
    run.escalated("escalated", provider, validator)
    return run


@pytest.fixture(scope="module")
def history(node, system, scenario):
    history = ChainHistory.from_system(node, system, from_block=scenario.start_block, chunk_size=4)
    history.refresh()
    return history


def hex_id(value: bytes) -> str:
    return "0x" + value.hex()


def row_of(frame, deal_id):
    rows = frame[frame["deal_id"] == hex_id(deal_id)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_requests_rows(history, scenario, token, client, broke_client):
    requests = history.requests
    assert list(requests["deal_id"]) == [hex_id(client.deal_id(d["request"])) for d in scenario.deals.values()]
    for deal in scenario.deals.values():
        request = deal["request"]
        row = row_of(requests, client.deal_id(request))
        assert row["client"] == request.client
        assert row["token"] == token.address
        assert row["max_price"] == request.max_price and row["min_collateral"] == request.min_collateral
        assert row["offer_deadline"] == request.offer_deadline
        assert (row["commence_within"], row["job_duration"], row["validation_window"]) == (600, 3600, 600)
        assert (row["scheme"], row["validator"]) == (request.scheme.name, request.validator)
        assert (row["validator_fee"], row["bond"]) == (request.validator_fee, BOND)
        assert row["spec_hash"] == hex_id(b"\x5e" * 32) and row["spec_uri"] == SPEC_URI
        assert row["nonce"] == request.nonce
        assert row["time"] == deal["times"]["requested"]
    unfunded = row_of(requests, client.deal_id(scenario.deals["unfunded"]["request"]))
    assert unfunded["client"] == broke_client.account.address
    judged = row_of(requests, client.deal_id(scenario.deals["judged"]["request"]))
    assert (judged["scheme"], judged["validator_fee"]) == ("VALIDATOR", FEE)
    assert requests["validator_fee"].dtype == object and requests["bond"].dtype == object  # exact uint96


def test_offers_rows_include_counter_offers(history, scenario, client, provider, broke_client):
    offers = history.offers
    countered = scenario.deals["countered"]
    rows = offers[offers["deal_id"] == hex_id(countered["offer"].deal_id)].sort_values("log_index")
    assert list(rows["signer"]) == [provider.account.address, client.account.address]
    assert list(rows["provider"]) == [provider.account.address] * 2
    assert list(rows["price"]) == [95 * 10**16, 8 * 10**17]
    assert list(rows["round"]) == [0, 1]
    assert list(rows["counter"]) == [False, True]
    assert rows.iloc[1]["offer_hash"] == hex_id(typed_hash(client.domain, countered["offer"]))
    assert rows.iloc[1]["signature"] == "0x" + client.sign(countered["offer"]).hex()
    # The timed-out deal's offer was accepted without being broadcast.
    assert hex_id(scenario.deals["timed_out"]["offer"].deal_id) not in set(offers["deal_id"])
    assert len(offers) == 8  # settled, countered (2), unfunded, and the four judged ones
    assert offers["price"].dtype == object  # exact ints: uint96 overflows int64


def test_deals_rows(history, scenario, client, provider, second_provider, broke_client):
    deals = history.deals
    assert len(deals) == 8  # every deal but the cancelled request
    expected = {
        "settled": (client, provider, 9 * 10**17, 10**17, "offer", "AGREED"),
        "timed_out": (client, second_provider, 8 * 10**17, 2 * 10**17, "calldata", "AGREED"),
        "countered": (client, provider, 8 * 10**17, 10**17, "offer", "AGREED"),
        "unfunded": (broke_client, provider, 5 * 10**17, 10**17, "offer", "AWAITING_PAYMENT"),
    }
    for name, (buyer, seller, price, collateral, source, status) in expected.items():
        deal = scenario.deals[name]
        row = row_of(deals, deal["offer"].deal_id)
        assert (row["client"], row["provider"]) == (buyer.account.address, seller.account.address)
        assert (row["price"], row["collateral"]) == (price, collateral)
        assert row["terms_source"] == source
        assert row["status_at_acceptance"] == status
        assert row["offer_hash"] == hex_id(typed_hash(client.domain, deal["offer"]))
        assert row["time"] == deal["times"]["accepted"]


def test_attestations_rows(history, scenario, client, provider, validator, court):
    attestations = history.attestations
    appealed = attestations[attestations["deal_id"] == hex_id(scenario.deals["appealed"]["offer"].deal_id)]
    assert list(appealed["schema"]) == ["commencement", "completion", "validation", "validation"]
    assert list(appealed["attester"].iloc[2:]) == [validator.account.address, court.account.address]
    assert list(appealed["approved"].iloc[2:]) == [False, True]  # the verdict, then the court's ruling
    assert appealed.iloc[3]["uid"] == hex_id(scenario.deals["appealed"]["ruling"])
    attestations = attestations.iloc[:5]  # the first deals
    assert list(attestations["schema"]) == ["commencement", "completion", "commencement", "completion", "validation"]
    settled, countered = scenario.deals["settled"], scenario.deals["countered"]
    settled_id, countered_id = hex_id(settled["offer"].deal_id), hex_id(countered["offer"].deal_id)
    assert list(attestations["deal_id"]) == [settled_id] * 2 + [countered_id] * 3
    assert list(attestations["attester"]) == [provider.account.address] * 4 + [client.account.address]
    assert list(attestations["recipient"]) == [client.account.address] * 4 + [provider.account.address]
    assert attestations.iloc[4]["approved"] is True
    assert attestations.iloc[1]["result_hash"] == hex_id(b"\x7e" * 32)
    assert list(attestations["time"]) == [
        settled["times"]["commenced"], settled["times"]["completed"],
        countered["times"]["commenced"], countered["times"]["completed"], countered["times"]["validated"],
    ]
    assert history.attestations["uid"].is_unique


def test_verdicts_and_disputes_rows(history, scenario, system, client, provider):
    verdicts = history.verdicts
    assert list(verdicts["deal_id"]) == [hex_id(scenario.deals[n]["offer"].deal_id) for n in ("judged", "appealed")]
    assert list(verdicts["attestation"]) == [hex_id(scenario.deals[n]["verdict"]) for n in ("judged", "appealed")]
    assert list(verdicts["approved"]) == [True, False]
    assert list(verdicts["time"]) == [scenario.deals[n]["times"]["judged"] for n in ("judged", "appealed")]

    disputes = history.disputes
    names = ("appealed", "disputed", "escalated")
    assert list(disputes["deal_id"]) == [hex_id(scenario.deals[n]["offer"].deal_id) for n in names]
    assert list(disputes["message"]) == ["appeal", "dispute", "escalate"]
    assert list(disputes["party"]) == [provider.account.address, client.account.address, None]
    assert list(disputes["bond"]) == [BOND, BOND, 0]  # a silent validator's stake is at risk instead
    times = [scenario.deals[n]["times"]["disputed"] for n in names]
    assert list(disputes["time"]) == times
    assert list(disputes["deadline"]) == [t + system.market.courtWindow() for t in times]


def test_closures_and_slashings(history, scenario, client, second_provider):
    closures = history.closures
    expected = {
        "settled": ("SETTLED", "VALIDATION_WINDOW_PASSED"),
        "timed_out": ("SLASHED", "COMMENCEMENT_TIMEOUT"),
        "cancelled": ("CANCELLED", "CANCELLED"),
        "countered": ("SETTLED", "APPROVED"),
        "unfunded": ("UNFUNDED", "COLLATERAL_MISSING"),
        "appealed": ("SETTLED", "COURT_APPROVED"),
        "escalated": ("UNWOUND", "COURT_TIMEOUT"),
    }
    assert len(closures) == len(expected)
    for name, (outcome, reason) in expected.items():
        deal = scenario.deals[name]
        row = row_of(closures, client.deal_id(deal["request"]))
        assert (row["outcome"], row["reason"], row["time"]) == (outcome, reason, deal["times"]["closed"])
    slashings = history.slashings
    assert len(slashings) == 1
    slashed = slashings.iloc[0]
    assert slashed["deal_id"] == hex_id(scenario.deals["timed_out"]["offer"].deal_id)
    assert slashed["provider"] == second_provider.account.address and slashed["client"] == client.account.address
    assert slashed["collateral"] == 2 * 10**17 and slashed["reason"] == "COMMENCEMENT_TIMEOUT"


def test_deal_table_one_row_per_deal(history, scenario, client, provider, second_provider, validator, court):
    table = history.deal_table()
    assert len(table) == 9 and table["deal_id"].is_unique
    names = list(scenario.deals)
    assert list(table["deal_id"]) == [hex_id(client.deal_id(scenario.deals[n]["request"])) for n in names]

    settled = table.iloc[0]
    times = scenario.deals["settled"]["times"]
    assert (settled["client"], settled["provider"]) == (client.account.address, provider.account.address)
    terms = (settled["price"], settled["collateral"], settled["offers"], settled["counter_offers"])
    assert terms == (9 * 10**17, 10**17, 1, 0)
    for stage in ("requested", "accepted", "commenced", "completed", "closed"):
        assert settled[f"{stage}_time"] == times[stage], stage
    assert settled["time_to_agreement"] == times["accepted"] - times["requested"]
    assert (settled["outcome"], settled["reason"]) == ("SETTLED", "VALIDATION_WINDOW_PASSED")
    assert settled["status"] == "SETTLED"

    timed_out = table.iloc[1]
    assert timed_out["provider"] == second_provider.account.address and timed_out["offers"] == 0
    assert timed_out["commenced_time"] is pd.NA
    assert (timed_out["outcome"], timed_out["reason"]) == ("SLASHED", "COMMENCEMENT_TIMEOUT")

    cancelled = table.iloc[2]
    assert cancelled["client"] == client.account.address and pd.isna(cancelled["provider"])
    assert cancelled["price"] is None and cancelled["status"] == "CANCELLED"
    assert cancelled["time_to_agreement"] is pd.NA

    countered = table.iloc[3]
    times = scenario.deals["countered"]["times"]
    assert (countered["price"], countered["offers"], countered["counter_offers"]) == (8 * 10**17, 2, 1)
    assert countered["time_to_agreement"] == times["accepted"] - times["requested"] >= 20
    assert countered["validation_attester"] == client.account.address and countered["approved"] is True
    assert countered["validated_time"] == times["validated"]

    unfunded = table.iloc[4]
    assert (unfunded["status_at_acceptance"], unfunded["outcome"]) == ("AWAITING_PAYMENT", "UNFUNDED")
    assert unfunded["judged_time"] is pd.NA and unfunded["verdict"] is None and unfunded["dispute"] is None

    judged = table.iloc[5]
    times = scenario.deals["judged"]["times"]
    assert (judged["status"], judged["verdict"], judged["judged_time"]) == ("JUDGED", True, times["judged"])
    assert (judged["validation_attester"], judged["outcome"]) == (validator.account.address, None)

    appealed = table.iloc[6]
    times = scenario.deals["appealed"]["times"]
    assert (appealed["verdict"], appealed["dispute"], appealed["disputed_time"]) == (False, "appeal",
                                                                                    times["disputed"])
    # The court's ruling decided it, over the validator's verdict.
    assert (appealed["validation_attester"], appealed["approved"], appealed["validated_time"]) == (
        court.account.address, True, times["validated"])
    assert (appealed["status"], appealed["reason"]) == ("SETTLED", "COURT_APPROVED")

    disputed = table.iloc[7]
    assert (disputed["status"], disputed["dispute"], disputed["verdict"]) == ("DISPUTED", "dispute", None)
    assert disputed["validation_attester"] is None

    escalated = table.iloc[8]
    assert (escalated["status"], escalated["reason"], escalated["dispute"]) == ("UNWOUND", "COURT_TIMEOUT", "escalate")


def test_incremental_refresh_reads_only_new_blocks(node, system, scenario, history):
    partial = ChainHistory.from_system(node, system, from_block=scenario.start_block, chunk_size=1_000)
    partial.refresh(to_block=scenario.after_first_deal)
    assert len(partial.deal_table()) == 1
    assert partial.next_block == scenario.after_first_deal + 1
    fetched_blocks = set(partial.block_times._times)

    new_events = partial.refresh()
    assert new_events > 0
    assert partial.refresh() == 0  # nothing new
    # Timestamps already known were not fetched again, and only blocks with events were fetched.
    assert fetched_blocks <= set(partial.block_times._times)
    assert set(partial.block_times._times) == set(history.block_times._times)
    # Chunk size does not change the result.
    for name in ("requests", "offers", "deals", "attestations", "verdicts", "disputes", "closures"):
        assert getattr(partial, name).equals(getattr(history, name)), name
    assert partial.deal_table().equals(history.deal_table())


def test_refresh_notices_a_rewound_chain(chain, node, system, scenario, client, token):
    history = ChainHistory.from_system(node, system, from_block=scenario.start_block)
    history.refresh()
    before = len(history.requests)
    snapshot = chain.snapshot()
    client.request(scenario.make_request(), SPEC_URI)
    history.refresh()
    assert len(history.requests) == before + 1
    chain.restore(snapshot)
    token.mint(client.account.address, 1, sender=client.account)  # a different block at the same height
    history.refresh()
    assert len(history.requests) == before


def test_empty_range_gives_empty_tables_with_columns(node, system):
    history = ChainHistory.from_system(node, system, from_block=node.block_number() + 1)
    assert history.refresh() == 0
    table = history.deal_table()
    assert table.empty and "time_to_agreement" in table.columns
    assert history.slashings.empty


def test_a_failed_refresh_keeps_nothing_of_its_range(node, system, scenario, history, monkeypatch):
    flaky = ChainHistory.from_system(node, system, from_block=scenario.start_block)

    def fail(rows):
        raise ConnectionError("node went away")

    monkeypatch.setattr(flaky, "_complete_attestations", fail)
    with pytest.raises(ConnectionError):
        flaky.refresh()
    assert flaky.requests.empty and flaky.next_block == scenario.start_block
    monkeypatch.undo()
    flaky.refresh()
    assert flaky.deal_table().equals(history.deal_table())


def test_a_range_the_node_refuses_is_split():
    calls = []

    def request(method, params):
        start, end = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
        calls.append((start, end))
        if end - start >= 2:
            raise RPCError(method, {"code": -32005, "message": "query returned more than 10000 results"})
        return [{"blockNumber": b} for b in range(start, end + 1)]

    chunks = list(get_logs_chunked(SyncClient(request), "0x" + "00" * 20, [], 0, 9, chunk_size=5))
    assert [log["blockNumber"] for chunk in chunks for log in chunk] == list(range(10))
    assert calls[:5] == [(0, 4), (0, 2), (0, 1), (2, 2), (3, 4)]  # halved until accepted
