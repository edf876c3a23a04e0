"""Learning agents: the market as a PettingZoo environment (market_env), the training of a provider's pricing
policy and its evaluation against the baselines. The decision itself (features, the linear policy) is the learned
strategy's and lives in agents.strategies; `features` and `policy` here are its names for this package."""
