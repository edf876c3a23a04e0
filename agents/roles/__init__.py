"""Roles: what a client, a provider and a validator perceive and do around their policy's decisions."""

from agents.roles.client import ClientAgent
from agents.roles.provider import ProviderAgent
from agents.roles.validator import ValidatorAgent

__all__ = ["ClientAgent", "ProviderAgent", "ValidatorAgent"]
