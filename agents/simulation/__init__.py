"""Market simulation: scenarios (YAML), a stepped market model over the real agent runtime and a real
chain, a data collector, and the report."""
