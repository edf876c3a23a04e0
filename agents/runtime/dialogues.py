"""Dialogues: each negotiation is a dialogue keyed by its on-chain deal id.

A dialogue holds everything one agent knows about one deal (the request, the offers, the accepted terms,
the attestations, the deadlines) and checks each incoming message against the scheme's table of valid
replies (`agents.protocol.SCHEME`). It is built only from chain messages, so a restarted agent rebuilds
the same dialogues by replaying history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from agents.protocol import (
    Domain,
    Offer,
    Performative,
    Request,
    Status,
    ValidationScheme,
    find_transition,
    typed_hash,
)
from agents.runtime.locks import Capacity
from agents.runtime.messages import Message


class Role(str, Enum):
    CLIENT = "client"
    PROVIDER = "provider"
    VALIDATOR = "validator"


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
    commencement_uid: bytes | None = None
    completion_uid: bytes | None = None
    result_hash: bytes | None = None
    result_uri: str | None = None
    opened_at: int | None = None
    agreed_at: int | None = None
    closed_at: int | None = None
    last_message: Performative | None = None
    applied: set[tuple[int, int]] = field(default_factory=set)
    # Replies sent and not yet seen on chain, so that a handler run twice does not send twice.
    in_flight: set[Performative] = field(default_factory=set)
    # The agent's own bookkeeping for this deal.
    spec: Any = None  # the job spec fetched from the request's spec URI
    capacity: Capacity = field(default_factory=Capacity)  # capacity a provider commits to the job
    my_locked: int = 0  # what the deal took from this agent's escrow balance
    opening: Message | None = None  # the request message, to answer it after a restart

    @property
    def is_open(self) -> bool:
        return not self.status.is_terminal

    @property
    def client(self) -> str | None:
        return self.request.client if self.request else None

    @property
    def judge(self) -> str | None:
        if self.request is None:
            return None
        if self.request.scheme == ValidationScheme.VALIDATOR:
            return self.request.validator
        return self.request.client

    def latest_offer(self, from_party: str | None = None) -> SignedOffer | None:
        offers = [o for o in self.offers if from_party is None or o.signer == from_party]
        return max(offers, key=lambda o: (o.offer.round, o.time), default=None)

    def apply(self, message: Message) -> Arrival:
        """Move the dialogue on with a chain message, if it is a valid reply in the current state."""
        if message.log_key in self.applied:
            return Arrival.DUPLICATE
        performative = message.performative
        transition = find_transition(self.status, performative)
        if transition is None:
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
            signed = SignedOffer(offer, args["signer"], bytes(args["signature"]), message.time, typed_hash(self.domain, offer))
            self.offers.append(signed)
        elif performative == Performative.ACCEPT:
            self.accepted_offer_hash = bytes(args["offerHash"])
            self.provider = args["provider"]
            accepted = self.offer_by_hash(self.accepted_offer_hash)
            if accepted is not None:
                self.price, self.collateral = accepted.offer.price, accepted.offer.collateral
            self.agreed_at = message.time
            self.deadline = message.time + self.request.commence_within if self.request else None
        elif performative == Performative.FUND:
            # Funding restarts the commencement window (the market does the same).
            self.deadline = message.time + self.request.commence_within if self.request else None
        elif performative == Performative.COMMENCE:
            self.commencement_uid = bytes(args["attestation"])
            self.deadline = message.time + self.request.job_duration if self.request else None
        elif performative == Performative.COMPLETE:
            self.completion_uid = bytes(args["attestation"])
            self.result_hash = bytes(args["resultHash"])
            self.result_uri = args["resultURI"]
            self.deadline = message.time + self.request.validation_window if self.request else None
        self.status = message.status
        if self.status.is_terminal:
            self.closed_at = message.time
        return Arrival.EXISTING

    def offer_by_hash(self, offer_hash: bytes) -> SignedOffer | None:
        return next((o for o in self.offers if o.offer_hash == offer_hash), None)


@dataclass
class Dialogues:
    """All of one agent's dialogues, and the counts a report or a test inspects."""

    role: Role
    domain: Domain
    by_id: dict[bytes, Dialogue] = field(default_factory=dict)
    counts: dict[Arrival, int] = field(default_factory=lambda: {a: 0 for a in Arrival})

    def open(self) -> list[Dialogue]:
        return [d for d in self.by_id.values() if d.is_open]

    def get(self, deal_id: bytes) -> Dialogue | None:
        return self.by_id.get(deal_id)

    def update(self, message: Message) -> tuple[Dialogue | None, Arrival]:
        dialogue = self.by_id.get(message.deal_id)
        if dialogue is None:
            if message.performative != Performative.REQUEST:
                self.counts[Arrival.UNIDENTIFIED] += 1
                return None, Arrival.UNIDENTIFIED
            dialogue = Dialogue(message.deal_id, self.role, self.domain)
            self.by_id[message.deal_id] = dialogue
            arrival = dialogue.apply(message)
            arrival = Arrival.NEW if arrival == Arrival.EXISTING else arrival
        else:
            arrival = dialogue.apply(message)
        self.counts[arrival] += 1
        return dialogue, arrival
