"""Agents of the compute marketplace: protocol mirror, deployment, market client, runtime and strategies."""
