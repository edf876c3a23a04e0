"""A provider's pricing decision as numbers: the observation a learned policy sees, the actions it picks from,
which actions are valid, and how an action becomes the `Reply` the runtime sends.

A provider decides on a price twice in a deal's life: when a request it can serve arrives (offer or not) and
when the client counters its offer (accept the counter, counter back, or let it lapse). Both decisions are
built here from the policy `Context` alone, so a learned provider (agents.strategies.learned) and the
environment (agents.learning.market_env) see and do exactly the same thing.

It lives with the strategies because a strategy sees the world only through the policy seam (tests/
test_architecture.py), and the learned strategy decides with it; `agents.learning.features` is its name for the
training and the environment.

Every observation field is a float of order one (ratios to the job's cost floor, shares, bounded counts), so
that one linear policy's weights mean the same across jobs and markets. The README's "The learning
environment" lists them with their units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from agents.policy import Context, Dialogue, Reply, SignedOffer
from agents.protocol import Offer, Party, Performative, ValidationScheme, find_transition
from agents.strategies.costs import CostModel

SECONDS_PER_DAY = 86_400
RATIO_CAP = 10.0  # price and collateral ratios to the floor are clipped here: beyond it, only "much more" matters
COUNT_CAP = 10  # counts (offers seen, open deals) saturate here


@dataclass(frozen=True)
class Field:
    name: str
    doc: str


OBSERVATION: tuple[Field, ...] = (
    # The request's terms.
    Field("max_price_over_floor", "the request's max price / the cost floor (clipped to 10)"),
    Field("collateral_over_floor", "the collateral the request asks / the cost floor (clipped to 10)"),
    Field("duration_log_hours", "ln(1 + the job's declared run time in hours)"),
    Field("cores_share", "cores the job holds / the machine's logical cores"),
    Field("validator_scheme", "1 if a validator judges the result, 0 if optimistic"),
    Field("time_left_share", "seconds left for offers / the request's whole offer window"),
    # The cost floor and its parts.
    Field("floor_log_tokens", "ln(1 + the cost floor in whole tokens)"),
    Field("electricity_share", "electricity's share of the floor"),
    Field("gas_share", "gas's share of the floor (the provider's transactions on a deal that goes well)"),
    Field("hardware_share", "the machine's amortisation's share of the floor"),
    Field("risk_share", "the collateral risk premium's share of the floor"),
    # Competition.
    Field("offers_seen", "other providers' offers seen on this request, / 10 (saturates at 1)"),
    Field("competing_offer_seen", "1 if another provider's offer is public on this request"),
    Field("best_competing_over_floor", "the lowest other provider's price / the floor (max price / floor if none)"),
    # The counterparty.
    Field("client_reputation", "the client's score in [0, 1] (0.5 when nothing is known)"),
    # The agent itself.
    Field("free_cores_share", "free cores / the machine's logical cores"),
    Field("free_funds_over_collateral", "ln(1 + free escrow balance / the request's collateral)"),
    Field("open_deals", "the agent's open deals / 10 (saturates at 1)"),
    Field("negotiating", "the agent's other requests in negotiation / 10 (saturates at 1)"),
    # The world.
    Field("hour_sin", "sin(2 pi hour of day / 24), UTC"),
    Field("hour_cos", "cos(2 pi hour of day / 24), UTC"),
    Field("electricity_price", "electricity in the agent's region, USD/kWh / 0.15"),
    Field("forecast_mean_ratio", "the electricity forecast's mean / the price now (1 without a forecast)"),
    Field("forecast_lower_ratio", "the forecast interval's lower bound / the price now (1 without a forecast)"),
    Field("forecast_upper_ratio", "the forecast interval's upper bound / the price now (1 without a forecast)"),
    Field("gas_log_gwei", "ln(1 + the fee per gas in gwei)"),
    # The negotiation.
    Field("is_counter", "1 when answering the client's counter-offer, 0 for a new request"),
    Field("round", "the counter-offer's round / 3 (0 for a new request)"),
    Field("counter_over_floor", "the client's counter price / the floor (0 for a new request)"),
    Field("my_offer_over_floor", "the agent's latest offer's price on this request / the floor (0 if none)"),
)
OBSERVATION_NAMES: tuple[str, ...] = tuple(f.name for f in OBSERVATION)

# Markups over the cost floor an offer (or a counter back) can carry.
MARKUPS: tuple[float, ...] = (0.0, 0.05, 0.10, 0.20, 0.30, 0.50, 0.80, 1.20)
DECLINE, ACCEPT, FIRST_OFFER = 0, 1, 2
# The last action prices from the client's side instead: the request's public max price, the most it says it pays
# (valid where that is at least the floor). The markups' grid cannot reach it: between two markups, or above
# the highest, a provider asking the max price would leave nothing on the table.
OFFER_AT_MAX = FIRST_OFFER + len(MARKUPS)
ACTIONS: tuple[str, ...] = ("decline", "accept", *(f"offer at +{round(m * 100)}%" for m in MARKUPS),
                            "offer at the max price")


@dataclass(frozen=True)
class Floor:
    """A job's cost floor to the provider in token units, with its parts (`CostModel.breakdown`, in tokens)."""

    tokens: int  # what cost-plus marks up: `CostModel.job_cost`
    electricity: float
    gas: float
    hardware: float
    risk: float
    unit: int = 10**18  # token units per whole token

    def share(self, part: float) -> float:
        total = self.electricity + self.gas + self.hardware + self.risk
        return part / total if total > 0 else 0.0


def cost_floor(cost_model: CostModel, context: Context) -> Floor:
    """The floor `QuotingProvider.floor` prices from, with the parts it is made of."""
    request, spec = context.dialogue.request, context.spec
    seconds, cores = spec.estimated_seconds(), spec.requirements.min_cores
    parts = cost_model.breakdown(seconds, request.min_collateral, context, cores=cores)
    prices = context.global_state.token_prices if context.global_state is not None else None
    token_usd = (prices or {}).get(cost_model.token_symbol) or cost_model.default_token_usd
    unit = 10**cost_model.token_decimals
    per_usd = unit / token_usd
    return Floor(cost_model.job_cost(seconds, request.min_collateral, context, cores=cores),
                 parts.electricity_usd * per_usd, parts.gas_usd * per_usd, parts.hardware_usd * per_usd,
                 parts.risk_usd * per_usd, unit)


def pending_counter(context: Context) -> SignedOffer | None:
    """The client's counter-offer to this agent that it has not answered yet, if there is one."""
    dialogue = context.dialogue
    counter = dialogue.latest_offer(from_party=dialogue.client)
    if counter is None or counter.offer.provider != context.me:
        return None
    mine = dialogue.latest_offer(from_party=context.me)
    if mine is not None and mine.offer.round >= counter.offer.round:
        return None
    return counter


def _competing(dialogue: Dialogue, me: str) -> list[int]:
    """Prices of other providers' own offers on this request (public once offered)."""
    return [o.offer.price for o in dialogue.offers if o.signer != me and o.signer == o.offer.provider]


def _clip(value: float, cap: float = RATIO_CAP) -> float:
    return min(max(value, 0.0), cap)


def observe(context: Context, floor: Floor) -> np.ndarray:
    """The observation vector (float32, in `OBSERVATION`'s order) of the decision `context` asks for."""
    dialogue, request, spec, local = context.dialogue, context.dialogue.request, context.spec, context.local
    cost = max(floor.tokens, 1)
    machine_cores = getattr(local.hardware, "logical_cores", None) or max(local.free_capacity.cores, 1)
    window = max(request.offer_deadline - (dialogue.opened_at or context.now), 1)
    competing = _competing(dialogue, context.me)
    reputation = context.client_reputation(request.client) if context.client_reputation else 0.5
    negotiating = sum(1 for d in context.parallel if d.agreed_at is None and d.is_open)

    state = context.global_state
    kwh, forecast, fee_per_gas = 0.15, None, 0
    if state is not None:
        kwh = (state.electricity_prices or {}).get(local.region, kwh)
        forecast = (state.electricity_forecasts or {}).get(local.region)
        fee_per_gas = state.gas.fee_per_gas_wei if state.gas is not None else 0
    if forecast is not None and kwh > 0:
        forecast_ratios = (forecast.mean / kwh, forecast.lower / kwh, forecast.upper / kwh)
    else:
        forecast_ratios = (1.0, 1.0, 1.0)
    hour = (context.now % SECONDS_PER_DAY) / SECONDS_PER_DAY * 2 * math.pi

    counter = pending_counter(context)
    mine = dialogue.latest_offer(from_party=context.me)
    values = (
        _clip(request.max_price / cost),
        _clip(request.min_collateral / cost),
        math.log1p(spec.estimated_seconds() / 3600),
        min(spec.requirements.min_cores / machine_cores, 1.0),
        float(request.scheme == ValidationScheme.VALIDATOR),
        _clip((request.offer_deadline - context.now) / window, 1.0),
        math.log1p(floor.tokens / floor.unit),
        floor.share(floor.electricity),
        floor.share(floor.gas),
        floor.share(floor.hardware),
        floor.share(floor.risk),
        min(len(competing), COUNT_CAP) / COUNT_CAP,
        float(bool(competing)),
        _clip((min(competing) if competing else request.max_price) / cost),
        reputation,
        _clip(local.free_capacity.cores / machine_cores, 1.0),
        math.log1p(_clip(local.free_funds / max(request.min_collateral, 1), 1e6)),
        min(local.open_deals, COUNT_CAP) / COUNT_CAP,
        min(negotiating, COUNT_CAP) / COUNT_CAP,
        math.sin(hour),
        math.cos(hour),
        kwh / 0.15,
        *(_clip(r) for r in forecast_ratios),
        math.log1p(fee_per_gas / 1e9),
        float(counter is not None),
        counter.offer.round / 3 if counter else 0.0,
        _clip(counter.offer.price / cost) if counter else 0.0,
        _clip(mine.offer.price / cost) if mine else 0.0,
    )
    return np.asarray(values, dtype=np.float32)


def offer_price(action: int, floor: Floor, max_price: int) -> int:
    """The price an offer action asks: the floor times (1 + its markup), or the request's `max_price`."""
    if action == OFFER_AT_MAX:
        return max_price
    return int(max(floor.tokens, 1) * (1 + MARKUPS[action - FIRST_OFFER]))


def _provider_may_send(context: Context, performative: Performative) -> bool:
    """Whether the scheme's table lets a provider send `performative` on the deal in its current status."""
    transition = find_transition(context.dialogue.status, performative)
    return transition is not None and transition.sender in (Party.PROVIDER, Party.EITHER, Party.ANYONE)


def action_mask(context: Context, floor: Floor, max_rounds: int = 3) -> np.ndarray:
    """1 for each action the agent may take now, in `ACTIONS`' order. Declining (sending nothing) is always
    valid. Accepting needs the client's unanswered counter-offer and the scheme's ACCEPT; offering needs the
    scheme's OFFER, a price within the request's max price (offering at the max price: a max price at least the
    floor), and (answering a counter) a round within `max_rounds`."""
    mask = np.zeros(len(ACTIONS), dtype=np.int8)
    mask[DECLINE] = 1
    counter = pending_counter(context)
    if counter is not None and _provider_may_send(context, Performative.ACCEPT):
        mask[ACCEPT] = 1
    next_round = counter.offer.round + 1 if counter is not None else 0
    if next_round <= max_rounds and _provider_may_send(context, Performative.OFFER):
        max_price = context.dialogue.request.max_price
        for action in range(FIRST_OFFER, OFFER_AT_MAX):
            mask[action] = offer_price(action, floor, max_price) <= max_price
        mask[OFFER_AT_MAX] = max_price >= floor.tokens
    return mask


def decode(action: int, context: Context, floor: Floor, offer_ttl: int = 120, max_rounds: int = 3) -> Reply | None:
    """The reply `action` stands for in `context` (None: decline). ValueError if the mask forbids it."""
    action = int(action)
    if not 0 <= action < len(ACTIONS):
        raise ValueError(f"action {action} is not one of the {len(ACTIONS)} actions")
    if not action_mask(context, floor, max_rounds)[action]:
        raise ValueError(f"action {ACTIONS[action]!r} is not valid here (see action_mask)")
    if action == DECLINE:
        return None
    dialogue = context.dialogue
    capacity = context.spec.requirements.capacity
    counter = pending_counter(context)
    if action == ACCEPT:
        # Like QuotingProvider: a client may pay from its wallet once accepted, so the deal waits for its payment.
        return Reply(Performative.ACCEPT, dialogue.deal_id, offer=counter.offer, signature=counter.signature,
                     capacity=capacity, await_signer=True)
    request = dialogue.request
    expiry = min(request.offer_deadline, context.now + offer_ttl)
    round_ = counter.offer.round + 1 if counter is not None else 0
    price = offer_price(action, floor, request.max_price)
    offer = Offer(dialogue.deal_id, context.me, price, request.min_collateral, expiry, round_)
    return Reply(Performative.OFFER, dialogue.deal_id, offer=offer, capacity=capacity)
