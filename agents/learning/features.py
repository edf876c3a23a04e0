"""The observation, actions, mask and decoding of a provider's pricing decision. Defined in
`agents.strategies.features` (a strategy sees the world only through the policy seam, and the learned strategy
decides with them); this is the name the training and the environment use."""

from agents.strategies.features import (  # noqa: F401 - re-exported
    ACCEPT,
    ACTIONS,
    DECLINE,
    FIRST_OFFER,
    MARKUPS,
    OBSERVATION,
    OBSERVATION_NAMES,
    OFFER_AT_MAX,
    Field,
    Floor,
    action_mask,
    cost_floor,
    decode,
    observe,
    offer_price,
    pending_counter,
)
