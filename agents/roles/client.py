"""A client: publishes each job's spec, posts the request, and checks the result it is delivered."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

from agents.chain.rpc import RPCError, RPCUnavailable
from agents.jobs.spec import JobSpec
from agents.jobs.store import verify
from agents.policy import Dialogue, Reply
from agents.protocol import Message, Performative, Request, Status, ValidationScheme, typed_hash
from agents.roles.io import blocking, read_uri
from agents.runtime.agent import Agent

ZERO_ADDRESS = "0x" + "00" * 20


@dataclass
class QueuedJob:
    spec: JobSpec
    scheme: ValidationScheme | None = None  # overrides the policy's scheme for this job
    validator: str | None = None
    value: int | None = None  # what the job is worth to the client, in token units (None: its budget)
    value_usd: float | None = None


class ClientAgent(Agent):
    def __init__(self, *args, store, max_open_requests: int = 2, **kwargs):
        super().__init__(*args, **kwargs)
        self.store = store
        self.max_open_requests = max_open_requests
        self.queue: deque[QueuedJob] = deque()
        self.results_checked = 0
        self.results_failed = 0  # results that failed the check (not found, or not what the hash says)
        self.assessed: set[bytes] = set()  # deals whose delivered result this process has checked
        # Requests this process posted and not yet seen end, by deal id: the job, and the offer deadline after
        # which an unanswered request is over.
        self.posted: dict[bytes, tuple[QueuedJob, int]] = {}
        self.jobs: dict[bytes, QueuedJob] = {}  # every job this process requested, by deal id
        self._nonce = 0

    def takes_part(self, requested: dict) -> bool:
        return requested["request"]["client"] == self.address  # its own requests

    def _next_nonce(self) -> int:
        """Request nonces count up, continuing above every request of this client on chain (a restarted
        client must not rebuild an id it already used), so runs are reproducible."""
        used = [d.request.nonce for d in self.dialogues.by_id.values() if d.request and d.client == self.address]
        self._nonce = max([self._nonce, *used]) + 1
        return self._nonce

    def submit(self, spec: JobSpec) -> None:
        self.queue.append(QueuedJob(spec))

    async def act(self) -> None:
        try:
            await self._post_requests()
        except (RPCUnavailable, RPCError) as error:
            self.errors.append(f"posting a request: {error}")  # the job stays queued for the next act
        await super().act()
        now = min(self.now(), self.connection.feed.synced_time)  # as far as the chain has been read
        for deal_id, (_, offer_deadline) in list(self.posted.items()):
            dialogue = self.dialogues.get(deal_id)
            if now > offer_deadline and (dialogue is None or dialogue.status == Status.NONE):
                del self.posted[deal_id]  # nobody agreed in time: the request is over

    async def _post_requests(self) -> None:
        open_requests = sum(1 for d in self.dialogues.open())
        while self.queue and open_requests < self.max_open_requests:
            job = self.queue[0]
            context = await self.context(None, None, {"value": job.value})
            terms = self.policy.terms_for(job.spec, context)
            if terms.max_price <= 0:
                self.queue.popleft()  # worth less to the client than its own costs of a deal: not requested
                continue
            if job.scheme is not None:
                terms = replace(terms, scheme=job.scheme, validator=job.validator)
            validated = terms.scheme == ValidationScheme.VALIDATOR
            if self.locks.free_funds < terms.max_price + (terms.validator_fee if validated else 0):
                return  # the budget is committed elsewhere; try again later
            _, spec_uri = await blocking(self.config.work_inline, self.store.publish_spec, job.spec)
            now = self.now()
            request = Request(
                client=self.address, token=self.connection.deployment.token, max_price=terms.max_price,
                min_collateral=terms.min_collateral, offer_deadline=now + terms.offer_window,
                commence_within=terms.commence_within, job_duration=terms.job_duration,
                validation_window=terms.validation_window, scheme=terms.scheme,
                validator=terms.validator if validated else ZERO_ADDRESS,
                validator_fee=terms.validator_fee if validated else 0, bond=terms.bond,
                spec_hash=job.spec.spec_hash, nonce=self._next_nonce(),
            )
            deal_id = typed_hash(self.connection.domain, request)
            invited = self.policy.choose_providers(job.spec, context)
            sent = await self.send(
                Reply(Performative.REQUEST, deal_id, request=request, spec_uri=spec_uri, invited=invited)
            )
            if sent is None:
                return
            self.posted[deal_id] = (self.queue.popleft(), request.offer_deadline)
            self.jobs[deal_id] = job
            open_requests += 1

    def on_closed(self, dialogue: Dialogue) -> None:
        """A deal that ended unfunded (the provider never locked its collateral) did no work: its job is
        posted again, first in the queue. Every other ending is final for the job."""
        self.assessed.discard(dialogue.deal_id)
        job, _ = self.posted.pop(dialogue.deal_id, (None, None))
        if job is not None and dialogue.status == Status.UNFUNDED:
            self.queue.appendleft(job)

    async def perceive(self, dialogue: Dialogue, message: Message) -> dict:
        perception = await super().perceive(dialogue, message)
        if message.performative == Performative.COMPLETE:
            self.assessed.add(dialogue.deal_id)
            await self._check_result(dialogue)
        return perception

    async def _check_result(self, dialogue: Dialogue) -> None:
        """Fetch the result from the URI the completion named and compare its hash with the attested one."""
        self.results_checked += 1
        try:
            ok = await read_uri(verify, dialogue.result_uri, dialogue.result_hash)
        except Exception:  # noqa: BLE001 - an unreachable result is a failed delivery
            ok = False
        if not ok:
            self.results_failed += 1
        dialogue.result_ok = ok

    async def keep_obligations(self) -> None:
        """Lock an awaited payment; check and assess delivered results (and verdicts on them) this client has
        not assessed since it started (after a restart)."""
        for dialogue in self.dialogues.open():
            if dialogue.client != self.address:
                continue
            if dialogue.status == Status.AWAITING_PAYMENT:
                await self.send(Reply(Performative.FUND, dialogue.deal_id))
            elif dialogue.status in (Status.COMPLETED, Status.JUDGED) and dialogue.deal_id not in self.assessed:
                self.assessed.add(dialogue.deal_id)
                await self._check_result(dialogue)
                await self.send(self.policy.assess(await self.context(dialogue, None)))
