"""A validator: re-runs the jobs of the deals that name it and attests whether the result matches."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from agents.jobs.spec import JobSpec
from agents.jobs.store import fetch
from agents.jobs.validation import revalidate
from agents.protocol import Performative, Status
from agents.runtime.agent import Agent
from agents.runtime.dialogues import Dialogue
from agents.runtime.messages import Message, Notice


class ValidatorAgent(Agent):
    def __init__(self, *args, workdir: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.workdir = Path(workdir)
        self.validations = 0

    async def perceive(self, dialogue: Dialogue, message: Message) -> dict:
        if message.performative == Performative.COMPLETE and dialogue.judge == self.address:
            self.spawn(self._revalidate(dialogue))
        return {}

    async def _revalidate(self, dialogue: Dialogue) -> None:
        spec = JobSpec.from_json(await asyncio.to_thread(fetch, dialogue.spec_uri))
        workdir = self.workdir / dialogue.deal_id.hex()
        verdict = await asyncio.to_thread(revalidate, spec, dialogue.result_hash, workdir)
        self.validations += 1
        self.notify(Notice("validation_finished", dialogue.deal_id, {"match": verdict.match}, time.perf_counter()))

    async def resume(self) -> None:
        for dialogue in self.dialogues.open():
            if dialogue.status == Status.COMPLETED and dialogue.judge == self.address:
                self.spawn(self._revalidate(dialogue))
