"""Client policies: a budget, a choice among parallel offers, counter-offers, and what to do about results."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.policy import Context, Notice, NoticeKind, Reply, RequestTerms
from agents.protocol import Message, Offer, Performative, Status, ValidationScheme
from agents.strategies.client_features import standing_offers, window_closing
from agents.strategies.costs import CLIENT_GAS_PER_DEAL, CostModel

# Invitation pools of the latest directory snapshots, shared by every client of the process (a market of thousands
# of clients reads the same snapshot): (id(listings), id(reputation), min cores, min RAM) -> (listings,
# reputation, pool), the first two kept so that their ids are not reused while the entry lives.
_INVITE_POOLS: OrderedDict = OrderedDict()
INVITE_POOLS_KEPT = 16


def invite_pool(listings: list, reputation, min_cores: int, min_ram_bytes: int) -> tuple[tuple[str, ...], np.ndarray]:
    """The listed providers that can run a job of these requirements, by address, with the cumulative weights of
    inviting them (reputation squared: the better known, the likelier). Listings and reputations are refreshed
    together (agents.knowledge.market, agents.simulation.model), so a pool holds until the listings change: the
    providers are ranked once per refresh, not once per job."""
    key = (id(listings), id(reputation), min_cores, min_ram_bytes)
    kept = _INVITE_POOLS.get(key)
    if kept is None:
        eligible = sorted(l.attester for l in listings
                          if l.profile.cpu_cores >= min_cores and l.profile.ram_bytes >= min_ram_bytes)
        scores = np.array([reputation(a) if reputation else 0.5 for a in eligible], dtype=float)
        kept = _INVITE_POOLS[key] = (listings, reputation, (tuple(eligible), np.cumsum(np.maximum(scores, 0.01) ** 2)))
        while len(_INVITE_POOLS) > INVITE_POOLS_KEPT:
            _INVITE_POOLS.popitem(last=False)
    return kept[2]


@dataclass
class BudgetClient:
    """Baseline client. A job has a private value to it (`context.perception["value"]` when it asks, in token
    units; without one, its budget): it never offers to pay more than the job is worth less its own gas and
    the validator's fee (`max_price`), nor more than its budget. It waits a little to compare parallel offers,
    takes the one of most expected surplus (reservation price x the provider's reputation - price) if its
    price is under its target (a fraction of its reservation price), otherwise counters halfway between its
    target and the best offer. It checks every result it is delivered and contests only what fails its
    check: it disputes such a result (optimistic scheme) or appeals a validator's approval of it, posting the
    bond; it never disputes a result that passed, since the court would rule against it and keep the bond."""

    budget: int  # the most it will pay for one job, in token units
    target_fraction: float = 0.7  # it accepts at once at or below this fraction of the budget
    collateral_fraction: float = 0.2  # collateral it asks of providers, as a fraction of the budget
    # The bond that takes a result to the court (and that a validator stakes), as a fraction of the budget;
    # at least one token unit.
    bond_fraction: float = 0.1
    # The validator's fee for a verdict, as a fraction of the budget (validator scheme only).
    validator_fee_fraction: float = 0.05
    decision_delay: int = 2  # seconds after the first offer before it decides, to collect parallel offers
    max_rounds: int = 3
    approve_early: bool = True  # approving costs an attestation, but frees the provider's collateral sooner
    scheme: ValidationScheme = ValidationScheme.OPTIMISTIC
    validator: str | None = None
    offer_window: int = 60
    counter_ttl: int = 60  # seconds a counter-offer can be accepted
    commence_within: int = 60
    job_duration: int = 300
    validation_window: int = 60
    invite: int = 0  # address each request to this many providers from the directory; 0 broadcasts
    seed: int = 0
    cost_model: CostModel = field(default_factory=CostModel)  # prices its own gas

    def __post_init__(self):
        self._rng = np.random.default_rng(self.seed)
        self._accepting: dict[bytes, str] = {}  # deal -> the provider whose offer it last accepted
        self._unfunded: set[tuple[bytes, str]] = set()  # (deal, provider) whose accept the market refused

    def choose_providers(self, spec: Any, context: Context) -> tuple[str, ...]:
        """Whom to address a request to: `invite` providers drawn from the directory's live listings that
        can run the job, the better their reputation the likelier (seeded, so runs repeat). Broadcast when
        inviting nobody, or when the directory knows too few."""
        if not self.invite or context.directory is None:
            return ()
        requirements = spec.requirements
        attesters, cumulative = invite_pool(context.directory(), context.reputation, requirements.min_cores,
                                            requirements.min_ram_bytes)
        if context.me in attesters:  # a client listed as a provider too does not invite itself
            mine = attesters.index(context.me)
            attesters = attesters[:mine] + attesters[mine + 1:]
            cumulative = np.cumsum(np.delete(np.diff(cumulative, prepend=0.0), mine))
        if len(attesters) <= self.invite:
            return attesters
        if 2 * self.invite > len(attesters):  # most of them: numpy's draw without replacement
            weights = np.diff(cumulative, prepend=0.0)
            chosen = self._rng.choice(len(attesters), size=self.invite, replace=False, p=weights / weights.sum())
        else:  # a few of many: successive weighted draws, a repeat drawn again (numpy's choice is O(listings))
            chosen = set()
            while len(chosen) < self.invite:
                chosen.add(int(np.searchsorted(cumulative, self._rng.random() * cumulative[-1], side="right")))
        return tuple(attesters[i] for i in sorted(chosen))

    def reservation(self, context: Context) -> int:
        """The most it pays a provider for the job: its value less its own gas on the deal and the validator's
        fee (paid if the job is validated), capped by its budget. Not positive: the job is not worth a deal."""
        value = context.perception.get("value")
        if value is None:
            return self.budget
        costs = self.cost_model.gas_tokens(CLIENT_GAS_PER_DEAL, context)
        return min(self.budget, int((value - costs) / (1 + self.validator_fee_fraction)))

    def terms_for(self, spec: Any, context: Context) -> RequestTerms:
        max_price = self.reservation(context)
        return RequestTerms(
            max_price=max_price,
            min_collateral=int(max_price * self.collateral_fraction),
            offer_window=self.offer_window,
            commence_within=self.commence_within,
            # The job's declared run time, plus a margin for the process that runs (at least its wall limit).
            job_duration=int(spec.estimated_seconds()) + max(self.job_duration, int(spec.limits.wall_seconds) + 30),
            validation_window=self.validation_window,
            scheme=self.scheme,
            validator=self.validator,
            validator_fee=self.validator_fee_for(max_price),
            bond=self.bond_for(max_price),
        )

    def bond_for(self, max_price: int) -> int:
        """The bond of a request asking at most `max_price` (at least one token unit)."""
        return max(1, int(max_price * self.bond_fraction))

    def validator_fee_for(self, max_price: int) -> int:
        return max(1, int(max_price * self.validator_fee_fraction))

    @property
    def bond(self) -> int:
        """The bond of a request at its budget: the most it posts."""
        return self.bond_for(self.budget)

    @property
    def validator_fee(self) -> int:
        """The validator's fee of a request at its budget: the most it pays."""
        return self.validator_fee_for(self.budget)

    def target(self, dialogue) -> int:
        return int(dialogue.request.max_price * self.target_fraction)

    def counter_price(self, offer: Offer, dialogue) -> int:
        """What it counters an offer above its target with: halfway between its target and the offer."""
        return (self.target(dialogue) + offer.price) // 2

    def surplus(self, offer: Offer, dialogue, context: Context) -> float:
        """Expected surplus of an offer over the reservation price: the provider's reputation as the chance it
        delivers. The client's gas and fee are the same whichever offer it takes."""
        reputation = context.reputation(offer.provider) if context.reputation else 1.0
        return reputation * dialogue.request.max_price - offer.price

    def react(self, message: Message | Notice, context: Context) -> Reply | None:
        dialogue = context.dialogue
        if isinstance(message, Notice):
            if message.kind == NoticeKind.TX_FAILED and message.payload.get("kind") == Performative.ACCEPT.value:
                # Accepting reverts when the provider's escrow account cannot lock the collateral (or ours
                # the price): that offer is not to be taken again; another provider's may be.
                provider = self._accepting.pop(message.deal_id, None)
                if provider is not None:
                    self._unfunded.add((message.deal_id, provider))
            return None
        p = message.performative
        if p == Performative.ACCEPT:
            self._accepting.pop(dialogue.deal_id, None)  # agreed: nothing left to remember
        if p == Performative.ACCEPT and dialogue.status == Status.AWAITING_PAYMENT:
            return Reply(Performative.FUND, dialogue.deal_id)
        if p == Performative.OFFER and message.sender != context.me and message.offer.round > 0:
            # A provider answered our counter-offer: take it if it is within the reservation price.
            if message.offer.price <= dialogue.request.max_price:
                return self._accept(dialogue, message.sender)
        if p in (Performative.COMPLETE, Performative.VERDICT):
            return self.assess(context)
        return None

    def assess(self, context: Context) -> Reply | None:
        """On a delivered result the client checked (`dialogue.result_ok`). Optimistic scheme: dispute one that
        failed the check, approve one that passed early if it chooses to. Validator scheme: leave the verdict to
        the validator (approving would only save its fee by racing it), then appeal its approval of a result
        that failed the check; a rejection, or a result it could not check, it lets stand."""
        dialogue = context.dialogue
        ok = dialogue.result_ok
        if dialogue.status == Status.COMPLETED and dialogue.validator is None:
            if ok is False:
                return Reply(Performative.DISPUTE, dialogue.deal_id)
            if ok and self.approve_early:
                return Reply(Performative.APPROVE, dialogue.deal_id)
        if dialogue.status == Status.JUDGED and dialogue.verdict and ok is False:
            return Reply(Performative.APPEAL, dialogue.deal_id)
        return None

    def act(self, context: Context) -> list[Reply]:
        replies = []
        for dialogue in context.parallel:
            if dialogue.status != Status.NONE or dialogue.request is None or Performative.ACCEPT in dialogue.in_flight:
                continue
            provider_offers = standing_offers(dialogue, context.now, self._unfunded)
            if not self.due(dialogue, provider_offers, context.now):
                continue
            closing = window_closing(dialogue, context.now, self.decision_delay)
            best = max(provider_offers, key=lambda o: self.surplus(o.offer, dialogue, context))
            if best.offer.price > dialogue.request.max_price:
                continue  # worth less than it costs
            if best.offer.price <= self.target(dialogue) or closing:
                replies.append(self._accept(dialogue, best.signer, best))
                continue
            if best.offer.round >= self.max_rounds or Performative.OFFER in dialogue.in_flight:
                continue
            mine = dialogue.latest_offer(from_party=context.me)
            if mine is not None and mine.offer.round > best.offer.round:
                continue  # our counter is out; wait for the answer
            price = self.counter_price(best.offer, dialogue)
            counter = Offer(
                dialogue.deal_id, best.offer.provider, price, best.offer.collateral,
                min(dialogue.request.offer_deadline, context.now + self.counter_ttl), best.offer.round + 1,
            )
            replies.append(Reply(Performative.OFFER, dialogue.deal_id, offer=counter))
        return replies

    def due(self, dialogue, provider_offers: list, now: int) -> bool:
        """Time to decide on a request's offers: `decision_delay` seconds after the first one arrived (parallel
        offers have had time to come), or as its offer window closes."""
        if not provider_offers:
            return False
        first_seen = min(o.time for o in provider_offers)
        return now - first_seen >= self.decision_delay or window_closing(dialogue, now, self.decision_delay)

    def _accept(self, dialogue, provider: str, signed=None) -> Reply | None:
        signed = signed or dialogue.latest_offer(from_party=provider)
        if signed is None or (dialogue.deal_id, provider) in self._unfunded:
            return None
        self._accepting[dialogue.deal_id] = provider
        return Reply(Performative.ACCEPT, dialogue.deal_id, offer=signed.offer, signature=signed.signature)
