"""The compute marketplace's Python package: the scheme as data (`protocol`), the policy seam (`policy`),
the chain layer, deployment, market knowledge, oracles, jobs, the agent runtime, roles, strategies and the
simulation. README "How it is built" says what each module is for."""

from agents.toolchain import use_project_toolchain

# `ape run ...` and `ape test` from a plain shell in the checkout find the project's anvil and solc, as `make` does.
use_project_toolchain()
