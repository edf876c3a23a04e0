"""The deployed scheme against a pure-Python model of it, under random message sequences.

A Hypothesis RuleBasedStateMachine sends every message of the scheme (request, offer, accept, fund,
collateralMissing, the attestations through the real EAS: commencement, completion, the client's approval, the
validator's verdict and the court's ruling; dispute, appeal, escalate, settle, claimTimeout, abort,
cancelRequest, cancelOffer, deposit, withdraw) from random accounts (client, provider, validator, the court and
a stranger), wrong senders included on purpose, at random times, with deadlines hit exactly. Each message is
mined; the model below predicts whether it goes through or which custom error refuses it, and what it does to
every deal and every balance.
After each step the chain must agree with the model everywhere, the escrow must hold exactly what it
owes (every party's account exact: prices, collateral, the validator's fee and stake, bonds and what the
court is paid), and closed deals must stay closed. Every transition the contract allowed must also be in the
agents' own table of the scheme (agents.protocol.SCHEME), so agents never meet a move they do not know.

Rules aimed at the scheme's rules, not only its accounting: every time-bound move made exactly on its
deadline and one second past it, and attestations in the matching status with exactly one thing wrong
(attester, recipient, reference, time), verdicts and rulings included. Every outcome is counted (and reported
with `hypothesis.event`): each message's result, and each transition as "message SOURCE->TARGET". The test
fails unless each transition succeeded and each rule's error came back at least once, so a change that stops
the machine from reaching a rule cannot pass silently. Before the random run a sweep sends every targeted case
once (`sweep`), so that this does not depend on the draws. The seed is fixed (`derandomize`): CI runs the same
examples every time; SCHEME_MACHINE_EXAMPLES=500 SCHEME_MACHINE_RANDOM=1 explores further with fresh random
examples.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from dataclasses import dataclass, field

from conftest import FLOAT, SPEC_HASH, ZERO_ADDRESS, ZERO_BYTES32, Transactor, commencement, completion, validation
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hypothesis import HealthCheck, Phase, currently_in_test_context, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from agents.deploy.system import deploy_system
from agents.protocol import (
    SCHEME,
    TERMINAL_STATUSES,
    Domain,
    Offer,
    Party,
    Performative,
    Request,
    Status,
    Timing,
    ValidationScheme,
    Verdict,
    typed_hash,
)
from agents.testing.market_client import MarketClient

# A message costs ~10 ms (mined, then one batched read); the sweep sends about 1,400 and 10 examples of up to 40
# steps about 2,500 more (the targeted rules send several per step): about a minute in all. CI runs a fixed set of
# examples (derandomize); SCHEME_MACHINE_EXAMPLES=500 and SCHEME_MACHINE_RANDOM=1 for a long hunt with fresh
# random examples.
# SCHEME_MACHINE_NO_SHRINK=1 reports the first failing example as found: shrinking a stateful failure mines
# thousands of transactions, too slow when checking that a planted bug is caught.
RANDOM = bool(os.environ.get("SCHEME_MACHINE_RANDOM"))
NO_SHRINK = bool(os.environ.get("SCHEME_MACHINE_NO_SHRINK"))
settings.register_profile(
    "scheme-state-machine",
    max_examples=int(os.environ.get("SCHEME_MACHINE_EXAMPLES", 10)),
    stateful_step_count=40,
    derandomize=not RANDOM,
    phases=[p for p in Phase if p != Phase.shrink or not NO_SHRINK],
    database=None,  # nothing replayed from earlier runs: CI sees the same examples every time
    deadline=None,  # every step is a mined transaction: wall time depends on the machine, not the code
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SCHEME_MACHINE_SETTINGS = settings.get_profile("scheme-state-machine")

ACTORS = ("client", "provider", "validator", "court", "stranger")
# The market the machine runs on gives its court about as long as the deals' own windows (WINDOWS below), so
# that disputes time out in the middle of other deals rather than days after all of them.
COURT_WINDOW = 240
# "right" stands for whoever the model says should send the message: most draws then reach deep states,
# and the others exercise every wrong sender.
SENDERS = st.sampled_from(("right", "right", "right") + ACTORS)
ATTESTED_TOPIC = keccak(text="Attested(address,address,bytes32,bytes32)")

# Outcomes over the whole run ("message: error", "message: ok", "message SOURCE->TARGET" and a few finer
# ones), for the test's final check.
OUTCOMES: Counter[str] = Counter()
# Each must occur at least once: every transition, and each rule's refusal where it guards a transition.
REQUIRED_OUTCOMES = (
    # transitions
    "request: ok", "offer: ok", "cancel_request NONE->CANCELLED", "accept NONE->AGREED",
    "accept NONE->AWAITING_COLLATERAL", "fund AWAITING_COLLATERAL->AGREED",
    "collateral_missing AWAITING_COLLATERAL->UNFUNDED", "commence AGREED->COMMENCED", "complete COMMENCED->COMPLETED",
    "abort AGREED->SLASHED", "abort COMMENCED->SLASHED", "claim_timeout AGREED->SLASHED",
    "claim_timeout COMMENCED->SLASHED", "approve COMPLETED->SETTLED", "settle COMPLETED->SETTLED",
    "dispute COMPLETED->DISPUTED", "verdict COMPLETED->JUDGED", "escalate COMPLETED->DISPUTED",
    "appeal JUDGED->DISPUTED", "settle JUDGED->SETTLED", "settle JUDGED->SLASHED", "ruling DISPUTED->SETTLED",
    "ruling DISPUTED->SLASHED", "claim_timeout DISPUTED->UNWOUND",
    # the court rules after each way to it, and both parties appeal the verdict that went against them
    "ruling after dispute", "ruling after appeal", "ruling after escalate", "appeal by client", "appeal by provider",
    # refusals
    "fund: NotTheFundingParty", "fund: DeadlinePassed", "collateral_missing: NotTheWaitingParty",
    "accept: RequestExpired", "accept: OfferExpired", "accept: UnfundedCounterparty",
    "commence: WrongAttester", "commence: WrongRecipient", "commence: WrongReference", "commence: DeadlinePassed",
    "complete: WrongAttester", "complete: WrongRecipient", "complete: WrongReference", "complete: DeadlinePassed",
    "approve: WrongRecipient", "approve: WrongReference", "approve: DeadlinePassed",
    "client rejects: RejectionNeedsDispute", "client rejects for a validator: WrongAttester",
    "verdict: WrongAttester", "verdict: WrongRecipient", "verdict: WrongReference", "verdict: DeadlinePassed",
    "verdict: UnexpectedStatus",
    "dispute: NotTheClient", "dispute: InvalidValidationScheme", "dispute: DeadlinePassed",
    "appeal: NotTheAppellant", "appeal: DeadlinePassed", "escalate: InvalidValidationScheme",
    "escalate: DeadlineNotReached",
    "ruling: WrongAttester", "ruling: WrongRecipient", "ruling: WrongReference", "ruling: DeadlinePassed",
    "settle: DeadlineNotReached", "settle: VerdictMissing", "claim_timeout: DeadlineNotReached",
    "abort: NotTheProvider",
)


def record(outcome: str):
    OUTCOMES[outcome] += 1
    if currently_in_test_context():  # the sweep runs the machine outside Hypothesis
        event(outcome)


# --- the model ------------------------------------------------------------------------------------


@dataclass
class ModelDeal:
    request: Request
    status: Status = Status.NONE
    price: int = 0
    collateral: int = 0
    fee: int = 0  # the validator's fee, stored with a validator
    bond: int = 0  # the validator's stake, or the optimistic client's dispute bond once it disputed
    deadline: int = 0
    locked: int = 0  # what this deal holds in the escrow
    last_attestation: bytes = ZERO_BYTES32
    previous_attestation: bytes = ZERO_BYTES32  # the one before the last: a stale reference
    verdict: Verdict = Verdict.NONE
    to_court: str | None = None  # how it went to the court: dispute, appeal or escalate

    @property
    def validating(self) -> bool:
        return self.request.scheme == ValidationScheme.VALIDATOR


@dataclass(frozen=True)
class ModelOffer:
    offer: Offer
    signer: str  # the actor whose key signed it
    signature: bytes
    offer_hash: bytes


def _paying(*moves: tuple[str, int]) -> dict[str, int]:
    """Who is credited what when a deal closes (a party may appear several times)."""
    payouts: dict[str, int] = {}
    for who, amount in moves:
        payouts[who] = payouts.get(who, 0) + amount
    return payouts


@dataclass
class Model:
    """The scheme as the contracts are meant to run it: roles, statuses, deadlines and escrow accounts.
    Checks are in the contract's order so that the model names the error that must come back."""

    now: int
    available: dict[str, int]
    wallet: dict[str, int]
    deals: dict[bytes, ModelDeal] = field(default_factory=dict)
    cancelled: set[tuple[str, bytes]] = field(default_factory=set)

    def locked(self) -> int:
        return sum(d.locked for d in self.deals.values())

    # escrow

    def deposit(self, who, amount):
        if amount == 0:
            return "ZeroAmount"
        self.wallet[who] -= amount
        self.available[who] += amount

    def withdraw(self, who, amount):
        if amount == 0:
            return "ZeroAmount"
        if amount > self.available[who]:
            return "InsufficientBalance"
        self.available[who] -= amount
        self.wallet[who] += amount

    def _lock(self, who, amount, pull) -> bool:
        if self.available[who] >= amount:
            self.available[who] -= amount
            return True
        if not pull:
            return False
        self.wallet[who] -= amount - self.available[who]
        self.available[who] = 0
        return True

    # negotiation

    def request(self, d: ModelDeal, sender):
        if sender != "client":
            return "NotTheClient"
        if d.request.offer_deadline <= self.now:
            return "InvalidDeadline"
        if d.status != Status.NONE:
            return "UnexpectedStatus"

    def cancel_request(self, d: ModelDeal, sender):
        if sender != "client":
            return "NotTheClient"
        if d.status != Status.NONE:
            return "UnexpectedStatus"
        d.status = Status.CANCELLED

    def offer(self, d: ModelDeal, o: ModelOffer, sender):
        if o.offer.price == 0:
            return "ZeroAmount"
        if o.offer.expiry < self.now:  # valid up to and including its expiry, as in accept
            return "OfferExpired"
        if d.status != Status.NONE:
            return "UnexpectedStatus"
        if sender != o.signer:
            return "InvalidSignature"

    def accept(self, d: ModelDeal, o: ModelOffer, sender):
        req, terms = d.request, o.offer
        if d.status != Status.NONE:
            return "UnexpectedStatus"
        if self.now > req.offer_deadline:
            return "RequestExpired"
        if self.now > terms.expiry:
            return "OfferExpired"
        if terms.price == 0:
            return "ZeroAmount"
        if terms.price > req.max_price:
            return "PriceAboveMaximum"
        if terms.collateral < req.min_collateral:
            return "CollateralBelowMinimum"
        if sender not in ("client", "provider"):
            return "NotAParty"
        caller_is_client = sender == "client"
        signer = "provider" if caller_is_client else "client"
        if (signer, o.offer_hash) in self.cancelled:
            return "OfferIsCancelled"
        if o.signer != signer:
            return "InvalidSignature"
        # The validator stakes from its escrow account, or there is no deal.
        if d.validating and self.available["validator"] < req.bond:
            return "UnfundedCounterparty"
        client_side = terms.price + req.validator_fee
        # The signer's side only from its account (else it is awaited), the caller's pulled from its wallet.
        signer_locked = self._lock(signer, client_side if signer == "client" else terms.collateral, pull=False)
        if d.validating:
            self._lock("validator", req.bond, pull=False)
        self._lock(sender, client_side if caller_is_client else terms.collateral, pull=True)
        paid = signer_locked or caller_is_client
        collateralised = signer_locked or not caller_is_client
        d.status = (
            Status.AWAITING_PAYMENT if not paid
            else Status.AGREED if collateralised else Status.AWAITING_COLLATERAL
        )
        d.price, d.collateral = terms.price, terms.collateral
        d.fee, d.bond = (req.validator_fee, req.bond) if d.validating else (0, 0)
        d.locked = client_side * paid + terms.collateral * collateralised + d.bond
        d.deadline = self.now + req.commence_within

    def cancel_offer(self, o: ModelOffer, sender):
        self.cancelled.add((sender, o.offer_hash))

    # funding

    def fund(self, d: ModelDeal, sender):
        if d.status == Status.AWAITING_COLLATERAL:
            funder, amount = "provider", d.collateral
        elif d.status == Status.AWAITING_PAYMENT:
            funder, amount = "client", d.price + d.fee
        else:
            return "UnexpectedStatus"
        if sender != funder:
            return "NotTheFundingParty"
        if self.now > d.deadline:
            return "DeadlinePassed"
        self._lock(funder, amount, pull=True)
        d.locked += amount
        # The commencement window restarts: a late funder must not eat the provider's time to commence.
        d.status, d.deadline = Status.AGREED, self.now + d.request.commence_within

    def collateral_missing(self, d: ModelDeal, sender):
        if d.status == Status.AWAITING_COLLATERAL:
            waiting, side = "client", d.price + d.fee
        elif d.status == Status.AWAITING_PAYMENT:
            waiting, side = "provider", d.collateral
        else:
            return "UnexpectedStatus"
        if sender != waiting and self.now <= d.deadline:
            return "NotTheWaitingParty"
        self._close(d, Status.UNFUNDED, _paying((waiting, side), ("validator", d.bond)))

    # attestations (EAS checks nothing that these draws get wrong; the resolver does the rest)

    def commence(self, d: ModelDeal, attester, recipient, ref):
        if d.status != Status.AGREED:
            return "UnexpectedStatus"
        if attester != "provider":
            return "WrongAttester"
        if recipient != "client":
            return "WrongRecipient"
        if ref != ZERO_BYTES32:
            return "WrongReference"
        if self.now > d.deadline:
            return "DeadlinePassed"

    def complete(self, d: ModelDeal, attester, recipient, ref):
        if d.status != Status.COMMENCED:
            return "UnexpectedStatus"
        if attester != "provider":
            return "WrongAttester"
        if recipient != "client":
            return "WrongRecipient"
        if ref != d.last_attestation:
            return "WrongReference"
        if self.now > d.deadline:
            return "DeadlinePassed"

    def validate(self, d: ModelDeal, attester, recipient, ref, approved):
        """A validation attestation: the client's approval or a validator's verdict on a completed deal, the
        court's ruling on a disputed one. Returns the error, or None once the model applied it (a verdict
        still needs its uid: `attested`)."""
        if d.status == Status.COMPLETED:
            if attester == "client":
                if not approved:
                    return "WrongAttester" if d.validating else "RejectionNeedsDispute"
            elif attester != "validator" or not d.validating:
                return "WrongAttester"
        elif d.status == Status.DISPUTED:
            if attester != "court":
                return "WrongAttester"
        else:
            return "UnexpectedStatus"
        if recipient != "provider":
            return "WrongRecipient"
        if ref != d.last_attestation:
            return "WrongReference"
        if self.now > d.deadline:
            return "DeadlinePassed"
        if d.status == Status.DISPUTED:
            self._rule(d, approved)
        elif attester == "client":
            self._client_approves(d)
        else:
            d.status, d.deadline = Status.JUDGED, self.now + d.request.validation_window  # the appeal window
            d.verdict = Verdict.APPROVED if approved else Verdict.REJECTED

    def attested(self, d: ModelDeal, uid: bytes):
        """Commencement, completion or a verdict went through: the next status, its deadline and the new link."""
        if d.status == Status.AGREED:
            d.status, d.deadline = Status.COMMENCED, self.now + d.request.job_duration
        elif d.status == Status.COMMENCED:
            d.status, d.deadline = Status.COMPLETED, self.now + d.request.validation_window
        d.previous_attestation, d.last_attestation = d.last_attestation, uid

    # the court

    def dispute(self, d: ModelDeal, sender):
        if d.status != Status.COMPLETED:
            return "UnexpectedStatus"
        if d.validating:
            return "InvalidValidationScheme"
        if sender != "client":
            return "NotTheClient"
        if self.now > d.deadline:
            return "DeadlinePassed"
        d.bond = d.request.bond
        self._to_court(d, "dispute", "client")

    def appeal(self, d: ModelDeal, sender):
        if d.status != Status.JUDGED:
            return "UnexpectedStatus"
        if sender != appellant(d):
            return "NotTheAppellant"
        if self.now > d.deadline:
            return "DeadlinePassed"
        self._to_court(d, "appeal", sender)

    def escalate(self, d: ModelDeal, sender):
        if d.status != Status.COMPLETED:
            return "UnexpectedStatus"
        if not d.validating:
            return "InvalidValidationScheme"
        if self.now <= d.deadline:
            return "DeadlineNotReached"
        self._to_court(d, "escalate", None)

    def _to_court(self, d: ModelDeal, how: str, bonded_by: str | None):
        d.status, d.deadline, d.to_court = Status.DISPUTED, self.now + COURT_WINDOW, how
        if bonded_by:
            self._lock(bonded_by, d.bond, pull=True)
            d.locked += d.bond

    def _rule(self, d: ModelDeal, approved: bool):
        """Price and collateral to the winner; the court is paid one bond: the disputant's if it confirms the
        validator (or, optimistic, always), else the validator's stake (its fee back to the client, the
        appellant's bond back)."""
        winner = "provider" if approved else "client"
        moves = [(winner, d.price + d.collateral), ("court", d.bond)]
        if d.validating:
            if d.verdict == (Verdict.APPROVED if approved else Verdict.REJECTED):
                moves.append(("validator", d.fee + d.bond))
            else:
                moves.append(("client", d.fee))
                if d.verdict != Verdict.NONE:
                    moves.append((appellant(d), d.bond))
        self._close(d, Status.SETTLED if approved else Status.SLASHED, _paying(*moves))

    # termination

    def settle(self, d: ModelDeal, sender):
        if d.status == Status.COMPLETED:
            if d.validating:
                return "VerdictMissing"
            if self.now <= d.deadline:
                return "DeadlineNotReached"
            self._pay_provider(d)
        elif d.status == Status.JUDGED:
            if self.now <= d.deadline:
                return "DeadlineNotReached"
            approved = d.verdict == Verdict.APPROVED
            winner = "provider" if approved else "client"
            self._close(d, Status.SETTLED if approved else Status.SLASHED,
                        _paying((winner, d.price + d.collateral), ("validator", d.fee + d.bond)))
        else:
            return "UnexpectedStatus"

    def claim_timeout(self, d: ModelDeal, sender):
        if d.status == Status.DISPUTED:
            if self.now <= d.deadline:
                return "DeadlineNotReached"
            # The court did not rule: everyone gets back what it locked.
            bond_back = (appellant(d), d.bond) if d.to_court in ("dispute", "appeal") else ("court", 0)
            self._close(d, Status.UNWOUND, _paying(("client", d.price + d.fee), ("provider", d.collateral),
                                                   ("validator", d.bond if d.validating else 0), bond_back))
            return
        if d.status not in (Status.AGREED, Status.COMMENCED):
            return "UnexpectedStatus"
        if self.now <= d.deadline:
            return "DeadlineNotReached"
        self._slash(d)

    def abort(self, d: ModelDeal, sender):
        # Before acceptance the deal names no provider, so nobody is it.
        if sender != "provider" or d.status in (Status.NONE, Status.CANCELLED):
            return "NotTheProvider"
        if d.status not in (Status.AGREED, Status.COMMENCED):
            return "UnexpectedStatus"
        self._slash(d)

    def _client_approves(self, d: ModelDeal):
        """The client bought the validator's check when it named it: approving first still pays the fee."""
        self._close(d, Status.SETTLED, _paying(("provider", d.price + d.collateral), ("validator", d.fee + d.bond)))

    def _pay_provider(self, d: ModelDeal):
        """Paid without a verdict: a validator deal's fee goes back to the client and the stake to the validator."""
        self._close(d, Status.SETTLED, _paying(("provider", d.price + d.collateral), ("client", d.fee),
                                               ("validator", d.bond)))

    def _slash(self, d: ModelDeal):
        self._close(d, Status.SLASHED, _paying(("client", d.price + d.collateral + d.fee), ("validator", d.bond)))

    def _close(self, d: ModelDeal, outcome: Status, payouts: dict[str, int]):
        assert sum(payouts.values()) == d.locked, f"the model pays out {payouts}, not the {d.locked} locked"
        for who, amount in payouts.items():
            self.available[who] += amount
        d.locked = 0
        d.status = outcome

    # who the model expects to send each message, for the "right" sender draw

    @staticmethod
    def funder(d: ModelDeal) -> str:
        return "provider" if d.status == Status.AWAITING_COLLATERAL else "client"

    @staticmethod
    def waiting(d: ModelDeal) -> str:
        return "client" if d.status == Status.AWAITING_COLLATERAL else "provider"


def appellant(d: ModelDeal) -> str:
    """Who took (or may take) the deal to the court with a bond: the optimistic client, or the party the
    validator's verdict went against."""
    return "provider" if d.verdict == Verdict.REJECTED else "client"


def judge(d: ModelDeal) -> str:
    """Who judges a completed result: the validator, or (approving) the optimistic client."""
    return "validator" if d.validating else "client"


def resolve(sender: str, right: str) -> str:
    return right if sender == "right" else sender


def current_deadline(d: ModelDeal) -> int:
    """An open request times out at its offer deadline; an agreed deal at the deadline of its status."""
    return d.request.offer_deadline if d.status == Status.NONE else d.deadline


# --- the agents' table of the scheme --------------------------------------------------------------


def _party_matches(party: Party, sender: str, d: ModelDeal) -> bool:
    return {
        Party.CLIENT: sender == "client",
        Party.PROVIDER: sender == "provider",
        Party.EITHER: sender in ("client", "provider"),
        Party.VALIDATOR: sender == "validator" and d.validating,
        Party.APPELLANT: sender == appellant(d),
        Party.COURT: sender == "court",
        Party.ANYONE: True,
    }[party]


def _timing_matches(timing: Timing, now: int, deadline: int) -> bool:
    return timing == Timing.ANY_TIME or (now <= deadline) == (timing == Timing.BEFORE_DEADLINE)


def assert_in_scheme_table(message: Performative, sender, source: Status, target: Status, now, deadline, d):
    """A transition the contract made must be one the agents' protocol table lists."""
    assert any(
        t.message == message and t.source == source and target in t.targets
        and _party_matches(t.sender, sender, d) and _timing_matches(t.timing, now, deadline)
        for t in SCHEME
    ), f"contract allowed {message.value} by {sender} {source.name}->{target.name}, absent from agents.protocol.SCHEME"


# --- the chain ------------------------------------------------------------------------------------


@dataclass
class Env:
    """Handles the machine needs, set from the fixtures before it runs."""

    chain: object
    market: object
    token: object
    eas: object
    transactor: object
    accounts: dict  # actor -> Ape account
    clients: dict  # actor -> MarketClient (for local signing)
    domain: Domain


class ChainReader:
    """Everything the invariants compare, in one JSON-RPC batch per step."""

    def __init__(self, env: Env):
        self.web3 = env.chain.provider.web3
        self.market, self.token = env.market.address, env.token.address
        self.addresses = {actor: account.address for actor, account in env.accounts.items()}
        # The Deal struct's layout from the compiled ABI, so that fields are read by name.
        get_deal = next(abi for abi in env.market.contract_type.view_methods if abi.name == "getDeal")
        fields = get_deal.outputs[0].components
        self.deal_fields = [f.name for f in fields]
        self.deal_types = [f.canonical_type for f in fields]

    def _call(self, to, signature, *args_types_values):
        types = [t for t, _ in args_types_values]
        values = [v for _, v in args_types_values]
        data = keccak(text=signature)[:4] + abi_encode(types, values)
        return ("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])

    def read(self, deal_ids):
        calls = [
            self._call(self.token, "balanceOf(address)", ("address", self.market)),
            self._call(self.market, "totalOwed(address)", ("address", self.token)),
        ]
        for address in self.addresses.values():
            calls.append(self._call(self.market, "available(address,address)", ("address", self.token),
                                    ("address", address)))
            calls.append(self._call(self.token, "balanceOf(address)", ("address", address)))
        calls += [self._call(self.market, "getDeal(bytes32)", ("bytes32", d)) for d in deal_ids]
        results = [bytes.fromhex(r["result"][2:]) for r in self.web3.provider.make_batch_request(calls)]
        ints = [int.from_bytes(r, "big") for r in results[: 2 + 2 * len(self.addresses)]]
        available = dict(zip(self.addresses, ints[2::2]))
        wallet = dict(zip(self.addresses, ints[3::2]))
        deals = {
            d: dict(zip(self.deal_fields, abi_decode(self.deal_types, r)))
            for d, r in zip(deal_ids, results[2 + 2 * len(self.addresses):])
        }
        return ints[0], ints[1], available, wallet, deals


# --- the machine ----------------------------------------------------------------------------------

DEAL_MESSAGES = ("fund", "collateral_missing", "commence", "complete", "approve", "verdict", "ruling", "dispute",
                 "appeal", "escalate", "settle", "claim_timeout", "abort", "cancel_request")
# The validation attestations: who must attest each, and the message the contract takes it for.
ATTESTED_VERDICTS = {"approve": Performative.APPROVE, "verdict": Performative.VERDICT, "ruling": Performative.RULING}
WINDOWS = st.integers(1, 300)
FUNDING = (Status.AWAITING_COLLATERAL, Status.AWAITING_PAYMENT)
# Mostly the right attestation reference, sometimes none, the one before it, or another deal's.
REFERENCES = st.sampled_from(("right", "right", "right", "none", "previous", "other"))
RECIPIENT_RIGHT = st.sampled_from((True, True, True, False))
BONDS = st.integers(1, 60)
# (stage, validator scheme (None: either), the move made on the deadline or one second past it, and a variant: a
# judged deal's verdict rejects, a disputed validator deal got there by escalation rather than by appeal)
AT_DEADLINE = (
    (Status.NONE, None, "offer expiry", False), (Status.NONE, None, "request deadline", False),
    (Status.AWAITING_COLLATERAL, None, "fund", False), (Status.AWAITING_COLLATERAL, None, "collateral_missing", False),
    (Status.AGREED, None, "commence", False), (Status.AGREED, None, "claim_timeout", False),
    (Status.COMMENCED, None, "complete", False), (Status.COMMENCED, None, "claim_timeout", False),
    (Status.COMPLETED, False, "approve", False), (Status.COMPLETED, False, "dispute", False),
    (Status.COMPLETED, False, "settle", False), (Status.COMPLETED, True, "verdict", False),
    (Status.COMPLETED, True, "escalate", False), (Status.COMPLETED, True, "settle", False),
    (Status.JUDGED, True, "appeal", False), (Status.JUDGED, True, "settle", False),
    (Status.JUDGED, True, "appeal", True), (Status.JUDGED, True, "settle", True),
    (Status.DISPUTED, False, "ruling", False), (Status.DISPUTED, False, "claim_timeout", False),
    (Status.DISPUTED, True, "ruling", False), (Status.DISPUTED, True, "claim_timeout", False),
    (Status.DISPUTED, True, "ruling", True), (Status.DISPUTED, True, "claim_timeout", True),
)
# (stage, validator scheme (None: either), a move made before the deadline)
WRONG_MOVES = (
    (Status.NONE, None, "cancel_request"), (Status.AWAITING_COLLATERAL, None, "fund"),
    (Status.AWAITING_COLLATERAL, None, "collateral_missing"),
    (Status.AGREED, None, "abort"), (Status.AGREED, None, "claim_timeout"),
    (Status.COMMENCED, None, "abort"), (Status.COMMENCED, None, "claim_timeout"),
    (Status.COMPLETED, False, "settle"), (Status.COMPLETED, True, "settle"), (Status.COMPLETED, None, "dispute"),
    (Status.COMPLETED, None, "escalate"), (Status.JUDGED, True, "appeal"), (Status.JUDGED, True, "settle"),
    (Status.DISPUTED, None, "claim_timeout"), (Status.DISPUTED, None, "abort"),
)
# (stage, validator scheme (None: either), the one thing wrong with the attestation the stage calls for)
_WORK_FAULTS = ("attester", "recipient", "reference", "late")
_JUDGING_FAULTS = ("attester", "recipient", "reference", "late", "client rejects")
WRONG_ATTESTATIONS = (
    *((Status.AGREED, None, fault) for fault in _WORK_FAULTS),
    *((Status.COMMENCED, None, fault) for fault in _WORK_FAULTS),
    *((Status.COMPLETED, False, fault) for fault in _JUDGING_FAULTS),  # the client's approval
    *((Status.COMPLETED, True, fault) for fault in _JUDGING_FAULTS),  # the validator's verdict
    (Status.JUDGED, True, "second verdict"),
    *((Status.DISPUTED, False, fault) for fault in ("attester", "recipient", "reference", "stale reference", "late")),
    *((Status.DISPUTED, True, fault) for fault in ("attester", "stale reference", "late")),  # the court's ruling
)


def natural_message(d: ModelDeal) -> str:
    """The message the deal's status calls for."""
    return {
        Status.NONE: "cancel_request", Status.AWAITING_COLLATERAL: "fund", Status.AWAITING_PAYMENT: "fund",
        Status.AGREED: "commence", Status.COMMENCED: "complete", Status.JUDGED: "appeal", Status.DISPUTED: "ruling",
        Status.COMPLETED: "verdict" if d.validating else "approve",
    }.get(d.status, "settle")


class SchemeMachine(RuleBasedStateMachine):
    env: Env  # set by the test below

    requests = Bundle("requests")  # deal ids
    offers = Bundle("offers")  # ModelOffers

    _nonces = itertools.count(10**9)  # clear of the nonces other tests use

    def __init__(self):
        super().__init__()
        env = self.env
        self.snapshot = env.chain.snapshot()  # restored in teardown: every example starts the same
        self.reader = ChainReader(env)
        head = env.chain.blocks.head.timestamp
        _, _, available, wallet, _ = self.reader.read([])
        self.model = Model(now=head + 1, available=available, wallet=wallet)
        self.offers_made: dict[bytes, list[ModelOffer]] = {}  # per deal, for `progress` to accept
        self.closed: dict[bytes, Status] = {}

    def teardown(self):
        self.env.chain.restore(self.snapshot)

    # sending and comparing

    def _send(self, method, *args, sender: str):
        """Mine `method(*args)` from `sender` at the model's time; return (receipt, error name or None)."""
        self.env.chain.provider.make_request("evm_setNextBlockTimestamp", [self.model.now])
        receipt, error = self.env.transactor.send(method, *args, sender=self.env.accounts[sender])
        return receipt, (error[0] if error else None)

    def _deal_message(self, message: Performative, deal_id, sender, predict, method, *args, in_table=True,
                      label=None):
        """Send a message about one deal and compare with the model's verdict `predict()` (which applies
        the message to the model when it should go through); cross-check the agents' scheme table. The
        outcome is recorded under `label` (the message's name unless given), and a transition under the
        message's name with its source and target status."""
        d = self.model.deals[deal_id]
        source, deadline, how = d.status, current_deadline(d), d.to_court
        expected = predict()
        receipt, actual = self._send(method, *args, sender=sender)
        record(f"{label or message.value}: {actual or 'ok'}")
        assert actual == expected, (
            f"{message.value} by {sender} on {source.name}: model expected {expected or 'success'}, "
            f"chain gave {actual or 'success'}"
        )
        if actual is None and in_table:
            self._moved(message, sender, source, deadline, how, d)
        return receipt

    def _moved(self, message: Performative, sender, source: Status, deadline, how, d: ModelDeal):
        """A message went through: record its transition and check it against the agents' scheme table."""
        if d.status != source:
            record(f"{message.value} {source.name}->{d.status.name}")
            if message == Performative.RULING:
                record(f"ruling after {how}")
            elif message == Performative.APPEAL:
                record(f"appeal by {sender}")
        assert_in_scheme_table(message, sender, source, d.status, self.model.now, deadline, d)

    # the messages, shared by the noisy rules and by `progress`

    def _offer(self, deal_id, signer, sender, price, collateral, expiry, round_=0) -> ModelOffer:
        d = self.model.deals[deal_id]
        terms = Offer(deal_id=deal_id, provider=self.env.accounts["provider"].address, price=price,
                      collateral=collateral, expiry=expiry, round=round_)
        o = ModelOffer(terms, signer, self.env.clients[signer].sign(terms), typed_hash(self.env.domain, terms))
        # Broadcasting moves no deal (and offers follow their own expiry, not the request's deadline).
        self._deal_message(Performative.OFFER, deal_id, sender, lambda: self.model.offer(d, o, sender),
                           self.env.market.offer, terms.as_tuple(), o.signature, in_table=False)
        self.offers_made.setdefault(deal_id, []).append(o)
        return o

    def _accept(self, o: ModelOffer, sender):
        d = self.model.deals[o.offer.deal_id]
        self._deal_message(Performative.ACCEPT, o.offer.deal_id, sender, lambda: self.model.accept(d, o, sender),
                           self.env.market.accept, d.request.as_tuple(), o.offer.as_tuple(), o.signature)

    def _stake(self, d: ModelDeal):
        """An honest validator keeps its stake in the escrow before a deal naming it is accepted."""
        shortfall = d.request.bond - self.model.available["validator"]
        if d.validating and shortfall > 0:
            assert self.model.deposit("validator", shortfall) is None
            _, actual = self._send(self.env.market.deposit, self.env.token.address, shortfall, sender="validator")
            assert actual is None

    def _reference(self, choice: str, d: ModelDeal) -> bytes:
        """The reference an attestation carries: the right one, none, the deal's one before the right one,
        or another deal's latest link."""
        if choice == "none":
            return ZERO_BYTES32
        if choice == "previous" and d.previous_attestation != ZERO_BYTES32:
            return d.previous_attestation
        if choice == "other":
            others = [o.last_attestation for o in self.model.deals.values()
                      if o.last_attestation not in (ZERO_BYTES32, d.last_attestation)]
            if others:
                return others[0]
        return ZERO_BYTES32 if d.status in (Status.NONE, Status.AGREED) else d.last_attestation

    def _uid(self, receipt) -> bytes:
        eas = self.env.eas.address.lower()
        logs = [log for log in receipt["logs"] if log["address"].lower() == eas and log["topics"][0] == ATTESTED_TOPIC]
        assert len(logs) == 1
        return bytes(logs[0]["data"][:32])

    def _attest_work(self, message: Performative, deal_id, attester, right_recipient, ref_choice):
        """Commencement or completion: the model predicts; on success the new link's uid comes from EAS."""
        d = self.model.deals[deal_id]
        recipient = "client" if right_recipient else "stranger"
        ref = self._reference(ref_choice, d)
        recipient_address = self.env.accounts[recipient].address
        if message == Performative.COMMENCE:
            request = commencement(self.env.market, deal_id, recipient_address, ref=ref)
            check = self.model.commence
        else:
            request = completion(self.env.market, deal_id, recipient_address, ref)
            check = self.model.complete
        source, deadline = d.status, current_deadline(d)
        expected = check(d, attester, recipient, ref)
        receipt = self._deal_message(message, deal_id, attester, lambda: expected, self.env.eas.attest, request,
                                     in_table=False)
        if expected is None:
            self.model.attested(d, self._uid(receipt))
            self._moved(message, attester, source, deadline, None, d)

    def _validate(self, kind: str, deal_id, attester, approved, right_recipient, ref_choice):
        """A validation attestation sent as `kind` (approve, verdict or ruling) by `attester`."""
        d = self.model.deals[deal_id]
        recipient = "provider" if right_recipient else "client"
        ref = self._reference(ref_choice, d)
        request = validation(self.env.market, deal_id, self.env.accounts[recipient].address, ref, approved)
        label = None
        if kind == "approve" and not approved:  # the client's rejection: never an attestation
            label = "client rejects for a validator" if d.validating else "client rejects"
        outcome = []  # the model's, kept to return

        def predict():
            outcome.append(self.model.validate(d, attester, recipient, ref, approved))
            return outcome[0]

        receipt = self._deal_message(ATTESTED_VERDICTS[kind], deal_id, attester, predict, self.env.eas.attest,
                                     request, label=label)
        if outcome[0] is None and d.status == Status.JUDGED:
            self.model.attested(d, self._uid(receipt))  # the verdict is the link the court rules on
        return outcome[0]

    def _simple(self, kind: str, deal_id, sender):
        """The messages that take only the deal id (or the request) and a sender."""
        d, market, model = self.model.deals[deal_id], self.env.market, self.model
        request = (d.request.as_tuple(),)
        message, predict, method, args = {
            "fund": (Performative.FUND, model.fund, market.fund, (deal_id,)),
            "collateral_missing": (Performative.COLLATERAL_MISSING, model.collateral_missing,
                                   market.collateralMissing, (deal_id,)),
            "settle": (Performative.SETTLE, model.settle, market.settle, (deal_id,)),
            "claim_timeout": (Performative.CLAIM_TIMEOUT, model.claim_timeout, market.claimTimeout, (deal_id,)),
            "abort": (Performative.ABORT, model.abort, market.abort, (deal_id,)),
            "cancel_request": (Performative.CANCEL_REQUEST, model.cancel_request, market.cancelRequest, request),
            "dispute": (Performative.DISPUTE, model.dispute, market.dispute, request),
            "appeal": (Performative.APPEAL, model.appeal, market.appeal, (deal_id,)),
            "escalate": (Performative.ESCALATE, model.escalate, market.escalate, (deal_id,)),
        }[kind]
        self._deal_message(message, deal_id, sender, lambda: predict(d, sender), method, *args)

    def _send_kind(self, kind: str, deal_id, sender, approved=True, right_recipient=True, ref="right"):
        if kind in ("commence", "complete"):
            message = Performative.COMMENCE if kind == "commence" else Performative.COMPLETE
            self._attest_work(message, deal_id, sender, right_recipient, ref)
        elif kind in ATTESTED_VERDICTS:
            self._validate(kind, deal_id, sender, approved, right_recipient, ref)
        else:
            self._simple(kind, deal_id, sender)

    def _right_sender(self, kind: str, d: ModelDeal) -> str:
        return {
            "fund": Model.funder(d), "collateral_missing": Model.waiting(d), "commence": "provider",
            "complete": "provider", "approve": "client", "verdict": "validator", "ruling": "court",
            "dispute": "client", "appeal": appellant(d), "escalate": "stranger", "settle": "stranger",
            "claim_timeout": "stranger", "abort": "provider", "cancel_request": "client",
        }[kind]

    # rules: negotiation

    @rule(target=requests, sender=SENDERS, validator_scheme=st.booleans(),
          max_price=st.integers(1, 1_000), min_collateral=st.integers(0, 400), open_for=st.integers(0, 3_000),
          commence_within=st.integers(1, 600), job_duration=st.integers(1, 600),
          validation_window=st.integers(1, 600), fee=st.integers(0, 50), bond=BONDS)
    def request(self, sender, validator_scheme, max_price, min_collateral, open_for, commence_within, job_duration,
                validation_window, fee, bond):
        env = self.env
        req = Request(
            client=env.accounts["client"].address, token=env.token.address, max_price=max_price,
            min_collateral=min_collateral, offer_deadline=self.model.now + open_for,
            commence_within=commence_within, job_duration=job_duration, validation_window=validation_window,
            scheme=ValidationScheme.VALIDATOR if validator_scheme else ValidationScheme.OPTIMISTIC,
            validator=env.accounts["validator"].address if validator_scheme else ZERO_ADDRESS,
            validator_fee=fee if validator_scheme else 0, bond=bond, spec_hash=SPEC_HASH, nonce=next(self._nonces),
        )
        deal_id = typed_hash(env.domain, req)
        self.model.deals[deal_id] = d = ModelDeal(req)
        sender = resolve(sender, "client")
        self._deal_message(Performative.REQUEST, deal_id, sender, lambda: self.model.request(d, sender),
                           env.market.request, req.as_tuple(), "spec", [])
        return deal_id  # known terms can be accepted whether or not the broadcast went through

    @rule(target=offers, deal_id=requests, signer=st.sampled_from(("provider", "provider", "client", "stranger")),
          sender=SENDERS, fit=st.booleans(), price=st.integers(0, 1_200), collateral=st.integers(0, 600),
          expires_in=st.integers(-2, 400), round_=st.integers(0, 3))
    def offer(self, deal_id, signer, sender, fit, price, collateral, expires_in, round_):
        d = self.model.deals[deal_id]
        if fit:  # terms within the request's limits, so that acceptance is reachable
            price = 1 + price % d.request.max_price
            collateral = d.request.min_collateral + collateral
        return self._offer(deal_id, signer, resolve(sender, signer), price, collateral, self.model.now + expires_in,
                           round_)

    @rule(o=offers, sender=SENDERS)
    def cancel_offer(self, o, sender):
        sender = resolve(sender, o.signer)
        _, actual = self._send(self.env.market.cancelOffer, o.offer.as_tuple(), sender=sender)
        assert actual is None, f"cancelOffer by {sender}: {actual}"
        self.model.cancel_offer(o, sender)

    @rule(o=offers, sender=SENDERS)
    def accept(self, o, sender):
        # The right acceptor is the other side of the signer.
        self._accept(o, resolve(sender, "client" if o.signer == "provider" else "provider"))

    # rules: any message about a deal, from anyone

    @rule(deal_id=requests, kind=st.sampled_from(("natural",) * 4 + DEAL_MESSAGES), sender=SENDERS,
          approved=st.booleans(), right_recipient=RECIPIENT_RIGHT, ref=REFERENCES)
    def deal_message(self, deal_id, kind, sender, approved, right_recipient, ref):
        """`natural` is the message the deal's status calls for, so that wrong senders, recipients,
        references and times are tried where they matter most."""
        d = self.model.deals[deal_id]
        if kind == "natural":
            kind = natural_message(d)
        sender = resolve(sender, self._right_sender(kind, d))
        self._send_kind(kind, deal_id, sender, approved, right_recipient, ref)

    # rule: the deal's next steps as honest agents would take them (so that deep states are reached)

    @rule(deal_id=requests, messages=st.integers(1, 6), approved=st.booleans(), counter=st.booleans(),
          contest=st.booleans())
    def progress(self, deal_id, messages, approved, counter, contest):
        for _ in range(messages):
            if not self._step(deal_id, approved, counter, contest):
                return
            self.chain_agrees_with_model()

    def _step(self, deal_id, approved=True, counter=False, contest=False) -> bool:
        """The deal's next message as honest agents would send it; False when nothing is left to do.
        `approved`: the result is good (the client approves, the validator and the court agree); `contest`:
        the client of an optimistic deal disputes, the party a verdict went against appeals, a validator stays
        silent (its deal is escalated once the window passed)."""
        d = self.model.deals[deal_id]
        now, deadline = self.model.now, current_deadline(d)
        if d.status in TERMINAL_STATUSES or (d.status == Status.NONE and now > deadline):
            return False
        if d.status == Status.NONE:
            # Accept the latest live offer made on it (a counter-offer if the client signed), else make one.
            made = [o for o in self.offers_made.get(deal_id, []) if o.offer.expiry >= now]
            if made and made[-1].signer in ("client", "provider"):
                o = made[-1]
                self._stake(d)
                self._accept(o, "client" if o.signer == "provider" else "provider")
            else:
                signer, req = ("client" if counter else "provider"), d.request
                self._offer(deal_id, signer, signer, req.max_price, req.min_collateral, now + 300)
        elif now > deadline:  # past a deadline anyone moves the deal on
            kind = {Status.COMPLETED: "escalate" if d.validating else "settle", Status.JUDGED: "settle",
                    Status.AGREED: "claim_timeout", Status.COMMENCED: "claim_timeout",
                    Status.DISPUTED: "claim_timeout"}
            self._simple(kind.get(d.status, "collateral_missing"), deal_id, "stranger")
        elif d.status in FUNDING:
            self._simple("fund", deal_id, Model.funder(d))
        elif d.status == Status.AGREED:
            self._attest_work(Performative.COMMENCE, deal_id, "provider", True, "right")
        elif d.status == Status.COMMENCED:
            self._attest_work(Performative.COMPLETE, deal_id, "provider", True, "right")
        elif d.status == Status.COMPLETED and d.validating:
            if contest:  # silent: the window passes
                self.model.now = deadline + 1
                self._simple("escalate", deal_id, "stranger")
            else:
                self._validate("verdict", deal_id, "validator", approved, True, "right")
        elif d.status == Status.COMPLETED:
            if contest:
                self._simple("dispute", deal_id, "client")
            elif approved:
                self._validate("approve", deal_id, "client", True, True, "right")
            else:  # silence pays
                self.model.now = deadline + 1
                self._simple("settle", deal_id, "stranger")
        elif d.status == Status.JUDGED:
            if contest:
                self._simple("appeal", deal_id, appellant(d))
            else:
                self.model.now = deadline + 1
                self._simple("settle", deal_id, "stranger")
        else:  # disputed: the court rules
            self._validate("ruling", deal_id, "court", approved, True, "right")
        return True

    def _fresh_deal(self, validator_scheme: bool, window: int, bond: int = 10) -> bytes:
        """A new request with room to negotiate, every deadline `window` seconds long."""
        env = self.env
        req = Request(
            client=env.accounts["client"].address, token=env.token.address, max_price=100, min_collateral=10,
            offer_deadline=self.model.now + 1_000, commence_within=window, job_duration=window,
            validation_window=window,
            scheme=ValidationScheme.VALIDATOR if validator_scheme else ValidationScheme.OPTIMISTIC,
            validator=env.accounts["validator"].address if validator_scheme else ZERO_ADDRESS,
            validator_fee=7 if validator_scheme else 0, bond=bond, spec_hash=SPEC_HASH, nonce=next(self._nonces),
        )
        deal_id = typed_hash(env.domain, req)
        self.model.deals[deal_id] = d = ModelDeal(req)
        self._deal_message(Performative.REQUEST, deal_id, "client", lambda: self.model.request(d, "client"),
                           env.market.request, req.as_tuple(), "spec", [])
        return deal_id

    def _bring_to(self, stage: Status, validator_scheme: bool, window: int, approved: bool = True,
                  silent: bool = False) -> ModelDeal | None:
        """A new deal moved honestly until it reaches `stage` (for the funding stage the provider's account
        is emptied first, so that the client's acceptance waits for collateral); None if it cannot. A judged
        deal has a validator, whose verdict is `approved`; a disputed validator deal got there by the appeal of
        that verdict, or by escalation if the validator was `silent`."""
        unfunded = stage in FUNDING
        validator_scheme = validator_scheme or stage == Status.JUDGED
        deal_id = self._fresh_deal(validator_scheme, window)
        d = self.model.deals[deal_id]
        if unfunded and self.model.available["provider"]:
            self._withdraw_all("provider")
        for _ in range(8):
            if d.status == stage or (unfunded and d.status in FUNDING):
                return d
            contest = stage == Status.DISPUTED and (silent or d.status != Status.COMPLETED or not d.validating)
            if not self._step(deal_id, approved, contest=contest):
                return None
        return None

    def _withdraw_all(self, who: str):
        amount = self.model.available[who]
        expected = self.model.withdraw(who, amount)
        _, actual = self._send(self.env.market.withdraw, self.env.token.address, amount, sender=who)
        assert actual == expected

    def _deal_id(self, d: ModelDeal) -> bytes:
        return next(k for k, v in self.model.deals.items() if v is d)

    # rules: escrow and time (once there is a deal to use them on)

    @precondition(lambda self: self.model.deals)
    @rule(who=st.sampled_from(ACTORS), deposit=st.booleans(), amount=st.integers(0, 1_500), everything=st.booleans())
    def escrow(self, who, deposit, amount, everything):
        if deposit:
            expected = self.model.deposit(who, amount)
            _, actual = self._send(self.env.market.deposit, self.env.token.address, amount, sender=who)
        else:
            amount = self.model.available[who] if everything else amount
            expected = self.model.withdraw(who, amount)
            _, actual = self._send(self.env.market.withdraw, self.env.token.address, amount, sender=who)
        what = "deposit" if deposit else "withdraw"
        assert actual == expected, f"{what} {amount} by {who}: model expected {expected}, chain gave {actual}"

    @rule(deal_id=requests, to_deadline=st.booleans(), past=st.booleans(), seconds=st.integers(1, 200))
    def wait(self, deal_id, to_deadline, past, seconds):
        """Let time pass, or stand exactly on a deal's current deadline or one second past it, where
        off-by-ones live."""
        if to_deadline:
            self.model.now = max(self.model.now, current_deadline(self.model.deals[deal_id]) + past)
        else:
            self.model.now += seconds

    # rules: the scheme's rules where they bite

    # The targeted rules: random draws of the cases that `sweep` also runs one by one.
    @rule(cases=st.lists(st.tuples(st.sampled_from(AT_DEADLINE), st.booleans()), min_size=1,
                         max_size=2),
          approved=st.booleans(), validator_scheme=st.booleans(), window=WINDOWS)
    def at_deadline(self, cases, approved, validator_scheme, window):
        """For each case: bring a new deal to a stage, stand exactly on its deadline or one second past it, and
        make a move the status allows: a party's own (allowed up to the deadline) or a stranger's time-out (only
        after; settling a validator deal never: the validator owes a verdict). Before agreement: accepting on the
        request's offer deadline, or on the offer's expiry (a validator that withdrew its stake, unless
        `approved`, makes it fail)."""
        for (stage, scheme, kind, variant), past in cases:
            self._at_deadline(stage, validator_scheme if scheme is None else scheme, kind, past,
                              not variant if stage == Status.JUDGED else approved, variant, window)

    def _at_deadline(self, stage, validator_scheme, kind, past, approved, silent, window):
        d = self._bring_to(stage, validator_scheme, window, approved, silent)
        if d is None:
            return
        deal_id = self._deal_id(d)
        if d.status == Status.NONE:
            if kind == "offer expiry":  # an offer that expires before the request does
                o = self._offer(deal_id, "provider", "provider", 50, 10, self.model.now + window)
                self.model.now = o.offer.expiry + past
            else:
                o = self._offer(deal_id, "provider", "provider", 50, 10, d.request.offer_deadline + 10)
                self.model.now = d.request.offer_deadline + past
            record(f"at deadline{' + 1' if past else ''}")
            if approved:
                self._stake(d)
            elif d.validating and self.model.available["validator"]:
                self._withdraw_all("validator")
            self._accept(o, "client")
            return
        self.model.now = max(self.model.now, d.deadline + past)
        record(f"at deadline{' + 1' if past else ''}")
        sender = "stranger" if kind == "collateral_missing" else self._right_sender(kind, d)
        self._send_kind(kind, deal_id, sender, approved)

    @rule(cases=st.lists(st.sampled_from(WRONG_ATTESTATIONS), min_size=1, max_size=2),
          approved=st.booleans(), silent=st.booleans(), window=WINDOWS)
    def wrong_attestation(self, cases, approved, silent, window):
        """For each case: bring a new deal to a stage and send the attestation it calls for, with exactly one
        thing wrong. A judged deal calls for none: the validator's second verdict is refused."""
        for stage, validator_scheme, fault in cases:
            self._wrong_attestation(stage, validator_scheme, fault, approved, silent, window)

    def _wrong_attestation(self, stage, validator_scheme, fault, approved, silent, window):
        d = self._bring_to(stage, bool(validator_scheme), window, approved, silent)
        if d is None:
            return
        deal_id = self._deal_id(d)
        if fault == "late":
            self.model.now = max(self.model.now, d.deadline + 1)
        ref = {"reference": "none", "stale reference": "previous"}.get(fault, "right")
        if d.status == Status.AGREED and fault == "reference":
            ref = "other"  # a commencement must reference nothing: any existing attestation is wrong
            if self._reference("other", d) == ZERO_BYTES32:
                return
        right_recipient = fault != "recipient"
        if d.status in (Status.AGREED, Status.COMMENCED):
            attester = "client" if fault == "attester" else "provider"
            message = Performative.COMMENCE if d.status == Status.AGREED else Performative.COMPLETE
            self._attest_work(message, deal_id, attester, right_recipient, ref)
            return
        kind = "verdict" if d.status == Status.JUDGED else natural_message(d)
        attester = self._right_sender(kind, d)
        if fault == "attester":
            # Neither the judge nor the client approving; before the court, anyone but the court (its validator,
            # or a party to the deal).
            attester = {"approve": "provider" if approved else "stranger",
                        "verdict": "court" if approved else "provider",
                        "ruling": "validator" if approved else "client"}[kind]
        elif fault == "client rejects":
            kind, attester, approved = "approve", "client", False
        elif kind == "approve":
            approved = True  # the one thing wrong is the fault, not a rejection
        self._validate(kind, deal_id, attester, approved, right_recipient, ref)

    @rule(cases=st.lists(st.tuples(st.sampled_from(WRONG_MOVES),
                                   st.sampled_from(("right",) + ACTORS)), min_size=1, max_size=2),
          validator_scheme=st.booleans(), approved=st.booleans(), window=WINDOWS)
    def wrong_mover(self, cases, validator_scheme, approved, window):
        """For each case: before the deadline, a move that ends, funds or contests a new deal, from the party
        allowed to make it or from anyone else: fund (the funding party), collateralMissing (the party kept
        waiting), abort (the provider only), settle or escalate (no one: the window is still open, or a verdict
        is owed), dispute (the optimistic client only), appeal (only the party the verdict went against),
        claimTimeout (no one: the court has time left)."""
        for (stage, scheme, kind), by in cases:
            d = self._bring_to(stage, validator_scheme if scheme is None else scheme, window, approved)
            if d is not None and self.model.now <= current_deadline(d):
                self._simple(kind, self._deal_id(d), resolve(by, self._right_sender(kind, d)))

    # invariants

    @invariant()
    def chain_agrees_with_model(self):
        model = self.model
        deal_ids = list(model.deals)
        held, owed, available, wallet, deals = self.reader.read(deal_ids)
        # The escrow holds exactly what it owes: every free balance plus every open deal's funds.
        assert held == owed == sum(model.available.values()) + model.locked()
        assert available == model.available
        assert wallet == model.wallet
        for deal_id in deal_ids:
            d, chain_deal = model.deals[deal_id], deals[deal_id]
            status = Status(chain_deal["status"])
            assert status == d.status, f"deal {deal_id.hex()[:8]}: chain {status.name}, model {d.status.name}"
            if d.status not in (Status.NONE, Status.CANCELLED):
                chain_terms = tuple(chain_deal[k] for k in ("price", "collateral", "validatorFee", "bond", "deadline",
                                                            "verdict"))
                assert chain_terms == (d.price, d.collateral, d.fee, d.bond, d.deadline, d.verdict)
                assert chain_deal["lastAttestation"] == d.last_attestation
            if d.status in TERMINAL_STATUSES:
                assert d.locked == 0
                # Terminal states are absorbing.
                assert self.closed.setdefault(deal_id, status) == status


def sweep():
    """Every targeted case once, in order, on one run of the machine: each deadline move on and one second past
    its deadline, each wrong attestation, each early move by its right sender and by a stranger. Acceptance is
    tried with and without the validator's stake, the court rules both ways, and the moves that depend on the
    scheme are tried in both. The random run then mixes the same moves with everything else; this pass makes
    sure that none of them is left to chance."""
    machine = SchemeMachine()
    try:
        for n, ((stage, scheme, kind, variant), past) in enumerate(itertools.product(AT_DEADLINE, (False, True))):
            both = stage == Status.NONE or kind == "ruling"
            for approved in (True, False) if both else (True,):
                validator_scheme = bool(n % 2) != (not approved) if scheme is None else scheme
                machine.at_deadline([((stage, scheme, kind, variant), past)], approved, validator_scheme, window=60)
                machine.chain_agrees_with_model()
        for n, case in enumerate(WRONG_ATTESTATIONS):
            machine.wrong_attestation([case], approved=bool(n % 2), silent=False, window=60)
            machine.chain_agrees_with_model()
        for case, by in itertools.product(WRONG_MOVES, ("right", "stranger")):
            stage, scheme, kind = case
            for validator_scheme in (False, True) if scheme is None and stage == Status.COMPLETED else (bool(scheme),):
                machine.wrong_mover([(case, by)], validator_scheme, approved=True, window=60)
                machine.chain_agrees_with_model()
    finally:
        machine.teardown()


def install_market(chain, deployer, actors: dict) -> None:
    """A market of its own, whose court (the deployer) has a window as short as the deals' own, with every actor
    funded and approved, installed as the machines' environment (`SchemeMachine.env`)."""
    system = deploy_system(deployer, court_window=COURT_WINDOW)
    for account in actors.values():
        system.token.mint(account.address, FLOAT, sender=deployer)
        # Deposits and the pulls of accept, fund, dispute and appeal never lack allowance.
        system.token.approve(system.market.address, 2**256 - 1, sender=account)
    clients = {actor: MarketClient(system, account) for actor, account in actors.items()}
    SchemeMachine.env = Env(
        chain=chain, market=system.market, token=system.token, eas=system.eas,
        transactor=Transactor(chain.provider, system.market, system.eas, system.registry, system.token),
        accounts=actors, clients=clients, domain=clients["client"].domain,
    )


def test_scheme_matches_its_model(chain, deployer, accounts, client_account, provider_account, validator_account,
                                  stranger):
    """Drive the deployed contracts through every targeted case, then with random message sequences, and
    compare with the model."""
    snapshot = chain.snapshot()  # not chain.isolate(): it swallows the exceptions raised inside it
    try:
        install_market(chain, deployer, {"client": client_account, "provider": provider_account,
                                         "validator": validator_account, "court": deployer, "stranger": stranger})
        OUTCOMES.clear()
        sweep()
        run_state_machine_as_test(SchemeMachine, settings=SCHEME_MACHINE_SETTINGS)
    finally:
        chain.restore(snapshot)
    missing = [outcome for outcome in REQUIRED_OUTCOMES if not OUTCOMES[outcome]]
    assert not missing, f"never happened in {sum(OUTCOMES.values())} messages: {missing}; seen: {dict(OUTCOMES)}"
