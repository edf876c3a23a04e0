"""The market as a PettingZoo environment: `env()` (AEC) and `parallel_env()`, over the memory backend.

The learning agents are the scenario's providers of strategy `learned` and clients of strategy `learned-client`;
every other agent runs its own strategy inside the environment. A learning provider acts when the market asks it
to price: a request it can serve, or a client's counter-offer to it (agents.strategies.learned). It sees
`{"observation": the features' vector, "action_mask": which of ACTIONS are valid}` (agents.strategies.features;
the README lists every field) and answers with an action index, decoded into the same `Reply` that `strategy:
learned` sends outside the environment, through the same lifecycle checks, locks and outbox. A learning client
acts when it is due to decide on a request's offers, or when a provider answers its counter-offer: its spaces
are CLIENT_OBSERVATION and CLIENT_ACTIONS (agents.strategies.client_features), each agent's own
(`observation_space(agent)`, `action_space(agent)`).

How: the stepped market model (agents.simulation.model) runs on its own asyncio loop in a thread of its own. When
a learning provider decides, its `chooser` hands the decision to the environment and blocks until the
environment hands back the action (one decision in flight at a time, in the model's fixed order), so the market
runs exactly as it does with `strategy: learned`, and the same seed gives the same episode.

Reward: after each market step, each learning agent's trading P&L of the step (deal cash flows, gas, electricity,
as the run's report measures it: agents.simulation.collector; a client's also the value to it of the jobs
delivered in the step, so that its P&L is its surplus), turned into `reward`: "sharpe" (default, the
differential Sharpe ratio of its trading returns, Moody & Saffell, eta 0.1), "sortino" (their differential
downside deviation ratio) or "pnl" (the step's trading P&L in USD). An agent gets the rewards of the steps run
since it last acted. The episode is one run of the scenario: its steps, the drain, and the sweep that closes
every deal; then every agent terminates.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv

from agents.metrics import DifferentialDownsideRatio, DifferentialSharpe
from agents.protocol import Status
from agents.simulation.collector import DataCollector
from agents.simulation.markets import market_for
from agents.simulation.memory_run import FIRST_TEST_KEY
from agents.simulation.model import MarketModel
from agents.simulation.report import DSR_ETA, deals_table
from agents.simulation.scenario import Scenario, load_scenario
from agents.strategies.client_features import CLIENT_ACTIONS, CLIENT_OBSERVATION, WAIT
from agents.strategies.features import ACTIONS, DECLINE, OBSERVATION, OBSERVATION_NAMES
from agents.strategies.learned import Decision, LearnedClient, LearnedProvider

DEFAULT_SCENARIO = "market-env"
REWARDS = ("sharpe", "sortino", "pnl")


class _Stop(BaseException):
    """Ends a market run from inside a decision (a reset or close mid-episode). A BaseException so that the agent's
    reaction loop, which survives any Exception of a policy's, lets it through."""


class _StepReward:
    """One learning agent's reward per market step from its observed holdings and costs."""

    def __init__(self, kind: str):
        self.kind = kind
        self.ratio = DifferentialSharpe(DSR_ETA) if kind == "sharpe" else DifferentialDownsideRatio(DSR_ETA)
        self.previous = None  # (holdings in tokens, token price, costs in USD) at the end of the last step

    def update(self, holdings: float, token_usd: float, costs_usd: float, bought_usd: float = 0.0) -> float:
        """`bought_usd`: a client's value of the jobs delivered to it so far (its wealth holds them)."""
        previous, self.previous = self.previous, (holdings, token_usd, costs_usd, bought_usd)
        if previous is None:
            return 0.0
        held, _, spent, had = previous
        value_before = held * previous[1] - spent + had
        # as metrics.pnl_decomposition splits it, with a client's purchases at their value to it
        trading = (holdings - held) * token_usd - (costs_usd - spent) + (bought_usd - had)
        if self.kind == "pnl":
            return trading
        return self.ratio.update(trading / value_before) if value_before > 0 else 0.0


class MarketRun:
    """One episode: the model stepping in its own thread, handing over one decision at a time.

    `next()` (the environment's thread) lets the market run until a learning agent decides or the run ends, and
    returns (the agent's name and its Decision, or None at the end; the rewards of the steps run meanwhile);
    `answer(action)` hands the action back."""

    def __init__(self, scenario: Scenario, learners: tuple[str, ...], reward: str, workdir: Path):
        self.scenario, self.learners, self.reward, self.workdir = scenario, learners, reward, workdir
        self._to_env: queue.SimpleQueue = queue.SimpleQueue()
        self._to_market: queue.SimpleQueue = queue.SimpleQueue()
        self._waiting = False  # the market is blocked on an answer
        self.finished = False
        self.market_steps = 0
        self.deals = None  # the episode's deals (agents.simulation.report.deals_table), once it has run to its end
        self.failed_transactions: dict[str, int] = {}
        self._thread = threading.Thread(target=self._main, name="market", daemon=True)
        self._thread.start()

    # --- the environment's side ---------------------------------------------------------------------

    def next(self) -> tuple[tuple[str, Decision] | None, dict[str, float]]:
        rewards = dict.fromkeys(self.learners, 0.0)
        while True:
            kind, payload = self._to_env.get()
            if kind == "rewards":
                for name, value in payload.items():
                    rewards[name] += value
            elif kind == "decision":
                self._waiting = True
                return payload, rewards
            elif kind == "done":
                self.finished = True
                return None, rewards
            else:  # "error": the market failed; say why here, in the caller's thread
                self.finished = True
                raise RuntimeError(f"the market run failed: {payload!r}") from payload

    def answer(self, action: int) -> None:
        self._waiting = False
        self._to_market.put(action)

    def stop(self) -> None:
        """End the run wherever it is and wait for its thread (the model closes its market)."""
        if not self.finished:
            if self._waiting:
                self._to_market.put(_Stop)
            while True:
                kind, _ = self._to_env.get()
                if kind == "decision":
                    self._to_market.put(_Stop)
                elif kind in ("done", "error"):
                    break
            self._waiting, self.finished = False, True
        self._thread.join()

    # --- the market's side --------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
            self._to_env.put(("done", None))
        except _Stop:
            self._to_env.put(("done", None))
        except BaseException as error:  # noqa: BLE001 - reported to the environment's thread
            self._to_env.put(("error", error))

    async def _run(self) -> None:
        market = market_for("memory", node_url=None, deployment=None, funder_key=FIRST_TEST_KEY)
        model = MarketModel(self.scenario, market, self.workdir)
        collector = DataCollector(model)
        await model.setup()
        try:
            step_rewards = {name: _StepReward(self.reward) for name in self.learners}
            learner_specs = [spec for spec in model.specs if spec.name in step_rewards]
            for spec in learner_specs:  # a learner restarted by a fault is rebuilt with its hand-off too
                spec.build = self._handing_over(spec.name, spec.build)
                self._hand_over(spec.name, model.live.get(spec.name))

            async def after_step(counted: bool = True) -> None:
                self.market_steps += counted
                rewards = {}
                for seen in await collector.observe():
                    if seen.spec.name in step_rewards:
                        holdings = (seen.wallet + seen.escrow + seen.locked) / seen.unit
                        rewards[seen.spec.name] = step_rewards[seen.spec.name].update(
                            holdings, seen.token_usd, seen.gas_usd + seen.electricity_usd,
                            bought_value_usd(model, seen.spec.name))
                self._to_env.put(("rewards", rewards))

            await after_step(counted=False)  # the starting holdings: no reward yet
            await model.run(after_step=after_step)
            # What the episode did, for whoever wants to look (the tests compare it with `strategy: learned`).
            messages = await model.connection.feed.history(model.first_block)
            self.deals = deals_table(messages, {s.key.address: s.name for s in model.specs}, model.unit, {},
                                     model.connection.domain)
            self.failed_transactions = {name: len(model.live[name].failed_transactions)
                                        for name in self.learners if name in model.live}
        finally:
            await model.close()

    def _handing_over(self, name: str, build):
        def build_with_hand_over():
            agent = build()
            self._hand_over(name, agent)
            return agent
        return build_with_hand_over

    def _hand_over(self, name: str, agent) -> None:
        if agent is None:
            return
        if not isinstance(agent.policy, (LearnedProvider, LearnedClient)):
            raise TypeError(f"{name} is not a learned provider or client: the environment cannot decide for it")

        def choose(decision: Decision) -> int:
            self._to_env.put(("decision", (name, decision)))
            action = self._to_market.get()
            if action is _Stop:
                raise _Stop()
            return action

        agent.policy.chooser = choose


def _scenario(scenario: Scenario | str | Path) -> Scenario:
    return scenario if isinstance(scenario, Scenario) else load_scenario(scenario)


LEARNING_STRATEGIES = {"provider": "learned", "client": "learned-client"}


def learning_roles(scenario: Scenario) -> dict[str, str]:
    """The scenario's learning agents (providers of strategy `learned`, clients of strategy `learned-client`) by
    name, in the model's order, with their role."""
    roles = {f"{group.name}-{n}": role for role, groups in (("provider", scenario.providers),
                                                             ("client", scenario.clients))
             for group in groups if group.strategy == LEARNING_STRATEGIES[role] for n in range(group.count)}
    return dict(sorted(roles.items()))


def learning_agents(scenario: Scenario) -> tuple[str, ...]:
    """The names of the scenario's learning agents, in the model's order."""
    names = tuple(learning_roles(scenario))
    if not names:
        raise ValueError(f"scenario {scenario.name!r} has no learning agent: give a provider group strategy: learned "
                         "or a client group strategy: learned-client")
    return names


def bought_value_usd(model: MarketModel, name: str) -> float:
    """What the jobs delivered to client `name` so far are worth to it (USD; 0 for any other agent): its settled
    deals' private values (the model's job values)."""
    agent = model.live.get(name)
    if agent is None or agent.role.value != "client":
        return 0.0
    return sum(model.job_values.get("0x" + deal_id.hex(), 0.0) for deal_id, dialogue in agent.dialogues.by_id.items()
               if dialogue.status == Status.SETTLED)


class _MarketEnvBase:
    """What both APIs share: the scenario, the spaces, the episode's run and its decisions."""

    metadata = {"name": "compute_market_v0", "render_modes": []}

    def __init__(self, scenario: Scenario | str | Path = DEFAULT_SCENARIO, reward: str = "sharpe"):
        if reward not in REWARDS:
            raise ValueError(f"no reward {reward!r}: choose one of {', '.join(REWARDS)}")
        self.scenario = _scenario(scenario)
        self.reward_kind = reward
        self.possible_agents = list(learning_agents(self.scenario))
        self.roles = learning_roles(self.scenario)  # agent -> "provider" or "client"
        self.agents: list[str] = []
        self.render_mode = None
        self._run: MarketRun | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="market-env-"))
        self.episodes = 0

    def actions(self, agent: str) -> tuple[str, ...]:
        """The names of `agent`'s actions: ACTIONS for a provider, CLIENT_ACTIONS for a client."""
        return ACTIONS if self.roles[agent] == "provider" else CLIENT_ACTIONS

    @functools.lru_cache(maxsize=None)  # noqa: B019 - one space object per agent, as PettingZoo requires
    def observation_space(self, agent: str) -> spaces.Dict:
        fields = OBSERVATION if self.roles[agent] == "provider" else CLIENT_OBSERVATION
        return spaces.Dict({
            "observation": spaces.Box(-np.inf, np.inf, (len(fields),), np.float32),
            "action_mask": spaces.Box(0, 1, (len(self.actions(agent)),), np.int8),
        })

    @functools.lru_cache(maxsize=None)  # noqa: B019
    def action_space(self, agent: str) -> spaces.Discrete:
        return spaces.Discrete(len(self.actions(agent)))

    def idle_observation(self, agent: str) -> dict:
        """What an agent sees when it has no decision to make: zeros, and only doing nothing (a provider's decline,
        a client's wait) valid."""
        mask = np.zeros(len(self.actions(agent)), dtype=np.int8)
        mask[DECLINE if self.roles[agent] == "provider" else WAIT] = 1
        size = self.observation_space(agent)["observation"].shape[0]
        return {"observation": np.zeros(size, dtype=np.float32), "action_mask": mask}

    @staticmethod
    def _decision_observation(decision: Decision) -> dict:
        return {"observation": decision.observation, "action_mask": decision.mask.astype(np.int8)}

    @staticmethod
    def _decision_info(decision: Decision) -> dict:
        context = decision.context
        common = {"deal_id": "0x" + context.dialogue.deal_id.hex(), "now": context.now}
        if decision.floor is None:  # a client's: the offers standing on its request
            offers = decision.offers
            return {"decision": "counter back" if offers.counter_back is not None else "offers", **common,
                    "offers": len(offers.offers)}
        counter = decision.observation[OBSERVATION_NAMES.index("is_counter")] > 0
        return {"decision": "counter" if counter else "request", **common,
                "floor_tokens": decision.floor.tokens / decision.floor.unit}

    def _start(self, seed: int | None) -> None:
        self._end_run()
        scenario = self.scenario if seed is None else replace(self.scenario, seed=int(seed))
        self.scenario = scenario
        episode = self._workdir / "episode"  # one fixed path: paths end up in on-chain URIs
        shutil.rmtree(episode, ignore_errors=True)
        self._run = MarketRun(scenario, tuple(self.possible_agents), self.reward_kind, episode)
        self.episodes += 1

    def _end_run(self) -> None:
        if self._run is not None:
            self._run.stop()
            self._run = None

    @property
    def run(self) -> MarketRun | None:
        """The current episode's market run (its deals and failed transactions once it has ended)."""
        return self._run

    def close(self) -> None:
        self._end_run()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __del__(self):
        try:
            self._end_run()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class MarketEnv(_MarketEnvBase, AECEnv):
    """AEC: the agent to act is the one the market is asking; the others wait with their last observation."""

    def __init__(self, scenario: Scenario | str | Path = DEFAULT_SCENARIO, reward: str = "sharpe"):
        AECEnv.__init__(self)
        _MarketEnvBase.__init__(self, scenario, reward)

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        self._start(seed)
        self.agents = list(self.possible_agents)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.infos = {agent: {} for agent in self.agents}
        self._observations = {agent: self.idle_observation(agent) for agent in self.agents}
        self.agent_selection = self.agents[0]
        self._pending = None
        self._advance()
        if self._pending is None:  # a run without a single decision: its agents terminate at their first step
            self.terminations = dict.fromkeys(self.agents, False)

    def observe(self, agent: str) -> dict:
        return self._observations[agent]

    @property
    def decision(self) -> Decision | None:
        """The decision the selected agent is asked for (its context, floor, observation and mask); None at the end."""
        return self._pending[1] if self._pending is not None else None

    def step(self, action) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self._cumulative_rewards[agent] = 0.0
        if self._pending is not None:
            if not self._observations[agent]["action_mask"][int(action)]:
                raise ValueError(f"{agent}: action {self.actions(agent)[int(action)]!r} is not valid here (see "
                                 "action_mask)")
            self._run.answer(int(action))
        self._advance()

    def _advance(self) -> None:
        """Run the market to the next decision (its agent is selected) or to the end (everyone terminates)."""
        pending, rewards = self._run.next() if not self._run.finished else (None, {})
        self.rewards = {agent: rewards.get(agent, 0.0) for agent in self.agents}
        self._pending = pending
        if pending is None:
            self.terminations = dict.fromkeys(self.agents, True)
            self.agent_selection = self.agents[0]
        else:
            name, decision = pending
            self._observations[name] = self._decision_observation(decision)
            self.infos[name] = self._decision_info(decision)
            self.agent_selection = name
        self._accumulate_rewards()


class ParallelMarketEnv(_MarketEnvBase, ParallelEnv):
    """Parallel: every step, every live agent gets an action. The market asks one agent at a time (its decisions are
    sequential: each sees the locks the previous one took), so in each step one agent has a decision and the others
    see `idle_observation()`, where only declining is valid; their `info["deciding"]` is False."""

    def reset(self, seed: int | None = None, options: dict | None = None):
        self._start(seed)
        self.agents = list(self.possible_agents)
        observations, _, infos = self._advance()
        return observations, infos

    def step(self, actions: dict):
        if self._pending is not None:
            name, decision = self._pending
            if name not in actions:
                raise ValueError(f"{name} has a decision to make: give it an action")
            action = int(actions[name])
            if not decision.mask[action]:
                raise ValueError(f"{name}: action {self.actions(name)[action]!r} is not valid here (see action_mask)")
            self._run.answer(action)
        observations, rewards, infos = self._advance()
        done = self._pending is None
        terminations = dict.fromkeys(self.agents, done)
        truncations = dict.fromkeys(self.agents, False)
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def _advance(self):
        pending, rewards = self._run.next() if not self._run.finished else (None, {})
        self._pending = pending
        observations = {agent: self.idle_observation(agent) for agent in self.agents}
        infos = {agent: {"deciding": False} for agent in self.agents}
        if pending is not None:
            name, decision = pending
            observations[name] = self._decision_observation(decision)
            infos[name] = {"deciding": True, **self._decision_info(decision)}
        return observations, {agent: rewards.get(agent, 0.0) for agent in self.agents}, infos


def env(scenario: Scenario | str | Path = DEFAULT_SCENARIO, reward: str = "sharpe") -> MarketEnv:
    """The market as an AEC environment (PettingZoo). `scenario`: a Scenario, a scenario file or a shipped name."""
    return MarketEnv(scenario, reward)


def parallel_env(scenario: Scenario | str | Path = DEFAULT_SCENARIO, reward: str = "sharpe") -> ParallelMarketEnv:
    """The market as a parallel environment (PettingZoo)."""
    return ParallelMarketEnv(scenario, reward)
