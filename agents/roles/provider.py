"""A provider: reads the job spec of each request it sees (and what the chain shows of the validator it names),
checks the client's payment is locked before it starts, runs the job in a real subprocess, publishes the
result where the client can fetch it, and knows whether the result it delivered is its own work."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agents.chain.rpc import RPCError, RPCUnavailable
from agents.jobs.runner import run_job
from agents.jobs.spec import InvalidJobSpec, JobSpec
from agents.jobs.store import FetchError, fetch
from agents.policy import Dialogue, Notice, NoticeKind, Reply, ValidatorStanding
from agents.protocol import Message, Performative, Status
from agents.roles.io import blocking, read_uri
from agents.runtime.agent import Agent
from agents.runtime.feed import RequestAudience

# Jobs wait on their subprocess for as long as they run: they get threads of their own, so that a busy
# machine never delays the quick I/O (spec and result files) agents do on the default executor.
JOB_THREADS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="job")


class ProviderAgent(Agent):
    request_audience = RequestAudience.NAMED_OR_BROADCAST  # the open market's requests, and those naming it

    def __init__(self, *args, store, workdir: Path, billed_seconds=None, hold_seconds=None, job_runner=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.store = store
        self.workdir = Path(workdir)
        self.job_runner = job_runner or run_job  # a JobCache's `run` where each distinct job runs once
        # How long the machine was busy with a job, for the electricity bill: measured wall time by
        # default; a simulation bills a deterministic estimate instead.
        self.billed_seconds = billed_seconds or (lambda spec, result: result.wall_seconds)
        # Chain seconds a job holds the machine from its commencement before its result is delivered. A live
        # provider delivers as soon as the real process ends (0: no wait); a simulation runs scaled-down
        # workloads and holds the job's cores for the duration the job declares, so that capacity fills up.
        self.hold_seconds = hold_seconds or (lambda spec: 0.0)
        self.jobs_run = 0
        self.job_seconds = 0.0  # busy seconds billed for electricity
        self.measured_job_seconds = 0.0
        self.running: set[bytes] = set()
        self.considered: set[bytes] = set()  # requests this agent's policy has seen
        # Open requests that arrived while the machine was too busy (running jobs, or reserved by offers): the
        # policy is asked again once the job fits, as a provider re-reads the open orders when it frees up.
        self.waiting_for_capacity: set[bytes] = set()
        self.finished: dict[bytes, Notice] = {}  # job outcomes, kept until the deal closes
        self.funding_links: set[tuple[str, str]] = set()  # (client, validator): the client funded the validator
        self._links_read_to: dict[tuple[str, str], int] = {}  # the next block to look for such funding in

    def takes_part(self, requested: dict) -> bool:
        """Requests it could serve: others' requests in the market's token, broadcast or addressed to it."""
        request, invited = requested["request"], requested["invited"]
        return (
            request["client"] != self.address
            and request["token"] == self.connection.deployment.token
            and (not invited or self.address in invited)  # addressed to others: not ours to answer
        )

    async def perceive(self, dialogue: Dialogue, message: Message) -> dict:
        perception = await super().perceive(dialogue, message)
        if message.performative == Performative.REQUEST:
            self.considered.add(dialogue.deal_id)
            dialogue.spec = await self._fetch_spec(dialogue)
            if dialogue.spec is not None and not dialogue.spec.requirements.capacity.fits_within(self.locks.free_capacity):
                self.waiting_for_capacity.add(dialogue.deal_id)
            if dialogue.validator is not None and dialogue.spec is not None:
                perception["validator"] = await self._validator_standing(dialogue)
        elif dialogue.provider == self.address and dialogue.status == Status.AGREED:
            perception["payment_locked"] = await self._payment_locked(dialogue)
        return perception

    async def _validator_standing(self, dialogue: Dialogue) -> ValidatorStanding | None:
        """What the chain shows of the validator a request names: its free escrow balance (the stake it can
        lock), its record before the court, and whether the client funded it or it sided with the client
        against the court's ruling. None if the chain could not be read (the provider then declines)."""
        request = dialogue.request
        validator, client = request.validator, request.client
        try:
            available = await self.connection.backend.available(request.token, validator)
            await self._read_funding_link(client, validator, request.token)
        except (RPCUnavailable, RPCError) as error:
            self.errors.append(f"vetting validator {validator}: {error}")
            return None
        record = self.sources.validator_reputation(validator) if self.sources.validator_reputation else None
        if record is None:  # no record to read: a newcomer, at the reputation prior's mean
            return ValidatorStanding(validator, available, score=0.5, overturned=0,
                                     linked_to_client=(client, validator) in self.funding_links)
        return ValidatorStanding(
            validator, available, score=record.score, overturned=record.overturned,
            linked_to_client=(client, validator) in self.funding_links or client in record.favoured,
        )

    async def _read_funding_link(self, client: str, validator: str, token: str) -> None:
        """Look for the client funding the validator in the blocks not read yet for this pair (a link, once
        seen, stays)."""
        pair = (client, validator)
        if pair in self.funding_links:
            return
        start = self._links_read_to.get(pair, self.connection.deployment.block)
        latest = await self.connection.backend.block_number()
        if start <= latest and await self.verifier.funded_by(client, validator, token, start, latest):
            self.funding_links.add(pair)
        self._links_read_to[pair] = latest + 1

    async def _payment_locked(self, dialogue: Dialogue):
        # Never start work before the client's payment is verifiably locked on the agreed terms.
        return await self.verifier.payment_locked(dialogue.deal_id, dialogue.price, dialogue.collateral)

    async def _fetch_spec(self, dialogue: Dialogue) -> JobSpec | None:
        try:
            content = await read_uri(fetch, dialogue.spec_uri)
            spec = JobSpec.from_json(content)
        except (InvalidJobSpec, FetchError, OSError, ValueError) as error:
            self.errors.append(f"spec of {dialogue.deal_id.hex()[:8]}: {error}")
            return None
        if spec.spec_hash != dialogue.request.spec_hash:
            return None  # the spec at the URI is not the one the request commits to
        dialogue.capacity = spec.requirements.capacity
        return spec

    def after_send(self, reply: Reply, sent) -> None:
        dialogue = self.dialogues.get(reply.deal_id)
        if reply.performative == Performative.COMMENCE:
            self._start(dialogue)
        elif reply.performative == Performative.COMPLETE:
            dialogue.result_ok = self._own_result(dialogue.deal_id) == reply.result_hash

    def _own_result(self, deal_id: bytes) -> bytes | None:
        """The hash of the result this provider's own run of the job produced, if it ran it."""
        notice = self.finished.get(deal_id)
        return notice.payload["result_hash"] if notice and notice.kind == NoticeKind.JOB_FINISHED else None

    def _start(self, dialogue: Dialogue) -> None:
        if dialogue.deal_id not in self.running and dialogue.deal_id not in self.finished:
            self.running.add(dialogue.deal_id)
            self.spawn(self._run(dialogue))

    async def _run(self, dialogue: Dialogue) -> None:
        """Run the job, publish the result, and tell the policy (which attests completion)."""
        try:
            inline = self.config.work_inline
            result = await blocking(inline, self.job_runner, dialogue.spec, self.workdir / dialogue.deal_id.hex(),
                                    executor=JOB_THREADS)
            self.jobs_run += 1
            self.measured_job_seconds += result.wall_seconds
            self.job_seconds += self.billed_seconds(dialogue.spec, result)
            if result.succeeded:
                result_hash, result_uri = await blocking(inline, self.store.publish, result.result_path)
                payload = {"result_hash": result_hash, "result_uri": result_uri, "wall_seconds": result.wall_seconds}
                notice = Notice(NoticeKind.JOB_FINISHED, dialogue.deal_id, payload, time.perf_counter())
            else:
                notice = Notice(NoticeKind.JOB_FAILED, dialogue.deal_id, {"reason": result.reason}, time.perf_counter())
            self.finished[dialogue.deal_id] = notice
            if dialogue.result_hash is not None:  # delivered before a restart: was it this work?
                dialogue.result_ok = self._own_result(dialogue.deal_id) == dialogue.result_hash
            if notice.kind == NoticeKind.JOB_FAILED or self._job_due(dialogue):
                self.notify(notice)  # otherwise keep_obligations delivers it once the job's time has passed
        finally:
            self.running.discard(dialogue.deal_id)

    def _job_due(self, dialogue: Dialogue) -> bool:
        """Whether a job's time on the machine is over: its commencement plus the chain seconds it holds it. A job
        that holds the machine and ended before its commencement was seen is not due yet: how fast the process
        ran must not decide when it is delivered (keep_obligations delivers it once its time has passed)."""
        if dialogue.spec is None:
            return True
        hold = self.hold_seconds(dialogue.spec)
        if dialogue.commenced_at is None:
            return hold == 0
        return self.now() >= dialogue.commenced_at + hold

    async def keep_obligations(self) -> None:
        """Fund awaited collateral, commence agreed deals, (re)run commenced jobs (deterministic, so the
        result is the same after a restart) and deliver finished ones whose completion was not sent."""
        for dialogue in self.dialogues.open():
            if dialogue.status == Status.NONE and dialogue.deal_id not in self.considered and dialogue.opening:
                # A request posted while this agent was not running: answer it now.
                await self._answer(dialogue, dialogue.opening, await self.perceive(dialogue, dialogue.opening))
                continue
            if dialogue.provider != self.address:
                continue
            if dialogue.spec is None and dialogue.request is not None:
                dialogue.spec = await self._fetch_spec(dialogue)
            if dialogue.status in (Status.AWAITING_COLLATERAL, Status.AGREED):
                perception = {}
                if dialogue.status == Status.AGREED and Performative.COMMENCE not in dialogue.in_flight:
                    perception["payment_locked"] = await self._payment_locked(dialogue)
                context = await self.context(dialogue, None, perception)
                await self.send(self.policy.owed_move(context))
            elif dialogue.status == Status.COMMENCED and dialogue.spec is not None:
                notice = self.finished.get(dialogue.deal_id)
                if notice is None:
                    self._start(dialogue)
                elif (Performative.COMPLETE not in dialogue.in_flight and Performative.ABORT not in dialogue.in_flight
                      and (notice.kind == NoticeKind.JOB_FAILED or self._job_due(dialogue))):
                    await self.send(self.policy.react(notice, await self.context(dialogue, notice)))
            elif dialogue.status == Status.JUDGED and dialogue.verdict is False:
                if dialogue.result_ok is None and dialogue.spec is not None:
                    self._start(dialogue)  # restarted since it delivered: the deterministic job says
                elif dialogue.result_ok:
                    await self.send(self.policy.owed_move(await self.context(dialogue, None)))
        for deal_id in [d for d in self.finished if not self.dialogues.get(d) or not self.dialogues.get(d).is_open]:
            del self.finished[deal_id]
        await self._reconsider_waiting_requests()

    async def _reconsider_waiting_requests(self) -> None:
        """Ask the policy again about open requests it saw while busy, once their job fits the free capacity."""
        now = self.now()
        for deal_id in sorted(self.waiting_for_capacity):
            dialogue = self.dialogues.get(deal_id)
            if dialogue is None or dialogue.status != Status.NONE or dialogue.request.offer_deadline <= now:
                self.waiting_for_capacity.discard(deal_id)  # taken, cancelled or expired
                continue
            if dialogue.spec.requirements.capacity.fits_within(self.locks.free_capacity):
                self.waiting_for_capacity.discard(deal_id)
                await self._answer(dialogue, dialogue.opening, await self.perceive(dialogue, dialogue.opening))
