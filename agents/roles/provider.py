"""A provider: reads the job spec of each request it sees, checks the client's payment is locked before
it starts, runs the job in a real subprocess, and publishes the result where the client can fetch it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from agents.jobs.runner import run_job
from agents.jobs.spec import InvalidJobSpec, JobSpec
from agents.jobs.store import fetch
from agents.protocol import Performative, Status
from agents.runtime.agent import Agent, Reply
from agents.runtime.dialogues import Dialogue
from agents.runtime.messages import Message, Notice
from agents.strategies.provider import job_capacity


class ProviderAgent(Agent):
    def __init__(self, *args, store, workdir: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.store = store
        self.workdir = Path(workdir)
        self.jobs_run = 0

    async def perceive(self, dialogue: Dialogue, message: Message) -> dict:
        perception = await super().perceive(dialogue, message)
        if message.performative == Performative.REQUEST:
            dialogue.spec = await self._fetch_spec(dialogue)
        elif dialogue.provider == self.address and dialogue.status == Status.AGREED:
            # Never start work before the client's payment is verifiably locked on the agreed terms.
            perception["payment_locked"] = await self.verifier.payment_locked(
                dialogue.deal_id, dialogue.price, dialogue.collateral
            )
        return perception

    async def _fetch_spec(self, dialogue: Dialogue) -> JobSpec | None:
        try:
            content = await asyncio.to_thread(fetch, dialogue.spec_uri)
            spec = JobSpec.from_json(content)
        except (InvalidJobSpec, OSError, ValueError) as error:
            self.errors.append(f"spec of {dialogue.deal_id.hex()[:8]}: {error}")
            return None
        if spec.spec_hash != dialogue.request.spec_hash:
            return None  # the spec at the URI is not the one the request commits to
        dialogue.capacity = job_capacity(spec)
        return spec

    def after_send(self, reply: Reply, sent) -> None:
        if reply.performative == Performative.COMMENCE:
            self.spawn(self._run(self.dialogues.get(reply.deal_id)))

    async def _run(self, dialogue: Dialogue) -> None:
        """Run the job, publish the result, and tell the policy (which attests completion)."""
        workdir = self.workdir / dialogue.deal_id.hex()
        result = await asyncio.to_thread(run_job, dialogue.spec, workdir)
        self.jobs_run += 1
        if not result.succeeded:
            self.notify(Notice("job_failed", dialogue.deal_id, {"reason": result.reason}, time.perf_counter()))
            return
        result_hash, result_uri = await asyncio.to_thread(self.store.publish, result.result_path)
        payload = {"result_hash": result_hash, "result_uri": result_uri, "wall_seconds": result.wall_seconds}
        self.notify(Notice("job_finished", dialogue.deal_id, payload, time.perf_counter()))

    async def resume(self) -> None:
        """Finish what a previous run of this agent started: commence agreed deals, (re)run commenced
        jobs (they are deterministic, so the result is the same), lock awaited collateral."""
        for dialogue in self.dialogues.open():
            if dialogue.provider != self.address:
                continue
            if dialogue.spec is None and dialogue.request is not None:
                dialogue.spec = await self._fetch_spec(dialogue)
            if dialogue.status == Status.AWAITING_COLLATERAL:
                await self.send(Reply(Performative.FUND, dialogue.deal_id))
            elif dialogue.status == Status.AGREED:
                await self.send(Reply(Performative.COMMENCE, dialogue.deal_id))
            elif dialogue.status == Status.COMMENCED and dialogue.spec is not None:
                self.spawn(self._run(dialogue))
