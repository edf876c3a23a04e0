"""The policy seam: everything a policy sees and everything it may return.

A policy is `(message, context) -> reply`. The runtime turns chain events into `Message`s
(`agents.protocol`) and its own finished work into `Notice`s, builds a `Context`, calls the policy, and
sends the `Reply` it returns as a transaction. A strategy imports this module and `agents.protocol`, and
nothing else of the project: it can be written, tested and trained without a chain.

The smallest provider, in one file (README, "Write a policy"):

    class FixedPrice:
        def react(self, message, context):
            if message.performative == Performative.REQUEST:
                request = context.dialogue.request
                offer = Offer(context.dialogue.deal_id, context.me, request.max_price,
                              request.min_collateral, context.now + 60, 0)
                return Reply(Performative.OFFER, offer.deal_id, offer=offer)
            return None

        def act(self, context):
            return []
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, runtime_checkable

from agents.protocol import (
    TERMINAL_STATUSES,
    CloseReason,
    Domain,
    Message,
    Offer,
    Performative,
    Request,
    Status,
    ValidationScheme,
    find_transition,
    typed_hash,
)

# ------------------------------------------------------------------------------------------------------
# Shared vocabulary
# ------------------------------------------------------------------------------------------------------


class Role(str, Enum):
    CLIENT = "client"
    PROVIDER = "provider"
    VALIDATOR = "validator"
    COURT = "court"  # the market's court: the top of the appeal chain, fixed at deployment


@dataclass(frozen=True)
class Capacity:
    """Machine resources: what a machine has, what a job needs, what a provider holds for a deal."""

    cores: int = 0  # logical cores
    ram_bytes: int = 0
    gpus: int = 0

    def fits_within(self, other: "Capacity") -> bool:
        return self.cores <= other.cores and self.ram_bytes <= other.ram_bytes and self.gpus <= other.gpus

    def __add__(self, other: "Capacity") -> "Capacity":
        return Capacity(self.cores + other.cores, self.ram_bytes + other.ram_bytes, self.gpus + other.gpus)

    def __sub__(self, other: "Capacity") -> "Capacity":
        return Capacity(self.cores - other.cores, self.ram_bytes - other.ram_bytes, self.gpus - other.gpus)


class NoticeKind(str, Enum):
    """What an agent's own background work reports back to its policy."""

    JOB_FINISHED = "job_finished"  # payload: result_hash, result_uri (a provider's own run of the job)
    JOB_FAILED = "job_failed"  # payload: reason
    VALIDATION_FINISHED = "validation_finished"  # payload: match (a validator's or the court's re-run)
    TX_FAILED = "tx_failed"  # payload: kind, tx


@dataclass(frozen=True)
class Notice:
    """An internal message: something the agent itself set in motion has finished."""

    kind: NoticeKind
    deal_id: bytes | None
    payload: dict[str, Any] = field(default_factory=dict)
    received_at: float = 0.0


@dataclass
class Reply:
    """A message an agent sends. Which fields matter depends on the performative (see
    `agents.chain.scheme.MESSAGES` for what each one becomes on chain)."""

    performative: Performative
    deal_id: bytes | None = None
    request: Request | None = None
    spec_uri: str | None = None
    invited: tuple[str, ...] = ()  # providers a request is addressed to; empty: broadcast
    offer: Offer | None = None
    signature: bytes | None = None
    result_hash: bytes | None = None
    result_uri: str | None = None
    approved: bool | None = None  # a validator's verdict or the court's ruling
    capacity: Capacity = field(default_factory=Capacity)  # capacity this reply commits
    # ACCEPT only: when the signer's side is not in its escrow account, let the deal wait for it to fund (until the
    # commencement deadline, then collateral_missing) instead of reverting.
    await_signer: bool = False


@dataclass(frozen=True)
class RequestTerms:
    """What the client asks for one job; the role turns it into an on-chain Request."""

    max_price: int
    min_collateral: int
    offer_window: int = 60  # seconds the request stays open for offers
    commence_within: int = 60
    job_duration: int = 300
    validation_window: int = 60
    scheme: ValidationScheme = ValidationScheme.OPTIMISTIC
    validator: str | None = None
    validator_fee: int = 0  # paid to the validator for a verdict that stands (a request names it only with one)
    bond: int = 1  # posted to take the result to the court; the validator stakes as much (must be > 0)


@dataclass(frozen=True)
class ValidatorStanding:
    """What the chain shows about the validator a request names, as a provider reads it before offering
    (`Context.perception["validator"]`). A provider's policy vets the validator on it."""

    address: str
    available: int  # its free escrow balance in the request's token: the most it can stake now
    score: float  # reputation in (0, 1): verdicts that stood against verdicts overturned by the court or missing
    overturned: int  # verdicts of its that the court overturned
    linked_to_client: bool  # funded by the request's client, or overturned in the client's favour before


# ------------------------------------------------------------------------------------------------------
# The negotiation as one agent knows it
# ------------------------------------------------------------------------------------------------------


class Arrival(str, Enum):
    NEW = "new"  # opened a dialogue
    EXISTING = "existing"  # moved an existing dialogue on
    DUPLICATE = "duplicate"  # already applied (replayed history, or a second delivery)
    UNIDENTIFIED = "unidentified"  # for a deal this agent has no dialogue for
    INVALID = "invalid"  # not a valid reply in the dialogue's current state


@dataclass
class SignedOffer:
    offer: Offer
    signer: str
    signature: bytes
    time: int
    offer_hash: bytes  # the EIP-712 hash the signer signed; Accepted names the offer by it


@dataclass
class Dialogue:
    """Everything one agent knows about one deal (the request, the offers, the accepted terms, the
    attestations, the deadline), built only from chain messages checked against the scheme's table of
    valid replies (`agents.protocol.SCHEME`), so a restarted agent rebuilds it by replaying history."""

    deal_id: bytes
    role: Role
    domain: Domain
    request: Request | None = None
    spec_uri: str | None = None
    invited: tuple[str, ...] = ()
    status: Status = Status.NONE
    offers: list[SignedOffer] = field(default_factory=list)
    accepted_offer_hash: bytes | None = None
    provider: str | None = None
    price: int | None = None
    collateral: int | None = None
    deadline: int | None = None  # chain time at which the current status times out
    accepted_status: Status | None = None  # AGREED, or the side acceptance left awaited
    commencement_uid: bytes | None = None
    completion_uid: bytes | None = None
    result_hash: bytes | None = None
    result_uri: str | None = None
    verdict_uid: bytes | None = None  # the validator's verdict attestation: the court's ruling references it
    verdict: bool | None = None  # the validator's verdict: approved or not
    disputant: str | None = None  # who posted a bond to take the result to the court (client or appellant)
    close_reason: CloseReason | None = None
    opened_at: int | None = None
    agreed_at: int | None = None
    commenced_at: int | None = None  # chain time of the commencement attestation: the job holds its machine from then
    closed_at: int | None = None
    last_message: Performative | None = None
    applied: set[tuple[int, int]] = field(default_factory=set)
    # Replies sent and not yet seen on chain, so that a handler run twice does not send twice.
    in_flight: set[Performative] = field(default_factory=set)
    # The agent's own bookkeeping for this deal.
    spec: Any = None  # the job spec fetched from the request's spec URI
    capacity: Capacity = field(default_factory=Capacity)  # capacity a provider commits to the job
    my_locked: int = 0  # what the deal took from this agent's escrow balance
    # This agent's own judgement of the delivered result, once it has one: the client's check of what it
    # was delivered, the provider's knowledge of its own work. None: not known (yet).
    result_ok: bool | None = None
    opening: Message | None = None  # the request message, to answer it after a restart

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL_STATUSES  # not status.is_terminal, asked of every open dialogue often

    @property
    def client(self) -> str | None:
        return self.request.client if self.request else None

    @property
    def validator(self) -> str | None:
        """The validator the request names; None in the optimistic scheme."""
        if self.request is None or self.request.scheme != ValidationScheme.VALIDATOR:
            return None
        return self.request.validator

    @property
    def validator_fee(self) -> int:
        return self.request.validator_fee if self.validator else 0

    @property
    def client_side(self) -> int:
        """What the client locks once agreed: the price and the validator's fee."""
        return (self.price or 0) + self.validator_fee

    def latest_offer(self, from_party: str | None = None) -> SignedOffer | None:
        offers = [o for o in self.offers if from_party is None or o.signer == from_party]
        return max(offers, key=lambda o: (o.offer.round, o.time), default=None)

    def offer_by_hash(self, offer_hash: bytes) -> SignedOffer | None:
        return next((o for o in self.offers if o.offer_hash == offer_hash), None)

    def apply(self, message: Message) -> Arrival:
        """Move the dialogue on with a chain message, if it is a valid reply in the current state."""
        if message.log_key in self.applied:
            return Arrival.DUPLICATE
        performative = message.performative
        if find_transition(self.status, performative) is None:
            return Arrival.INVALID
        self.applied.add(message.log_key)
        self.in_flight.discard(performative)
        self.last_message = performative
        args = message.args
        if performative == Performative.REQUEST:
            self.request = message.request
            self.opening = message
            self.spec_uri = args["specURI"]
            self.invited = tuple(args["invited"])
            self.opened_at = message.time
            self.deadline = self.request.offer_deadline
        elif performative == Performative.OFFER:
            offer = message.offer
            if self.request is not None and args["signer"] not in (offer.provider, self.request.client):
                # The market only checks that the caller signed; an offer signed by a third party is noise.
                self.applied.discard(message.log_key)
                return Arrival.INVALID
            signed = SignedOffer(offer, args["signer"], bytes(args["signature"]), message.time,
                                 typed_hash(self.domain, offer))
            self.offers.append(signed)
        elif performative == Performative.ACCEPT:
            self.accepted_offer_hash = bytes(args["offerHash"])
            self.provider = args["provider"]
            accepted = self.offer_by_hash(self.accepted_offer_hash)
            if accepted is not None:
                self.price, self.collateral = accepted.offer.price, accepted.offer.collateral
            self.agreed_at = message.time
            self.accepted_status = Status(args["status"])
            self.deadline = message.time + self.request.commence_within if self.request else None
        elif performative == Performative.FUND:
            # Funding restarts the commencement window (the market does the same).
            self.deadline = message.time + self.request.commence_within if self.request else None
        elif performative == Performative.COMMENCE:
            self.commencement_uid = bytes(args["attestation"])
            self.commenced_at = message.time
            self.deadline = message.time + self.request.job_duration if self.request else None
        elif performative == Performative.COMPLETE:
            self.completion_uid = bytes(args["attestation"])
            self.result_hash = bytes(args["resultHash"])
            self.result_uri = args["resultURI"]
            self.deadline = message.time + self.request.validation_window if self.request else None
        elif performative == Performative.VERDICT:
            self.verdict_uid = bytes(args["attestation"])
            self.verdict = bool(args["approved"])
            self.deadline = message.time + self.request.validation_window if self.request else None  # appeals
        elif performative in (Performative.DISPUTE, Performative.APPEAL, Performative.ESCALATE):
            self.disputant = message.sender  # nobody for an escalated silence
            self.deadline = int(args["deadline"])  # the court's
        if "reason" in args:
            self.close_reason = CloseReason(args["reason"])
        self.status = message.status
        if self.status.is_terminal:
            self.closed_at = message.time
        return Arrival.EXISTING


# ------------------------------------------------------------------------------------------------------
# What a policy decides in
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalState:
    hardware: Any | None  # agents.hardware.HardwareProfile; None for agents that do not serve jobs
    free_capacity: Capacity
    free_funds: int  # escrow balance not yet committed to a negotiation or a deal
    open_deals: int
    region: str | None = None  # where the agent's machines draw their electricity


class OtherDialogues(Sequence):
    """The agent's open dialogues other than the one a message is about, listed when a policy first reads them:
    most decisions never do, and the court's open dialogues are every deal in the market."""

    __slots__ = ("_open", "_this", "_items")

    def __init__(self, open_dialogues: Sequence[Dialogue], this: Dialogue | None = None):
        self._open, self._this, self._items = open_dialogues, this, None

    def _listed(self) -> tuple[Dialogue, ...]:
        if self._items is None:
            self._items = tuple(self._open) if self._this is None else tuple(
                [d for d in self._open if d is not self._this])
        return self._items

    def __getitem__(self, index):
        return self._listed()[index]

    def __len__(self) -> int:
        return len(self._listed())

    def __iter__(self):
        return iter(self._listed())

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return f"OtherDialogues({list(self._listed())!r})"


@dataclass(frozen=True)
class Context:
    role: Role
    me: str
    now: int  # chain time
    dialogue: Dialogue | None  # the negotiation this message belongs to
    parallel: Sequence[Dialogue]  # the agent's other open negotiations (a tuple, or OtherDialogues)
    local: LocalState
    global_state: Any | None  # agents.oracles.GlobalState; None for an agent without off-chain oracles
    reputation: Callable[[str], float] | None = None  # provider -> score in [0, 1]
    client_reputation: Callable[[str], float] | None = None  # client -> score in [0, 1] (false disputes, no-shows)
    directory: Callable[[], list] | None = None  # -> live provider listings (agents.knowledge.directory)
    spec: Any | None = None  # agents.jobs.spec.JobSpec of this dialogue's job, once fetched
    perception: dict[str, Any] = field(default_factory=dict)  # results of checks the agent ran for this message


# ------------------------------------------------------------------------------------------------------
# The policies' interfaces: what each role's runtime calls
# ------------------------------------------------------------------------------------------------------


@runtime_checkable
class Policy(Protocol):
    """Every policy: react to a message or notice, and act on a schedule (post requests, refresh offers).
    Replies that are not valid in the deal's state, or that the agent's locks refuse, are dropped."""

    def react(self, message: Message | Notice, context: Context) -> Reply | None: ...

    def act(self, context: Context) -> list[Reply]: ...


@runtime_checkable
class ProviderPolicy(Policy, Protocol):
    def owed_move(self, context: Context) -> Reply | None:
        """The move the provider owes on an agreed deal (commence, or give up on an unfunded one), asked
        again after a restart or a lost reply."""


@runtime_checkable
class ClientPolicy(Policy, Protocol):
    def terms_for(self, spec: Any, context: Context) -> RequestTerms:
        """The terms of a request for a job."""

    def choose_providers(self, spec: Any, context: Context) -> tuple[str, ...]:
        """Providers to address a request to; empty: broadcast."""

    def assess(self, context: Context) -> Reply | None:
        """What to do about a delivered result (status COMPLETED) or a validator's verdict on it (JUDGED),
        given the client's own check of the result (`dialogue.result_ok`): approve, dispute or appeal a
        result the check failed, or nothing."""


@runtime_checkable
class ValidatorPolicy(Policy, Protocol):
    """A validator reacts to `NoticeKind.VALIDATION_FINISHED` (its re-run of the job) with its VERDICT."""


@runtime_checkable
class CourtPolicy(Policy, Protocol):
    """The court reacts to `NoticeKind.VALIDATION_FINISHED` (its re-run of a disputed job) with its RULING."""
