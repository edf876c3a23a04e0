"""Test and measurement harness, not part of the product: an Ape client of the market for tests, gas
measurement, and the anvil helper shared by tests and benchmarks."""
