"""What a validator and the court share: they re-run the job of a deal they must judge, in the background,
and tell their policy whether the result matched (`NoticeKind.VALIDATION_FINISHED`); after a restart they
re-run what they had not judged yet, and resend a verdict lost on the way."""

from __future__ import annotations

import time
from pathlib import Path

from agents.jobs.runner import run_job
from agents.jobs.spec import JobSpec
from agents.jobs.store import fetch
from agents.jobs.validation import revalidate
from agents.policy import Dialogue, Notice, NoticeKind
from agents.protocol import Message, Performative
from agents.roles.io import blocking, read_uri
from agents.runtime.agent import Agent


class JudgeAgent(Agent):
    """An agent that judges results by re-running jobs. Subclasses say which deals await its judgement
    (`must_judge`) and with which message (`answer`)."""

    answer: Performative

    def __init__(self, *args, workdir: Path, billed_seconds=None, job_runner=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.workdir = Path(workdir)
        self.job_runner = job_runner or run_job  # a JobCache's `run` where each distinct job runs once
        # How long its machine was busy re-running jobs, for the electricity bill: measured wall time by
        # default; a simulation bills a deterministic estimate instead.
        self.billed_seconds = billed_seconds or (lambda spec, result: result.wall_seconds)
        self.validations = 0
        self.job_seconds = 0.0
        self.running: set[bytes] = set()
        self.verdicts: dict[bytes, Notice] = {}  # re-runs done, kept until the deal closes

    def must_judge(self, dialogue: Dialogue) -> bool:
        raise NotImplementedError

    async def perceive(self, dialogue: Dialogue, message: Message) -> dict:
        if self.must_judge(dialogue):
            self._start(dialogue)
        return {}

    def on_closed(self, dialogue: Dialogue) -> None:
        self.verdicts.pop(dialogue.deal_id, None)

    def _start(self, dialogue: Dialogue) -> None:
        if dialogue.deal_id not in self.running and dialogue.deal_id not in self.verdicts:
            self.running.add(dialogue.deal_id)
            self.spawn(self._revalidate(dialogue))

    async def _revalidate(self, dialogue: Dialogue) -> None:
        try:
            spec = JobSpec.from_json(await read_uri(fetch, dialogue.spec_uri))
            workdir = self.workdir / dialogue.deal_id.hex()
            verdict = await blocking(self.config.work_inline, revalidate, spec, dialogue.result_hash, workdir,
                                     self.job_runner)
            self.validations += 1
            self.job_seconds += self.billed_seconds(spec, verdict.rerun)
            notice = Notice(NoticeKind.VALIDATION_FINISHED, dialogue.deal_id, {"match": verdict.match},
                            time.perf_counter())
            self.verdicts[dialogue.deal_id] = notice
            self.notify(notice)
        finally:
            self.running.discard(dialogue.deal_id)

    async def keep_obligations(self) -> None:
        """Judge deals awaiting this agent's judgement that it has not re-run (after a restart), and resend
        a judgement lost on the way."""
        for dialogue in self.dialogues.open():
            if not self.must_judge(dialogue):
                continue
            notice = self.verdicts.get(dialogue.deal_id)
            if notice is None:
                self._start(dialogue)
            elif self.answer not in dialogue.in_flight:
                await self.send(self.policy.react(notice, await self.context(dialogue, notice)))
