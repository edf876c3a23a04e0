"""The market as a PettingZoo environment (agents.learning.market_env): PettingZoo's own API tests for both APIs,
the same seed giving the same episode, masks that allow only what the market accepts, decisions that are the
learned strategy's, and the online ratios behind the rewards."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test

from agents.learning.features import DECLINE, decode
from agents.learning.market_env import env, learning_agents, parallel_env
from agents.learning.policy import LinearPolicy
from agents.metrics import DifferentialDownsideRatio
from agents.protocol import is_valid_reply
from agents.simulation.memory_run import FIRST_TEST_KEY
from agents.simulation.run import simulate
from agents.simulation.scenario import load_scenario

# The default market, shortened: a few steps of requests, then the drain and sweep that close every deal.
SHORT = replace(load_scenario("market-env"), steps=4, drain_steps=10)


def _play(market, seed: int, pick) -> list[tuple]:
    """One episode: (agent, observation, mask, action, reward) per turn, `pick(rng, mask)` choosing actions."""
    market.reset(seed=seed)
    rng = np.random.default_rng(seed)
    turns = []
    for agent in market.agent_iter():
        observation, reward, terminated, truncated, info = market.last()
        action = None if terminated or truncated else pick(rng, observation["action_mask"])
        turns.append((agent, observation["observation"].copy(), observation["action_mask"].copy(), action, reward))
        market.step(action)
    return turns


def _random(rng, mask) -> int:
    return int(rng.choice(np.flatnonzero(mask)))


def test_the_aec_environment_passes_pettingzoo_api_test():
    market = env(SHORT)
    try:
        api_test(market, num_cycles=200)
    finally:
        market.close()


def test_the_parallel_environment_passes_pettingzoo_parallel_api_test():
    market = parallel_env(SHORT)
    try:
        parallel_api_test(market, num_cycles=200)
    finally:
        market.close()


def test_the_same_seed_gives_the_same_episode():
    first, second = env(SHORT), env(SHORT)
    try:
        one, two = _play(first, 5, _random), _play(second, 5, _random)
        other = _play(first, 6, _random)
    finally:
        first.close()
        second.close()
    assert len(one) > 10
    assert [(a, act) for a, _, _, act, _ in one] == [(a, act) for a, _, _, act, _ in two]
    for (_, obs1, mask1, _, r1), (_, obs2, mask2, _, r2) in zip(one, two):
        assert np.array_equal(obs1, obs2) and np.array_equal(mask1, mask2) and r1 == r2
    assert [t[1].tolist() for t in other] != [t[1].tolist() for t in one]


def test_every_action_a_mask_allows_decodes_into_a_reply_the_market_takes_then():
    market = env(SHORT)
    checked = 0
    try:
        market.reset(seed=3)
        rng = np.random.default_rng(3)
        for agent in market.agent_iter():
            observation, _, terminated, truncated, _ = market.last()
            if terminated or truncated:
                market.step(None)
                continue
            decision = market.decision
            context, mask = decision.context, decision.mask
            assert np.array_equal(mask, observation["action_mask"]) and mask[DECLINE] and mask.sum() > 1
            request = context.dialogue.request
            for action in np.flatnonzero(mask):
                reply = decode(action, context, decision.floor)
                if reply is None:
                    continue
                assert is_valid_reply(context.dialogue.status, reply.performative)
                assert request.min_collateral <= reply.offer.collateral and reply.offer.price <= request.max_price
                assert reply.offer.expiry >= context.now and reply.offer.round <= 3
                checked += 1
            market.step(_random(rng, mask))
        learners = market.run.deals[market.run.deals["provider"].str.startswith("learner", na=False)]
    finally:
        market.close()
    assert checked > 20 and len(learners) > 0  # random but valid actions still trade


def test_an_agent_acting_as_the_policy_file_trades_as_strategy_learned(tmp_path):
    """The environment's decisions are the strategy's: acting with the initial policy on what the environment
    shows gives the learners the very deals a plain run of `strategy: learned` with policies/initial.json gives."""
    policy = LinearPolicy.initial()
    market = env(SHORT)
    try:
        _play(market, 4, lambda rng, mask: policy.act(market.observe(market.agent_selection)["observation"], mask))
        in_env = market.run.deals
    finally:
        market.close()
    result = asyncio.run(simulate(replace(SHORT, seed=4), funder_key=FIRST_TEST_KEY, out_dir=tmp_path,
                                  backend="memory"))
    columns = ["deal_id", "provider", "price", "outcome"]
    learned = result.deals[result.deals["provider"].str.startswith("learner", na=False)][columns]
    from_env = in_env[in_env["provider"].str.startswith("learner", na=False)][columns]
    assert len(learned) > 0
    assert learned.sort_values("deal_id").to_dict("records") == from_env.sort_values("deal_id").to_dict("records")


def test_an_invalid_action_is_refused():
    market = env(SHORT)
    try:
        market.reset(seed=2)
        mask = market.observe(market.agent_selection)["action_mask"]
        forbidden = int(np.flatnonzero(mask == 0)[0])
        with pytest.raises(ValueError, match="not valid here"):
            market.step(forbidden)
    finally:
        market.close()


def test_a_scenario_without_learners_is_refused():
    with pytest.raises(ValueError, match="no learning agent"):
        learning_agents(load_scenario("bench"))
    with pytest.raises(ValueError, match="no reward 'profit'"):
        env(SHORT, reward="profit")


def test_the_differential_downside_ratio_is_the_ratio_s_derivative():
    """eta * D_t is the first-order change of A_t / DD_t when a return arrives."""
    eta = 1e-5
    ratio = DifferentialDownsideRatio(eta)
    assert ratio.update(0.02) == 0.0  # no loss seen yet: no ratio to move
    ratio.a, ratio.dd2 = 0.01, 0.02**2  # as after a history of returns of this size
    before = ratio.a / math.sqrt(ratio.dd2)
    for r in (0.03, -0.01, 0.02, -0.04, 0.0):
        d = ratio.update(r)
        after = ratio.a / math.sqrt(ratio.dd2)
        assert after - before == pytest.approx(eta * d, rel=1e-3), r
        before = after
