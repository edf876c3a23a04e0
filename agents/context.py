"""The context a policy decides in: role, the negotiation so far and the parallel ones, local state,
global state and what the chain's history says about counterparties."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.runtime.dialogues import Dialogue, Role
from agents.runtime.locks import Capacity


@dataclass(frozen=True)
class LocalState:
    hardware: Any | None  # agents.hardware.HardwareProfile; None for agents that do not serve jobs
    free_capacity: Capacity
    free_funds: int  # escrow balance not yet committed to a negotiation or a deal
    open_deals: int
    region: str | None = None  # where the agent's machines draw their electricity


@dataclass(frozen=True)
class Context:
    role: Role
    me: str
    now: int  # chain time
    dialogue: Dialogue | None  # the negotiation this message belongs to
    parallel: tuple[Dialogue, ...]  # the agent's other open negotiations
    local: LocalState
    global_state: Any | None  # agents.oracles.GlobalState; None for an agent without off-chain oracles
    reputation: Callable[[str], float] | None = None  # provider -> score in [0, 1]
    client_reputation: Callable[[str], float] | None = None  # client -> score in [0, 1] (rejections, no-shows)
    directory: Callable[[], list] | None = None  # -> live provider listings (agents.directory.ProviderListing)
    spec: Any | None = None  # agents.jobs.spec.JobSpec of this dialogue's job, once fetched
    perception: dict[str, Any] = field(default_factory=dict)  # results of checks the agent ran for this message
