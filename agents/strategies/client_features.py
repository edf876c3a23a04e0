"""A client's buying decision as numbers: the observation a learned client sees, the actions it picks from, which
actions are valid, and how an action becomes the `Reply` the runtime sends. The client's counterpart of
agents.strategies.features (the provider's).

A client decides on a request it posted whenever providers' offers stand on it: when it is due to decide (the
baseline's moment: a few seconds after the first offer, to collect parallel ones, or as the offer window closes)
and when a provider answers its counter-offer (a counter back). It can wait, take the standing offer of most
expected surplus or the cheapest one, or counter the best offer at a discount.

Prices are seen as ratios to the request's max price, the most the client said it would pay (its reservation
price: the job's value less its own gas and the validator's fee, agents.strategies.client.BudgetClient), so that
one linear policy's weights mean the same across jobs. The README's "A learned client" lists the fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from agents.policy import Context, Dialogue, Reply, SignedOffer
from agents.protocol import Offer, Party, Performative, ValidationScheme, find_transition
from agents.strategies.features import COUNT_CAP, SECONDS_PER_DAY, Field

PRICE_CAP = 2.0  # price ratios to the max price are clipped here (an offer above the max price cannot be taken)

CLIENT_OBSERVATION: tuple[Field, ...] = (
    # The request's terms.
    Field("max_price_log_tokens", "ln(1 + the request's max price in whole tokens)"),
    Field("duration_log_hours", "ln(1 + the job's declared run time in hours)"),
    Field("cores_log", "ln(1 + the cores the job needs)"),
    Field("validator_scheme", "1 if a validator judges the result, 0 if optimistic"),
    Field("time_left_share", "seconds left for offers / the request's whole offer window"),
    Field("closing", "1 when the offer window closes within twice the decision delay"),
    # The offers standing on it (providers' own, unexpired, not refused for want of funds).
    Field("offers_standing", "standing offers / 10 (saturates at 1)"),
    Field("best_over_max", "the offer of most expected surplus: its price / the max price (clipped to 2)"),
    Field("best_reputation", "that offer's provider's score in [0, 1] (0.5 when nothing is known)"),
    Field("best_round", "that offer's negotiation round / 3"),
    Field("cheapest_over_max", "the cheapest standing offer's price / the max price (clipped to 2)"),
    Field("cheapest_reputation", "the cheapest offer's provider's score in [0, 1]"),
    # The negotiation.
    Field("is_counter_back", "1 when deciding on a provider's answer to the client's counter-offer"),
    Field("counter_back_over_max", "that answer's price / the max price (0 if none)"),
    Field("my_counter_over_max", "the client's latest counter-offer's price / the max price (0 if none)"),
    # The client itself and the world.
    Field("negotiating", "the client's other requests in negotiation / 10 (saturates at 1)"),
    Field("hour_sin", "sin(2 pi hour of day / 24), UTC"),
    Field("hour_cos", "cos(2 pi hour of day / 24), UTC"),
    Field("gas_log_gwei", "ln(1 + the fee per gas in gwei)"),
)
CLIENT_OBSERVATION_NAMES: tuple[str, ...] = tuple(f.name for f in CLIENT_OBSERVATION)

# Discounts on the best offer's price a counter-offer can ask.
CUTS: tuple[float, ...] = (0.05, 0.10, 0.20, 0.35)
WAIT, ACCEPT_BEST, ACCEPT_CHEAPEST, FIRST_COUNTER = 0, 1, 2, 3
CLIENT_ACTIONS: tuple[str, ...] = ("wait", "accept the best", "accept the cheapest",
                                   *(f"counter at -{round(c * 100)}%" for c in CUTS))


@dataclass(frozen=True)
class Standing:
    """The offers a client can take on one request, and the two it would take."""

    offers: tuple[SignedOffer, ...]
    best: SignedOffer  # the most expected surplus: reputation x max price - price
    cheapest: SignedOffer
    counter_back: SignedOffer | None  # the provider's answer to the client's counter that this decision is about


def standing_offers(dialogue: Dialogue, now: int, refused: set) -> list[SignedOffer]:
    """Providers' own offers on `dialogue` that have not expired and whose accept the market did not refuse
    (`refused`: (deal id, provider) pairs)."""
    return [o for o in dialogue.offers if o.signer == o.offer.provider and o.offer.expiry > now
            and (dialogue.deal_id, o.signer) not in refused]


def standing(dialogue: Dialogue, context: Context, refused: set,
             counter_back: SignedOffer | None = None) -> Standing | None:
    """What stands on `dialogue` now (None: nothing)."""
    offers = tuple(standing_offers(dialogue, context.now, refused))
    if not offers:
        return None
    max_price = dialogue.request.max_price

    def surplus(signed: SignedOffer) -> float:
        reputation = context.reputation(signed.offer.provider) if context.reputation else 1.0
        return reputation * max_price - signed.offer.price

    return Standing(offers, max(offers, key=surplus), min(offers, key=lambda o: (o.offer.price, o.time)),
                    counter_back)


def _ratio(price: int, max_price: int) -> float:
    return min(max(price / max(max_price, 1), 0.0), PRICE_CAP)


def _reputation(context: Context, provider: str) -> float:
    return context.reputation(provider) if context.reputation else 0.5


def window_closing(dialogue: Dialogue, now: int, decision_delay: int) -> bool:
    """The offer window closes before the client would decide twice more: the baseline accepts then."""
    return dialogue.request.offer_deadline - now < 2 * decision_delay


def client_observe(dialogue: Dialogue, context: Context, offers: Standing, decision_delay: int = 2,
                   unit: int = 10**18) -> np.ndarray:
    """The observation vector (float32, in CLIENT_OBSERVATION's order)."""
    request, spec = dialogue.request, dialogue.spec
    max_price = request.max_price
    window = max(request.offer_deadline - (dialogue.opened_at or context.now), 1)
    mine = dialogue.latest_offer(from_party=context.me)
    negotiating = sum(1 for d in context.parallel
                      if d is not dialogue and d.agreed_at is None and d.is_open and d.request is not None)
    state = context.global_state
    fee_per_gas = state.gas.fee_per_gas_wei if state is not None and state.gas is not None else 0
    hour = (context.now % SECONDS_PER_DAY) / SECONDS_PER_DAY * 2 * math.pi
    seconds = spec.estimated_seconds() if spec is not None else 0.0
    cores = spec.requirements.min_cores if spec is not None else 1
    back = offers.counter_back
    values = (
        math.log1p(max_price / unit),
        math.log1p(seconds / 3600),
        math.log1p(cores),
        float(request.scheme == ValidationScheme.VALIDATOR),
        min(max((request.offer_deadline - context.now) / window, 0.0), 1.0),
        float(window_closing(dialogue, context.now, decision_delay)),
        min(len(offers.offers), COUNT_CAP) / COUNT_CAP,
        _ratio(offers.best.offer.price, max_price),
        _reputation(context, offers.best.offer.provider),
        offers.best.offer.round / 3,
        _ratio(offers.cheapest.offer.price, max_price),
        _reputation(context, offers.cheapest.offer.provider),
        float(back is not None),
        _ratio(back.offer.price, max_price) if back is not None else 0.0,
        _ratio(mine.offer.price, max_price) if mine is not None else 0.0,
        min(negotiating, COUNT_CAP) / COUNT_CAP,
        math.sin(hour),
        math.cos(hour),
        math.log1p(fee_per_gas / 1e9),
    )
    return np.asarray(values, dtype=np.float32)


def counter_price(action: int, offers: Standing) -> int:
    """The price a counter action asks: the best offer's price less its cut."""
    return int(offers.best.offer.price * (1 - CUTS[action - FIRST_COUNTER]))


def _client_may_send(dialogue: Dialogue, performative: Performative) -> bool:
    transition = find_transition(dialogue.status, performative)
    return transition is not None and transition.sender in (Party.CLIENT, Party.EITHER, Party.ANYONE)


def client_action_mask(dialogue: Dialogue, context: Context, offers: Standing, max_rounds: int = 3) -> np.ndarray:
    """1 for each action the client may take now, in CLIENT_ACTIONS' order. Waiting is always valid. Accepting
    needs the scheme's ACCEPT, no accept in flight, and the offer within the max price. Countering needs the
    scheme's OFFER, no counter in flight or unanswered (the client's latest counter is of a later round than the
    best offer), a best offer of a round below `max_rounds`, and a price of at least one token unit."""
    mask = np.zeros(len(CLIENT_ACTIONS), dtype=np.int8)
    mask[WAIT] = 1
    max_price = dialogue.request.max_price
    if _client_may_send(dialogue, Performative.ACCEPT) and Performative.ACCEPT not in dialogue.in_flight:
        mask[ACCEPT_BEST] = offers.best.offer.price <= max_price
        mask[ACCEPT_CHEAPEST] = offers.cheapest.offer.price <= max_price
    mine = dialogue.latest_offer(from_party=context.me)
    answered = mine is None or mine.offer.round <= offers.best.offer.round
    if (_client_may_send(dialogue, Performative.OFFER) and Performative.OFFER not in dialogue.in_flight and answered
            and offers.best.offer.round < max_rounds):
        for action in range(FIRST_COUNTER, len(CLIENT_ACTIONS)):
            mask[action] = counter_price(action, offers) >= 1
    return mask


def client_decode(action: int, dialogue: Dialogue, context: Context, offers: Standing, max_rounds: int = 3,
                  counter_ttl: int = 60) -> tuple[SignedOffer | None, Reply | None]:
    """What `action` stands for: (the offer to accept, None), (None, the counter-offer's Reply), or (None, None)
    to wait. ValueError if the mask forbids it."""
    action = int(action)
    if not 0 <= action < len(CLIENT_ACTIONS):
        raise ValueError(f"action {action} is not one of the {len(CLIENT_ACTIONS)} client actions")
    if not client_action_mask(dialogue, context, offers, max_rounds)[action]:
        raise ValueError(f"action {CLIENT_ACTIONS[action]!r} is not valid here (see client_action_mask)")
    if action == WAIT:
        return None, None
    if action in (ACCEPT_BEST, ACCEPT_CHEAPEST):
        return (offers.best if action == ACCEPT_BEST else offers.cheapest), None
    best = offers.best.offer
    counter = Offer(dialogue.deal_id, best.provider, counter_price(action, offers), best.collateral,
                    min(dialogue.request.offer_deadline, context.now + counter_ttl), best.round + 1)
    return None, Reply(Performative.OFFER, dialogue.deal_id, offer=counter)
