"""Demand: the jobs that arrive at the market's clients each step, each with its private value to its client.

Arrivals are Poisson per client, at its group's `jobs_per_step` times the scenario's demand factor of the step
(a daily cycle, and bursts: `Scenario.demand`); kinds are drawn from the scenario's job mix by weight, and a share
of jobs (`validator_share`) is validated by a validator drawn at random. Everything is drawn from the model's
seeded generator, in a fixed order, so the same seed brings the same jobs. Each step's factor, burst and
arrivals go to `model.demand_log` (the report's demand table).
"""

from __future__ import annotations

import numpy as np

from agents.policy import Role
from agents.protocol import ValidationScheme
from agents.roles.client import QueuedJob
from agents.simulation.builders import TOKEN_SYMBOL


def submit_jobs(model) -> None:
    """Queue this step's arrivals at the live clients of `model` (a `MarketModel`)."""
    mix = model.scenario.jobs
    weights = np.array([entry.weight for entry in mix], dtype=float)
    weights /= weights.sum()
    validators = model.validator_addresses
    demand = model.scenario.demand
    burst = bool(model.rng.random() < demand.burst_probability) if demand.burst_probability else False
    factor = demand.factor(model.time, burst)
    arrivals = 0
    for spec in model.specs:
        if spec.role != Role.CLIENT:
            continue
        group = next(g for g in model.scenario.clients if g.name == spec.group)
        count = int(model.rng.poisson(group.jobs_per_step * factor))
        arrivals += count
        for _ in range(count):
            entry = mix[int(model.rng.choice(len(mix), p=weights))]
            value = _value(model, entry)
            use_validator = validators and model.rng.random() < model.scenario.validator_share
            agent = model.live.get(spec.name)
            if agent is None:
                continue  # a client that is down loses its arrivals
            validator = validators[int(model.rng.integers(len(validators)))] if use_validator else None
            if agent.policy.validator:
                agent.queue.append(QueuedJob(entry.spec, **value))  # it names its own validator
                continue
            scheme = ValidationScheme.VALIDATOR if use_validator else ValidationScheme.OPTIMISTIC
            agent.queue.append(QueuedJob(entry.spec, scheme=scheme, validator=validator, **value))
    model.demand_log.append({"step": model.step_index, "time": model.time, "demand_factor": factor, "burst": burst,
                             "jobs_arrived": arrivals})


def _value(model, entry) -> dict:
    """A job's private value to its client (`JobMixEntry.draw_value_usd`), also in token units at today's price."""
    usd = entry.draw_value_usd(model.rng)
    if usd is None:
        return {}
    token_usd = model.state_source.snapshot(model.time).token_prices[TOKEN_SYMBOL]
    return {"value": int(usd / token_usd * model.unit), "value_usd": usd}


def record_job_values(model) -> None:
    """Copy into `model.job_values` the values of the jobs clients requested (they keep them by deal id)."""
    for agent in model.live.values():
        for deal_id, job in getattr(agent, "jobs", {}).items():
            if job.value_usd is not None:
                model.job_values["0x" + deal_id.hex()] = job.value_usd
