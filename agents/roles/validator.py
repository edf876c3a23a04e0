"""A validator: re-runs the jobs of the deals that name it and attests whether the result matches."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from agents.jobs.spec import JobSpec
from agents.jobs.store import fetch
from agents.jobs.validation import revalidate
from agents.policy import Dialogue, Notice, NoticeKind
from agents.protocol import Message, Performative, Status
from agents.runtime.agent import Agent


class ValidatorAgent(Agent):
    def __init__(self, *args, workdir: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.workdir = Path(workdir)
        self.validations = 0
        self.running: set[bytes] = set()
        self.verdicts: dict[bytes, Notice] = {}

    def takes_part(self, requested: dict) -> bool:
        return requested["request"]["validator"] == self.address  # the requests that name it

    async def perceive(self, dialogue: Dialogue, message: Message) -> dict:
        if message.performative == Performative.COMPLETE and dialogue.judge == self.address:
            self._start(dialogue)
        return {}

    def _start(self, dialogue: Dialogue) -> None:
        if dialogue.deal_id not in self.running and dialogue.deal_id not in self.verdicts:
            self.running.add(dialogue.deal_id)
            self.spawn(self._revalidate(dialogue))

    async def _revalidate(self, dialogue: Dialogue) -> None:
        spec = JobSpec.from_json(await asyncio.to_thread(fetch, dialogue.spec_uri))
        workdir = self.workdir / dialogue.deal_id.hex()
        try:
            verdict = await asyncio.to_thread(revalidate, spec, dialogue.result_hash, workdir)
            self.validations += 1
            notice = Notice(NoticeKind.VALIDATION_FINISHED, dialogue.deal_id, {"match": verdict.match}, time.perf_counter())
            self.verdicts[dialogue.deal_id] = notice
            self.notify(notice)
        finally:
            self.running.discard(dialogue.deal_id)

    async def keep_obligations(self) -> None:
        """Validate delivered results nobody validated yet (after a restart), and resend lost verdicts."""
        for dialogue in self.dialogues.open():
            if dialogue.status != Status.COMPLETED or dialogue.judge != self.address:
                continue
            notice = self.verdicts.get(dialogue.deal_id)
            if notice is None:
                self._start(dialogue)
            elif not dialogue.in_flight & {Performative.APPROVE, Performative.REJECT}:
                await self.send(self.policy.react(notice, await self.context(dialogue, notice)))
