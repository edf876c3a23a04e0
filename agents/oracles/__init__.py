"""Global state: gas, token and electricity prices with forecasts, from seeded models or from the chain."""
