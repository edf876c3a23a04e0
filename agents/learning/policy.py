"""The linear pricing policy, its vector form for optimisers and its JSON file. Defined in
`agents.strategies.linear` (the learned strategy decides with it); this is the name the training uses."""

from agents.strategies.linear import (  # noqa: F401 - re-exported
    INITIAL_MARGIN,
    LinearClientPolicy,
    LinearPolicy,
    PolicyFileError,
    policy_class,
)
