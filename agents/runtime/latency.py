"""Event-to-transaction latency of an agent's reactions, for benchmarks (scripts/bench_agents.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from agents.runtime.outbox import SentTransaction


@dataclass
class Latency:
    """Latencies in seconds from the feed delivering the message that called for a reply: to each step of
    the reaction, and to the reply's transaction leaving for the node."""

    samples: list[float] = field(default_factory=list)  # to the transaction leaving for the node
    stages: dict[str, list[float]] = field(default_factory=dict)  # to each step of the reaction

    def mark(self, stage: str, since: float) -> None:
        self.stages.setdefault(stage, []).append(time.perf_counter() - since)

    def record(self, sent: SentTransaction) -> None:
        if sent.trigger_at is not None:
            self.samples.append(sent.sent_at - sent.trigger_at)
