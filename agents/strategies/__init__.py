"""Policies: `(message, context) -> reply | None` for reactions, `context -> replies` for scheduled acts.

Negotiation decisions live here; the roles (agents.roles) do the perception and the work (fetching a
spec, running a job, checking a result) and hand the outcome to the policy as a notice.
"""
