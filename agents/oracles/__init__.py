"""Global state: gas, token and electricity prices with forecasts. `models` holds the snapshot types and
the seeded models, `feeds` the chain readers (and the keeper that writes a price feed), `source` the
composition agents ask for snapshots."""
