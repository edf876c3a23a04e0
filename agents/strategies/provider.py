"""Provider policies: the deal lifecycle every provider shares, and the pricing that differs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agents.policy import Context, Notice, NoticeKind, Reply, ValidatorStanding
from agents.protocol import Message, Offer, Performative, Request, Status, ValidationScheme
from agents.strategies.costs import CostModel

# A validator whose record scores below this (verdicts overturned by the court or never given, against
# verdicts that stood) is not trusted with a provider's collateral. A newcomer scores the prior, 0.5.
MIN_VALIDATOR_SCORE = 0.5


def validator_objection(request: Request, standing: ValidatorStanding | None, me: str,
                        min_score: float = MIN_VALIDATOR_SCORE) -> str | None:
    """Why a provider should not offer on a validator-scheme request, or None if the validator passes.

    The validator judges the provider's work and an appeal to the court undoes a wrong verdict only at the
    cost of a bond and a delay, so the provider checks, from what the chain shows, that the validator is paid
    and independent and has something to lose:
    - it is paid: the request's fee is positive (an unpaid validator has no reason to re-run the job);
    - it is not a party: neither the client nor this provider;
    - it has the stake: its free escrow balance covers the bond it must lock at acceptance (an unfunded
      validator makes the acceptance revert, and a validator without a stake loses nothing by lying);
    - it is not linked to the client: the client never funded it, and the court never overturned one of
      its verdicts in the client's favour;
    - its record is good: its score (verdicts that stood against those overturned or missing) is at
      least `min_score`.
    `standing` is what the provider role read for the request (`perception["validator"]`); without it the
    validator is unknown and refused."""
    if request.scheme != ValidationScheme.VALIDATOR:
        return None
    if request.validator_fee <= 0:
        return "the validator is not paid"
    if request.validator in (request.client, me):
        return "the validator is a party to the deal"
    if standing is None:
        return "nothing is known of the validator"
    if standing.available < request.bond:
        return f"the validator's stake is not funded ({standing.available} available, {request.bond} needed)"
    if standing.linked_to_client:
        return "the validator is linked to the client"
    if standing.score < min_score:
        return f"the validator's record scores {standing.score:.2f} (overturned {standing.overturned})"
    return None


@dataclass
class QuotingProvider:
    """The lifecycle: answer requests it can serve (vetting the validator a request names), lock collateral
    when asked, commence once the client's payment is verified locked (collateral_missing otherwise), complete
    with the job's result, abort a job that failed, and appeal a validator's rejection of a result it knows is
    its own correct work. Subclasses set prices through `quote`."""

    cost_model: CostModel = field(default_factory=CostModel)
    offer_ttl: int = 120  # seconds an offer can be accepted
    max_rounds: int = 3
    min_margin: float = 0.05  # the least markup over cost it accepts in a counter-offer
    # Clients that dispute and lose pay the court their bond, but a client may still be more trouble than it
    # is worth (it leaves deals unfunded, it disputes): the provider stops serving clients whose record shows it.
    min_client_score: float = 0.3
    min_validator_score: float = MIN_VALIDATOR_SCORE

    # --- pricing (subclasses) -----------------------------------------------------------------------

    def quote(self, context: Context, floor: int) -> int | None:
        raise NotImplementedError

    def on_outcome(self, deal_id: bytes, won: bool) -> None:
        """Learning hook: whether an offer on `deal_id` was accepted."""

    # --- reactions ----------------------------------------------------------------------------------

    def floor(self, context: Context) -> int:
        request, spec = context.dialogue.request, context.spec
        return self.cost_model.job_cost(spec.estimated_seconds(), request.min_collateral, context,
                                        cores=spec.requirements.min_cores)

    def can_serve(self, context: Context) -> bool:
        spec, local = context.spec, context.local
        if spec is None:
            return False
        hardware = local.hardware
        if hardware is not None and not hardware.can_serve(spec.requirements.capacity):
            return False
        needed = spec.requirements.capacity
        return needed.fits_within(local.free_capacity) and local.free_funds >= context.dialogue.request.min_collateral

    def react(self, message: Message | Notice, context: Context) -> Reply | None:
        dialogue = context.dialogue
        if isinstance(message, Notice):
            return self._on_notice(message, context)
        p = message.performative
        if p == Performative.REQUEST:
            return self._first_offer(context)
        if p == Performative.OFFER and message.sender == dialogue.client and message.offer.provider == context.me:
            return self._answer_counter(message, context)
        if p == Performative.ACCEPT and dialogue.provider == context.me:
            self.on_outcome(dialogue.deal_id, True)
            return self._after_agreement(context)
        if p == Performative.ACCEPT:
            self.on_outcome(dialogue.deal_id, False)
        if p == Performative.FUND and dialogue.provider == context.me:
            return self._after_agreement(context)
        if p == Performative.VERDICT and dialogue.provider == context.me:
            return self._after_verdict(context)
        return None

    def owed_move(self, context: Context) -> Reply | None:
        """The move a provider owes on a deal of its own (re-asked every act, so a reply lost to an outage
        or a restart is sent again): lock awaited collateral, commence once payment is locked, or appeal a
        wrong rejection."""
        if context.dialogue.status == Status.JUDGED:
            return self._after_verdict(context)
        return self._after_agreement(context)

    def _after_verdict(self, context: Context) -> Reply | None:
        """A validator rejected a result the provider knows to be its own work (`dialogue.result_ok`): the
        court re-runs the job, so the appeal returns the bond and pays price and collateral."""
        dialogue = context.dialogue
        if dialogue.status == Status.JUDGED and dialogue.verdict is False and dialogue.result_ok:
            return Reply(Performative.APPEAL, dialogue.deal_id)
        return None

    def _after_agreement(self, context: Context) -> Reply | None:
        dialogue = context.dialogue
        if dialogue.status == Status.AWAITING_COLLATERAL:
            return Reply(Performative.FUND, dialogue.deal_id)
        if dialogue.status != Status.AGREED:
            return None  # awaiting the client's payment: the deadline duty gives up on it
        locked = context.perception.get("payment_locked")
        if locked is not None and not locked:
            return None  # the chain disagrees with the event: do not start work
        return Reply(Performative.COMMENCE, dialogue.deal_id)

    def _on_notice(self, notice: Notice, context: Context) -> Reply | None:
        dialogue = context.dialogue
        if dialogue is None:
            return None
        if notice.kind == NoticeKind.JOB_FINISHED and dialogue.status == Status.COMMENCED:
            return Reply(
                Performative.COMPLETE, dialogue.deal_id,
                result_hash=notice.payload["result_hash"], result_uri=notice.payload["result_uri"],
            )
        if notice.kind == NoticeKind.JOB_FAILED and dialogue.status in (Status.AGREED, Status.COMMENCED):
            return Reply(Performative.ABORT, dialogue.deal_id)
        return None

    def will_answer(self, context: Context) -> bool:
        """Whether a new request is one to price: it can serve it, and neither the client's record nor the
        validator it names rules it out."""
        if not self.can_serve(context):
            return False
        request = context.dialogue.request
        if context.client_reputation is not None and context.client_reputation(request.client) < self.min_client_score:
            return False
        return not validator_objection(request, context.perception.get("validator"), context.me,
                                       self.min_validator_score)

    def _first_offer(self, context: Context) -> Reply | None:
        if not self.will_answer(context):
            return None
        request = context.dialogue.request
        floor = self.floor(context)
        price = self.quote(context, floor)
        if price is None or price > request.max_price or price < 1:
            return None
        return self._offer(context, price, round_=0)

    def _answer_counter(self, message: Message, context: Context) -> Reply | None:
        dialogue = context.dialogue
        counter = message.offer
        floor = self.floor(context)
        if counter.price >= floor * (1 + self.min_margin) and counter.collateral >= dialogue.request.min_collateral:
            signed = dialogue.latest_offer(from_party=dialogue.client)
            # A client may pay from its wallet once accepted: the deal waits for its payment rather than the
            # acceptance reverting. One that never pays costs the provider its commencement window (its collateral
            # comes back with collateral_missing) and a mark on its record, and providers stop serving it.
            return Reply(
                Performative.ACCEPT, dialogue.deal_id, offer=signed.offer, signature=signed.signature,
                capacity=context.spec.requirements.capacity, await_signer=True,
            )
        if counter.round + 1 > self.max_rounds:
            return None
        mine = dialogue.latest_offer(from_party=context.me)
        anchor = mine.offer.price if mine else int(floor * (1 + 2 * self.min_margin))
        price = max(int(floor * (1 + self.min_margin)), (anchor + counter.price) // 2)
        return self._offer(context, min(price, dialogue.request.max_price), round_=counter.round + 1)

    def _offer(self, context: Context, price: int, round_: int) -> Reply:
        dialogue = context.dialogue
        request = dialogue.request
        expiry = min(request.offer_deadline, context.now + self.offer_ttl)
        offer = Offer(dialogue.deal_id, context.me, price, request.min_collateral, expiry, round_)
        return Reply(Performative.OFFER, dialogue.deal_id, offer=offer, capacity=context.spec.requirements.capacity)

    def act(self, context: Context) -> list[Reply]:
        return []


@dataclass
class CostPlusProvider(QuotingProvider):
    """Baseline: cost (gas, electricity, hardware amortisation, risk premium: `CostModel`) plus a fixed margin."""

    margin: float = 0.25

    def quote(self, context: Context, floor: int) -> int | None:
        return int(floor * (1 + self.margin))


@dataclass
class ThompsonPricingProvider(QuotingProvider):
    """Learns its markup from experience: one Beta posterior of "the offer is accepted" per markup level,
    Thompson sampling picks the level with the highest sampled expected profit."""

    markups: tuple[float, ...] = (0.05, 0.15, 0.3, 0.5, 0.8)
    seed: int = 0
    alpha: np.ndarray = field(init=False)
    beta: np.ndarray = field(init=False)
    _pending: dict[bytes, int] = field(default_factory=dict)

    def __post_init__(self):
        self.alpha = np.ones(len(self.markups))
        self.beta = np.ones(len(self.markups))
        self._rng = np.random.default_rng(self.seed)

    def quote(self, context: Context, floor: int) -> int | None:
        """Only markups whose price the request allows compete (its max price is public): a level priced out of the
        request would lose for certain and teach nothing. None if even the lowest is too dear."""
        sampled_acceptance = self._rng.beta(self.alpha, self.beta)
        markups = np.array(self.markups)
        allowed = floor * (1 + markups) <= context.dialogue.request.max_price
        if not allowed.any():
            return None
        expected_profit = np.where(allowed, sampled_acceptance * markups, -np.inf)
        arm = int(np.argmax(expected_profit))
        self._pending[context.dialogue.deal_id] = arm
        return int(floor * (1 + self.markups[arm]))

    def on_outcome(self, deal_id: bytes, won: bool) -> None:
        arm = self._pending.pop(deal_id, None)
        if arm is None:
            return
        if won:
            self.alpha[arm] += 1
        else:
            self.beta[arm] += 1

    def act(self, context: Context) -> list[Reply]:
        # Offers on requests that expired without any acceptance count as losses.
        open_ids = {d.deal_id for d in context.parallel}
        for deal_id in [d for d in self._pending if d not in open_ids]:
            self.on_outcome(deal_id, False)
        return []

    @property
    def acceptance_means(self) -> np.ndarray:
        return self.alpha / (self.alpha + self.beta)
