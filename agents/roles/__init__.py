"""Roles: what a client, a provider, a validator and the court perceive and do around their policy's decisions."""

from agents.roles.client import ClientAgent
from agents.roles.court import CourtAgent
from agents.roles.provider import ProviderAgent
from agents.roles.validator import ValidatorAgent

__all__ = ["ClientAgent", "CourtAgent", "ProviderAgent", "ValidatorAgent"]
