"""Building the `Context` a policy decides in, from the agent's own state (its deals, its locks) and what
it knows beyond its deals: its machine and region, the market-wide state, reputations, the directory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents.policy import Context, Dialogue, LocalState, OtherDialogues, Role
from agents.runtime.locks import Locks


@dataclass
class ContextSources:
    hardware: Any = None  # agents.hardware.HardwareProfile; None for agents that do not serve jobs
    region: str | None = None
    global_state_source: Any = None  # .snapshot(now) -> agents.oracles GlobalState
    reputation: Callable[[str], float] | None = None
    directory: Callable[[], list] | None = None  # -> live provider listings, for choosing whom to address
    client_reputation: Callable[[str], float] | None = None
    # validator -> its record before the court (agents.knowledge.reputation.ValidatorReputation): what a
    # provider vets a request's validator on, with the validator's stake read from the chain
    validator_reputation: Callable[[str], Any] | None = None

    def context(self, role: Role, me: str, now: Callable[[], int], dialogue: Dialogue | None,
                open_dialogues: list[Dialogue], open_deals: int, locks: Locks, perception: dict) -> Context:
        time_now = now()
        global_state = None
        if self.global_state_source is not None:
            global_state = self.global_state_source.snapshot(time_now)
        # Built for every message and act: nothing here looks at each open dialogue (the court's are every deal
        # in the market); the other negotiations are listed if the policy reads them.
        return Context(
            role=role,
            me=me,
            now=time_now,
            dialogue=dialogue,
            parallel=OtherDialogues(open_dialogues, dialogue),
            local=LocalState(
                hardware=self.hardware,
                free_capacity=locks.free_capacity,
                free_funds=locks.free_funds,
                open_deals=open_deals,
                region=self.region,
            ),
            global_state=global_state,
            reputation=self.reputation,
            directory=self.directory,
            client_reputation=self.client_reputation,
            spec=dialogue.spec if dialogue is not None else None,
            perception=perception,
        )
