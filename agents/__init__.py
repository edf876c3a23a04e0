"""The compute marketplace's Python package: the scheme as data (`protocol`), the policy seam (`policy`),
the chain layer, deployment, market knowledge, oracles, jobs, the agent runtime, roles, strategies and the
simulation. README "How it is built" says what each module is for."""
