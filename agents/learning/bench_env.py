"""How fast the learning environment runs: `python -m agents.learning.bench_env` (make bench-env) plays whole
episodes of the AEC environment with random valid actions and prints, last, `env agent-steps/s: X`.

An agent-step is one `env.step()` of an agent with a decision to make (a price for a request, an answer to a
counter-offer); the closing steps of terminated agents are not counted. The time is wall time from `reset()` to
the episode's end, market setup included, on one core (the market's thread and the environment's take turns and
never run at once). What limits it is the market, not the hand-off: every decision is a whole reaction of the
agent runtime (perception, context, locks, outbox) in a market where every other agent reacts and acts too; the
figure printed next to it, the same market run without the environment, says how much the hand-off costs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from agents.learning.market_env import DEFAULT_SCENARIO, env, learning_agents
from agents.simulation.markets import market_for
from agents.simulation.memory_run import FIRST_TEST_KEY
from agents.simulation.model import MarketModel
from agents.simulation.scenario import ScenarioError, load_scenario


def play(market, seed: int) -> tuple[int, float]:
    """One episode with uniformly random valid actions: (agent-steps with a decision, wall seconds)."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    market.reset(seed=seed)
    steps = 0
    for _ in market.agent_iter():
        observation, _, terminated, truncated, _ = market.last()
        if terminated or truncated:
            market.step(None)
            continue
        market.step(int(rng.choice(np.flatnonzero(observation["action_mask"]))))
        steps += 1
    return steps, time.perf_counter() - started


async def _without_env(scenario) -> tuple[int, float]:
    """The same market with the learners deciding in place (their policy file): (decisions, wall seconds)."""
    decisions = 0
    started = time.perf_counter()
    model = MarketModel(scenario, market_for("memory", node_url=None, deployment=None, funder_key=FIRST_TEST_KEY),
                        Path(tempfile.mkdtemp(prefix="bench-env-")))
    await model.setup()
    learners = set(learning_agents(scenario))
    for name, agent in model.live.items():
        if name in learners:
            policy = agent.policy.model

            def choose(decision, policy=policy):
                nonlocal decisions
                decisions += 1
                return policy.act(decision.observation, decision.mask)

            agent.policy.chooser = choose
    try:
        await model.run()
    finally:
        await model.close()
    return decisions, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO)
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1, help="the first episode's seed; the others follow")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        print("Error: --episodes must be at least 1", file=sys.stderr)
        return 2
    try:
        scenario = load_scenario(args.scenario)
        market = env(scenario)
    except (ScenarioError, ValueError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    total_steps, total_seconds = 0, 0.0
    try:
        for episode in range(args.episodes):
            steps, seconds = play(market, args.seed + episode)
            total_steps += steps
            total_seconds += seconds
            print(f"episode {episode + 1} (seed {args.seed + episode}): {steps} agent-steps in {seconds:.2f} s, "
                  f"{market.run.market_steps} market steps")
    finally:
        market.close()
    decisions, seconds = asyncio.run(_without_env(replace(scenario, seed=args.seed)))
    print(f"the same market without the environment (seed {args.seed}): {decisions} decisions in {seconds:.2f} s, "
          f"{decisions / seconds:.0f} decisions/s")
    print(f"env agent-steps/s: {total_steps / total_seconds:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
