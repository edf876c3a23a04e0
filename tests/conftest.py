"""Shared fixtures: the whole system (real EAS bytecode, market, token) deployed once per session on the
anvil that ape-foundry starts; tests run in isolation through chain snapshots."""

import pytest

from agents.deployment import deploy_system
from agents.market import MarketClient

FLOAT = 10**24  # tokens each party starts with


@pytest.fixture(scope="session")
def deployer(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def client_account(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def provider_account(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def validator_account(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def stranger(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def system(deployer, accounts):
    system = deploy_system(deployer)
    for account in accounts[:6]:
        system.token.mint(account.address, FLOAT, sender=deployer)
    return system


@pytest.fixture(scope="session")
def token(system):
    return system.token


@pytest.fixture(scope="session")
def market(system):
    return system.market


@pytest.fixture(scope="session")
def client(system, client_account):
    return MarketClient(system, client_account)


@pytest.fixture(scope="session")
def provider(system, provider_account):
    return MarketClient(system, provider_account)


@pytest.fixture(scope="session")
def validator(system, validator_account):
    return MarketClient(system, validator_account)
