"""A provider's pricing decision as numbers (agents.learning.features) and the linear policy over it
(agents.learning.policy): what the observation says, which actions the mask allows, the replies actions decode
into, and the policy file's round trip and refusals. No chain: contexts are built by hand."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from agents.jobs.spec import JobSpec, Requirements
from agents.learning.features import (
    ACCEPT,
    ACTIONS,
    DECLINE,
    FIRST_OFFER,
    MARKUPS,
    OBSERVATION,
    OBSERVATION_NAMES,
    OFFER_AT_MAX,
    action_mask,
    cost_floor,
    decode,
    observe,
)
from agents.learning.policy import LinearPolicy, PolicyFileError
from agents.oracles.models import ElectricityForecast, GasPrice, GlobalState
from agents.policy import Capacity, Context, Dialogue, LocalState, Role, SignedOffer
from agents.protocol import Domain, Offer, Performative, Request, Status, ValidationScheme
from agents.strategies.costs import CostModel

UNIT = 10**18
ME = "0x" + "aa" * 20
RIVAL = "0x" + "bb" * 20
CLIENT = "0x" + "cc" * 20
TOKEN = "0x" + "dd" * 20
DEAL = b"\x07" * 32
NOW = 19_675 * 86_400 + 6 * 3600  # a day at 06:00 UTC
COST = CostModel(token_symbol="tUSD", hardware_usd_per_hour=0.4)
JOB = JobSpec.for_workload("sha256-chain", {"n": 10}, requirements=Requirements(min_cores=2), duration_seconds=3600)


def _signed(signer: str, price: int, round_: int, provider: str = ME) -> SignedOffer:
    offer = Offer(DEAL, provider, price, UNIT // 5, NOW + 100, round_)
    return SignedOffer(offer, signer, b"\x01" * 65, NOW, bytes([round_]) * 32)


def _context(max_price=UNIT, offers=(), status=Status.NONE, free_funds=5 * UNIT) -> Context:
    request = Request(CLIENT, TOKEN, max_price, UNIT // 5, NOW + 200, 60, 3600, 60, ValidationScheme.OPTIMISTIC,
                      "0x" + "00" * 20, 0, 1, b"\x00" * 32, 0)
    dialogue = Dialogue(DEAL, Role.PROVIDER, Domain(31337, TOKEN), request=request, status=status,
                        offers=list(offers), opened_at=NOW - 200, spec=JOB)
    state = GlobalState(
        time=NOW, gas=GasPrice(base_fee_wei=10**7, priority_fee_wei=0, block_number=1),
        token_prices={"tUSD": 1.0, "ETH": 3000.0}, electricity_prices={"eu": 0.20},
        electricity_forecasts={"eu": ElectricityForecast("eu", NOW, 3600, 0.30, 0.10, 0.50, 0.9)},
    )
    hardware = SimpleNamespace(power_full_watts=400, logical_cores=8)
    local = LocalState(hardware, Capacity(cores=6), free_funds=free_funds, open_deals=2, region="eu")
    return Context(Role.PROVIDER, ME, NOW, dialogue, (), local, state, client_reputation=lambda client: 0.8,
                   spec=JOB)


def _field(vector, name):
    return float(vector[OBSERVATION_NAMES.index(name)])


def test_every_field_is_documented_and_the_vector_follows_them():
    assert len(set(OBSERVATION_NAMES)) == len(OBSERVATION) and all(f.doc for f in OBSERVATION)
    context = _context(offers=[_signed(RIVAL, UNIT // 2, 0, provider=RIVAL)])
    floor = cost_floor(COST, context)
    vector = observe(context, floor)
    assert vector.dtype == np.float32 and vector.shape == (len(OBSERVATION),) and np.isfinite(vector).all()
    assert floor.tokens == COST.job_cost(3600, UNIT // 5, context, cores=2)  # what cost-plus marks up
    assert floor.electricity + floor.gas + floor.hardware + floor.risk == pytest.approx(floor.tokens, rel=1e-9)
    assert _field(vector, "max_price_over_floor") == pytest.approx(UNIT / floor.tokens, rel=1e-6)
    assert _field(vector, "best_competing_over_floor") == pytest.approx(UNIT / 2 / floor.tokens, rel=1e-6)
    assert _field(vector, "competing_offer_seen") == 1.0 and _field(vector, "offers_seen") == pytest.approx(0.1)
    assert _field(vector, "cores_share") == pytest.approx(2 / 8) and _field(vector, "free_cores_share") == 0.75
    assert _field(vector, "client_reputation") == pytest.approx(0.8)
    assert _field(vector, "hour_sin") == pytest.approx(1.0, abs=1e-6)  # 06:00
    assert _field(vector, "forecast_upper_ratio") == pytest.approx(2.5)
    assert _field(vector, "time_left_share") == pytest.approx(0.5)
    assert _field(vector, "is_counter") == 0.0 and _field(vector, "counter_over_floor") == 0.0
    shares = sum(_field(vector, f"{part}_share") for part in ("electricity", "gas", "hardware", "risk"))
    assert shares == pytest.approx(1.0, rel=1e-6)


def test_a_new_request_allows_declining_and_offers_within_its_max_price_only():
    context = _context()
    floor = cost_floor(COST, context)
    # A max price between +20% and +30% over the floor.
    context = replace(context, dialogue=replace(context.dialogue, request=replace(
        context.dialogue.request, max_price=int(floor.tokens * 1.25))))
    mask = action_mask(context, floor)
    assert mask[DECLINE] == 1 and mask[ACCEPT] == 0  # nothing to accept
    allowed = [MARKUPS[a - FIRST_OFFER] for a in range(FIRST_OFFER, OFFER_AT_MAX) if mask[a]]
    assert allowed == [0.0, 0.05, 0.10, 0.20]
    assert mask[OFFER_AT_MAX] == 1 and decode(OFFER_AT_MAX, context, floor).offer.price == int(floor.tokens * 1.25)


def test_offering_at_the_max_price_needs_a_max_price_at_least_the_floor():
    """The one action that prices from the request's max price: never below the provider's floor, and as the
    answer to a counter it is the next round's counter back at the max price."""
    context = _context()
    floor = cost_floor(COST, context)
    below = replace(context, dialogue=replace(context.dialogue, request=replace(
        context.dialogue.request, max_price=floor.tokens - 1)))
    assert action_mask(below, floor).tolist() == [1] + [0] * (len(ACTIONS) - 1)
    at = replace(context, dialogue=replace(context.dialogue, request=replace(
        context.dialogue.request, max_price=floor.tokens)))
    assert action_mask(at, floor)[OFFER_AT_MAX] == 1
    countered = _context(offers=[_signed(ME, UNIT, 0), _signed(CLIENT, UNIT // 2, 1)])
    back = decode(OFFER_AT_MAX, countered, floor)
    request = countered.dialogue.request
    assert (back.offer.round, back.offer.price, back.offer.collateral) == (2, request.max_price, request.min_collateral)


def test_a_counter_can_be_accepted_or_countered_until_the_last_round():
    counter = _signed(CLIENT, UNIT // 2, 1)
    context = _context(offers=[_signed(ME, UNIT, 0), counter])
    floor = cost_floor(COST, context)
    mask = action_mask(context, floor)
    assert mask[ACCEPT] == 1 and mask[FIRST_OFFER:].any()
    vector = observe(context, floor)
    assert _field(vector, "is_counter") == 1.0 and _field(vector, "counter_over_floor") > 0
    accepted = decode(ACCEPT, context, floor)
    assert accepted.performative == Performative.ACCEPT and accepted.offer == counter.offer
    assert accepted.signature == counter.signature and accepted.capacity == Capacity(cores=2)
    countered = decode(FIRST_OFFER + MARKUPS.index(0.10), context, floor, offer_ttl=30)
    assert countered.offer.round == 2 and countered.offer.price == int(floor.tokens * 1.10)
    assert countered.offer.expiry == NOW + 30 and countered.offer.provider == ME
    # Past max_rounds only accepting or letting it lapse remains; once answered, nothing is pending.
    last = _context(offers=[_signed(ME, UNIT, 2), _signed(CLIENT, UNIT // 2, 3)])
    assert action_mask(last, floor, max_rounds=3)[FIRST_OFFER:].sum() == 0
    answered = _context(offers=[counter, _signed(ME, UNIT, 2)])
    assert action_mask(answered, floor)[ACCEPT] == 0


def test_after_agreement_the_scheme_leaves_no_pricing_move():
    context = _context(offers=[_signed(CLIENT, UNIT, 1)], status=Status.AGREED)
    mask = action_mask(context, cost_floor(COST, context))
    assert mask.tolist() == [1] + [0] * (len(ACTIONS) - 1)


def test_decoding_an_action_the_mask_forbids_is_an_error():
    context = _context()
    floor = cost_floor(COST, context)
    assert decode(DECLINE, context, floor) is None
    first = decode(FIRST_OFFER, context, floor, offer_ttl=500)
    assert first.performative == Performative.OFFER and first.offer.round == 0
    assert first.offer.price == floor.tokens and first.offer.expiry == context.dialogue.request.offer_deadline
    with pytest.raises(ValueError, match="not valid here"):
        decode(ACCEPT, context, floor)
    with pytest.raises(ValueError, match="not one of"):
        decode(len(ACTIONS), context, floor)


def test_the_initial_policy_is_cost_plus_at_thirty_percent():
    policy = LinearPolicy.initial()
    context = _context()
    floor = cost_floor(COST, context)
    action = policy.act(observe(context, floor), action_mask(context, floor))
    assert decode(action, context, floor).offer.price == int(floor.tokens * 1.30)
    tight = replace(context, dialogue=replace(context.dialogue, request=replace(
        context.dialogue.request, max_price=int(floor.tokens * 1.2))))
    assert policy.act(observe(tight, floor), action_mask(tight, floor)) == DECLINE  # cost-plus cannot quote
    for ratio, expected in ((1.10, ACCEPT), (1.00, FIRST_OFFER + MARKUPS.index(0.30))):
        countered = _context(offers=[_signed(ME, UNIT, 0), _signed(CLIENT, int(floor.tokens * ratio), 1)])
        assert policy.act(observe(countered, floor), action_mask(countered, floor)) == expected


def test_the_vector_and_the_file_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    policy = LinearPolicy.from_vector(rng.normal(size=LinearPolicy.size()))
    assert np.array_equal(LinearPolicy.from_vector(policy.to_vector()).to_vector(), policy.to_vector())
    loaded = LinearPolicy.load(policy.save(tmp_path / "p.json"))
    assert np.array_equal(loaded.to_vector(), policy.to_vector())
    with pytest.raises(ValueError, match="vector has"):
        LinearPolicy.from_vector(np.zeros(3))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(observation=d["observation"][:-1]), "made for other observation: the file has"),
    (lambda d: d["actions"].__setitem__(2, "offer at +1%"), "made for other actions: #2 is 'offer at \\+1%'"),
    (lambda d: d.update(kind="mlp"), "is not a linear policy"),
    (lambda d: d.update(bias=[1.0]), "unusable weights"),
])
def test_a_file_made_for_other_features_is_refused_in_one_line(tmp_path, edit, message):
    data = LinearPolicy.initial().to_json()
    edit(data)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PolicyFileError, match=message) as refused:
        LinearPolicy.load(path)
    assert "\n" not in str(refused.value)


def test_a_missing_or_broken_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(PolicyFileError, match="does not exist"):
        LinearPolicy.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(PolicyFileError, match="not readable JSON"):
        LinearPolicy.load(tmp_path / "bad.json")
