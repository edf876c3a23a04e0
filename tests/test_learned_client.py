"""A learned client (`strategy: learned-client`): its buying decision as numbers (agents.strategies.client_features),
the linear policy over it, the strategy in a memory market, its seat in training and evaluation, and the
learning environment deciding for it. Feature tests build contexts by hand; the rest run short memory markets."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from agents.learning.evaluate import EvaluateConfig
from agents.learning.market_env import env, learning_roles, parallel_env
from agents.learning.policy import LinearClientPolicy, LinearPolicy, PolicyFileError, policy_class
from agents.learning.seat import seat_groups, with_seat
from agents.learning.train import TrainConfig
from agents.oracles.models import GasPrice, GlobalState
from agents.policy import Capacity, Context, Dialogue, LocalState, Role, SignedOffer
from agents.protocol import Domain, Offer, Performative, Request, Status, ValidationScheme
from agents.simulation.memory_run import FIRST_TEST_KEY
from agents.simulation.run import simulate
from agents.simulation.scenario import ScenarioError, load_scenario, parse_scenario
from agents.strategies.client_features import (
    ACCEPT_BEST,
    ACCEPT_CHEAPEST,
    CLIENT_ACTIONS,
    CLIENT_OBSERVATION,
    CLIENT_OBSERVATION_NAMES,
    CUTS,
    FIRST_COUNTER,
    WAIT,
    client_action_mask,
    client_decode,
    client_observe,
    standing,
)

ROOT = Path(__file__).resolve().parents[1]
UNIT = 10**18
ME = "0x" + "cc" * 20
CHEAP = "0x" + "aa" * 20  # a provider of poor reputation with the cheapest offer
TRUSTED = "0x" + "bb" * 20  # a provider of good reputation
TOKEN = "0x" + "dd" * 20
DEAL = b"\x07" * 32
NOW = 19_675 * 86_400 + 6 * 3600
REPUTATION = {CHEAP: 0.2, TRUSTED: 0.9}


def _signed(signer: str, price: int, round_: int, provider: str, expiry: int = NOW + 100) -> SignedOffer:
    offer = Offer(DEAL, provider, price, UNIT // 5, expiry, round_)
    return SignedOffer(offer, signer, b"\x01" * 65, NOW - 5, bytes([round_]) + signer.encode()[:31])


def _context(offers, max_price=UNIT, status=Status.NONE, in_flight=()) -> tuple[Dialogue, Context]:
    request = Request(ME, TOKEN, max_price, UNIT // 5, NOW + 200, 60, 3600, 60, ValidationScheme.OPTIMISTIC,
                      "0x" + "00" * 20, 0, 1, b"\x00" * 32, 0)
    dialogue = Dialogue(DEAL, Role.CLIENT, Domain(31337, TOKEN), request=request, status=status,
                        offers=list(offers), opened_at=NOW - 100, in_flight=set(in_flight))
    state = GlobalState(time=NOW, gas=GasPrice(base_fee_wei=10**7, priority_fee_wei=0, block_number=1),
                        token_prices={"tUSD": 1.0, "ETH": 3000.0})
    local = LocalState(None, Capacity(), free_funds=5 * UNIT, open_deals=0, region="eu")
    return dialogue, Context(Role.CLIENT, ME, NOW, dialogue, (dialogue,), local, state,
                             reputation=REPUTATION.get)


def _two_offers(cheap=UNIT // 2, trusted=6 * UNIT // 10):
    return [_signed(CHEAP, cheap, 0, CHEAP), _signed(TRUSTED, trusted, 0, TRUSTED)]


def test_every_field_is_documented_and_the_vector_follows_them():
    assert len(set(CLIENT_OBSERVATION_NAMES)) == len(CLIENT_OBSERVATION) and all(f.doc for f in CLIENT_OBSERVATION)
    dialogue, context = _context(_two_offers())
    offers = standing(dialogue, context, set())
    vector = client_observe(dialogue, context, offers)
    assert vector.dtype == np.float32 and vector.shape == (len(CLIENT_OBSERVATION),) and np.isfinite(vector).all()
    field = dict(zip(CLIENT_OBSERVATION_NAMES, vector.tolist()))
    # Expected surplus: 0.2 x 1 - 0.5 = -0.3 for the cheap one, 0.9 - 0.6 = 0.3 for the trusted one.
    assert offers.best.signer == TRUSTED and offers.cheapest.signer == CHEAP
    assert field["best_over_max"] == pytest.approx(0.6) and field["cheapest_over_max"] == pytest.approx(0.5)
    assert field["best_reputation"] == pytest.approx(0.9) and field["cheapest_reputation"] == pytest.approx(0.2)
    assert field["offers_standing"] == pytest.approx(0.2) and field["is_counter_back"] == 0.0
    assert field["time_left_share"] == pytest.approx(200 / 300)


def test_expired_offers_and_offers_refused_for_funds_do_not_stand():
    expired = _signed(CHEAP, UNIT // 4, 0, CHEAP, expiry=NOW)
    dialogue, context = _context([expired, _signed(TRUSTED, UNIT // 2, 0, TRUSTED)])
    assert [o.signer for o in standing(dialogue, context, set()).offers] == [TRUSTED]
    assert standing(dialogue, context, {(DEAL, TRUSTED)}) is None


def test_offers_within_the_max_price_can_be_taken_and_the_best_countered():
    dialogue, context = _context(_two_offers())
    offers = standing(dialogue, context, set())
    assert client_action_mask(dialogue, context, offers).tolist() == [1] * len(CLIENT_ACTIONS)
    taken, reply = client_decode(ACCEPT_CHEAPEST, dialogue, context, offers)
    assert taken.signer == CHEAP and reply is None
    assert client_decode(WAIT, dialogue, context, offers) == (None, None)
    action = FIRST_COUNTER + CUTS.index(0.20)
    taken, reply = client_decode(action, dialogue, context, offers)
    assert taken is None and reply.performative == Performative.OFFER
    assert (reply.offer.provider, reply.offer.price, reply.offer.round) == (TRUSTED, int(0.6 * UNIT * 0.8), 1)
    assert reply.offer.expiry == NOW + 60  # the counter's time to live, within the offer window


def test_an_offer_above_the_max_price_cannot_be_taken():
    dialogue, context = _context(_two_offers(cheap=UNIT // 2, trusted=2 * UNIT))
    mask = client_action_mask(dialogue, context, standing(dialogue, context, set()))
    # The best by expected surplus is now the cheap one (-0.3 against 0.9 - 2 = -1.1): both takeable offers agree.
    assert mask[ACCEPT_BEST] == 1 and mask[ACCEPT_CHEAPEST] == 1
    dialogue, context = _context([_signed(TRUSTED, 2 * UNIT, 0, TRUSTED)])
    mask = client_action_mask(dialogue, context, standing(dialogue, context, set()))
    assert mask[ACCEPT_BEST] == 0 and mask[ACCEPT_CHEAPEST] == 0 and mask[FIRST_COUNTER:].all()
    with pytest.raises(ValueError, match="not valid here"):
        client_decode(ACCEPT_BEST, dialogue, context, standing(dialogue, context, set()))


def test_a_counter_out_waits_for_its_answer_and_the_rounds_run_out():
    mine = _signed(ME, UNIT // 2, 1, TRUSTED)
    dialogue, context = _context([_signed(TRUSTED, 6 * UNIT // 10, 0, TRUSTED), mine])
    mask = client_action_mask(dialogue, context, standing(dialogue, context, set()))
    assert mask[ACCEPT_BEST] == 1 and not mask[FIRST_COUNTER:].any()  # our counter is out: no second one
    back = _signed(TRUSTED, 55 * UNIT // 100, 2, TRUSTED)
    dialogue, context = _context([_signed(TRUSTED, 6 * UNIT // 10, 0, TRUSTED), mine, back])
    offers = standing(dialogue, context, set(), counter_back=back)
    assert client_action_mask(dialogue, context, offers).all()  # answered, round 2 < 3: counter again
    assert client_observe(dialogue, context, offers)[CLIENT_OBSERVATION_NAMES.index("counter_back_over_max")] == \
        pytest.approx(0.55)
    last = _signed(TRUSTED, 55 * UNIT // 100, 3, TRUSTED)
    dialogue, context = _context([last])
    assert not client_action_mask(dialogue, context, standing(dialogue, context, set()))[FIRST_COUNTER:].any()


def test_no_buying_move_once_agreed_or_with_an_accept_in_flight():
    dialogue, context = _context(_two_offers(), in_flight={Performative.ACCEPT})
    mask = client_action_mask(dialogue, context, standing(dialogue, context, set()))
    assert mask[ACCEPT_BEST] == 0 and mask[ACCEPT_CHEAPEST] == 0
    dialogue, context = _context(_two_offers(), status=Status.AGREED)
    assert client_action_mask(dialogue, context, standing(dialogue, context, set())).tolist() == \
        [1] + [0] * (len(CLIENT_ACTIONS) - 1)


def test_the_initial_client_policy_buys_like_the_baseline():
    policy = LinearClientPolicy.initial()

    def act(offers, **flags):
        dialogue, context = _context(offers)
        standing_offers = standing(dialogue, context, set(), counter_back=flags.get("back"))
        observation = client_observe(dialogue, context, standing_offers)
        return policy.act(observation, client_action_mask(dialogue, context, standing_offers))

    assert act([_signed(TRUSTED, 6 * UNIT // 10, 0, TRUSTED)]) == ACCEPT_BEST  # at or below 70% of the max
    assert act([_signed(TRUSTED, 9 * UNIT // 10, 0, TRUSTED)]) == FIRST_COUNTER + CUTS.index(0.10)
    back = _signed(TRUSTED, 9 * UNIT // 10, 2, TRUSTED)
    assert act([_signed(ME, UNIT // 2, 1, TRUSTED), back], back=back) == ACCEPT_BEST  # a counter back within max


def test_client_and_provider_policy_files_are_not_interchangeable(tmp_path):
    client = LinearClientPolicy.initial().save(tmp_path / "client.json")
    provider = LinearPolicy.initial().save(tmp_path / "provider.json")
    assert np.array_equal(LinearClientPolicy.load(client).to_vector(), LinearClientPolicy.initial().to_vector())
    assert json.loads(client.read_text())["actions"] == list(CLIENT_ACTIONS)
    for cls, path in ((LinearClientPolicy, provider), (LinearPolicy, client)):
        with pytest.raises(PolicyFileError, match="was made for other observation") as refused:
            cls.load(path)
        assert "\n" not in str(refused.value)
    assert policy_class("client") is LinearClientPolicy
    with pytest.raises(ValueError, match="provider or client"):
        policy_class("validator")


def test_the_shipped_client_start_is_the_code_s():
    shipped = LinearClientPolicy.load(ROOT / "policies" / "client-initial.json")
    assert np.array_equal(shipped.to_vector(), LinearClientPolicy.initial().to_vector())
    LinearClientPolicy.load(ROOT / "policies" / "client.json")  # the trained one loads


def _client_market() -> dict:
    """The client training market, shortened."""
    import yaml

    data = yaml.safe_load((ROOT / "scenarios" / "train-client.yaml").read_text())
    data["steps"], data["drain_steps"], data["seed"] = 16, 10, 1
    return data


def test_a_bad_client_policy_is_a_one_line_scenario_error(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    data = _client_market()
    data["clients"][0]["params"]["policy"] = "policies/provider.json"
    with pytest.raises(ScenarioError, match="clients") as refused:
        parse_scenario(data)
    assert "was made for other observation" in str(refused.value) and "\n" not in str(refused.value)


def test_a_learned_client_buys_in_a_memory_market(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    scenario = parse_scenario(_client_market(), source="test")
    result = asyncio.run(simulate(scenario, funder_key=FIRST_TEST_KEY, out_dir=tmp_path, backend="memory"))
    assert result.summary["funds_conserved"] and result.summary["deals_open"] == 0
    mine = result.deals[result.deals["client"] == "learner-0"]
    assert (mine["outcome"] == "SETTLED").any(), "the learned client bought nothing"
    row = result.agents.set_index("agent").loc["learner-0"]
    assert row["strategy"] == "learned-client" and row["client_surplus_usd"] is not None


def test_the_client_seat_keeps_the_group_s_budget_whichever_strategy_fills_it():
    scenario = load_scenario("train-client")
    assert seat_groups(scenario, "client") == ("learner",) and seat_groups(scenario, "provider") == ("learned",)
    filled = with_seat(scenario, "budget", {"target_fraction": 0.8}, seed=5, role="client")
    seat = next(g for g in filled.clients if g.name == "learner")
    assert seat.strategy == "budget" and seat.params["target_fraction"] == 0.8 and seat.params["budget"] == 2.0
    assert "policy" not in seat.params and filled.seed == 5
    assert filled.providers == scenario.providers and filled.clients[1:] == scenario.clients[1:]


@pytest.mark.parametrize("config, message", [
    (TrainConfig(role="client", scenario="train-client", objective="sortino"), "objective is one of surplus"),
    (TrainConfig(role="provider", objective="surplus"), "objective is one of sortino, pnl"),
    (TrainConfig(role="validator"), "no learned seat for role 'validator'"),
    (TrainConfig(role="client", objective="surplus", actions=("offer at +30%",)), "not an action"),
])
def test_a_client_training_that_cannot_work_is_refused_in_one_line(config, message):
    with pytest.raises(ValueError, match=message):
        config.check()


def test_a_client_evaluation_tunes_the_baseline_client_over_five_targets_at_least():
    EvaluateConfig(role="client", policy=ROOT / "policies" / "client.json", tuned=(0.5, 0.6, 0.7, 0.8, 0.9)).check()
    with pytest.raises(ValueError, match="budget's target_fraction is tuned over at least 5"):
        EvaluateConfig(role="client", tuned=(0.5, 0.7)).check()


def test_the_environment_decides_for_learned_clients_with_their_own_spaces(monkeypatch):
    monkeypatch.chdir(ROOT)
    scenario = replace(load_scenario("train-client"), steps=6, drain_steps=8)
    assert learning_roles(scenario) == {"learned-0": "provider", "learner-0": "client"}
    market = env(scenario)
    try:
        assert market.action_space("learner-0").n == len(CLIENT_ACTIONS)
        assert market.observation_space("learner-0")["observation"].shape == (len(CLIENT_OBSERVATION),)
        market.reset(seed=3)
        rng = np.random.default_rng(3)
        decisions = []
        for agent in market.agent_iter():
            observation, _, terminated, truncated, info = market.last()
            if terminated or truncated:
                market.step(None)
                continue
            assert observation["observation"].shape == market.observation_space(agent)["observation"].shape
            if agent == "learner-0":
                decisions.append(info["decision"])
            market.step(int(rng.choice(np.flatnonzero(observation["action_mask"]))))
        assert decisions and set(decisions) <= {"offers", "counter back"}
    finally:
        market.close()
    parallel = parallel_env(scenario)
    try:
        parallel_api_test(parallel, num_cycles=100)
    finally:
        parallel.close()


def test_a_deal_s_price_is_the_offer_accepted_not_the_provider_s_latest():
    """A client that countered, met a counter-back at a higher price and took the provider's first offer pays the
    first offer's price: the deals table follows the Accepted event's offer hash."""
    from agents.protocol import Message
    from agents.protocol import typed_hash as offer_hash
    from agents.simulation.report import deals_table

    domain = Domain(31337, "0x" + "ee" * 20)
    request = Request(ME, TOKEN, UNIT, UNIT // 5, NOW + 200, 60, 3600, 60, ValidationScheme.OPTIMISTIC,
                      "0x" + "00" * 20, 0, 1, b"\x00" * 32, 0)
    first = Offer(DEAL, TRUSTED, 6 * UNIT // 10, UNIT // 5, NOW + 100, 0)
    counter = Offer(DEAL, TRUSTED, UNIT // 2, UNIT // 5, NOW + 100, 1)
    back = Offer(DEAL, TRUSTED, UNIT, UNIT // 5, NOW + 100, 2)

    def message(index, performative, sender, args, **parsed):
        m = Message(performative, DEAL, sender, args, index, NOW + index, (index, 0), 0.0)
        m.__dict__.update(parsed)  # the parsed request or offer, as the cached properties would hold them
        return m

    messages = [message(1, Performative.REQUEST, ME, {}, request=request),
                *(message(2 + i, Performative.OFFER, signer, {"signer": signer}, offer=offer)
                  for i, (signer, offer) in enumerate(((TRUSTED, first), (ME, counter), (TRUSTED, back)))),
                message(5, Performative.ACCEPT, ME, {"provider": TRUSTED, "offerHash": offer_hash(domain, first),
                                                     "status": Status.AGREED.value})]
    names = {ME: "client", TRUSTED: "provider"}
    deal = deals_table(messages, names, UNIT, {}, domain).iloc[0]
    assert (deal["provider"], deal["price"], deal["offers"]) == ("provider", 0.6, 3)


def test_the_client_markets_are_the_provider_training_market_but_for_their_clients():
    """train-client and provider-vs-learned-clients keep train-provider's day, jobs, machines and regions; only the
    clients (and, in train-client, the learned provider group's name) differ."""
    training = load_scenario("train-provider")
    client_market = load_scenario("train-client")
    renamed = tuple(replace(g, name="learner") if g.name == "learned" else g for g in client_market.providers)
    assert replace(client_market, name=training.name, providers=renamed, clients=training.clients) == training
    assert sum(g.count for g in client_market.clients) == sum(g.count for g in training.clients)
    assert {(g.jobs_per_step, g.float_tokens) for g in client_market.clients} == \
        {(g.jobs_per_step, g.float_tokens) for g in training.clients}
    defended = load_scenario("provider-vs-learned-clients")
    assert replace(defended, name=training.name, clients=training.clients) == training
    assert [(g.strategy, g.params["policy"]) for g in defended.clients] == [("learned-client", "policies/client.json")]
