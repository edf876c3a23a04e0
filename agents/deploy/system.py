"""Deploying the marketplace: the real EAS and SchemaRegistry from the npm package's compiled artifacts
(or the canonical predeploys where a chain has them), then the market and, on test chains, a token."""

from __future__ import annotations

from dataclasses import dataclass

from ape import project
from ape.contracts import ContractContainer, ContractInstance
from ethpm_types import ContractType

from agents.chain.abi import eas_artifact_json


def eas_artifact(name: str) -> ContractType:
    """The compiled artifact of an EAS contract ("EAS" or "SchemaRegistry") shipped in the npm package."""
    artifact = eas_artifact_json(name)
    return ContractType.model_validate(
        {
            "contractName": artifact["contractName"],
            "abi": artifact["abi"],
            "deploymentBytecode": {"bytecode": artifact["bytecode"]},
            "runtimeBytecode": {"bytecode": artifact["deployedBytecode"]},
        }
    )


@dataclass
class System:
    """Handles on one deployment of the whole system."""

    registry: ContractInstance
    eas: ContractInstance
    market: ContractInstance
    token: ContractInstance | None


def deploy_eas(deployer) -> tuple[ContractInstance, ContractInstance]:
    """Deploy SchemaRegistry and EAS from their canonical compiled artifacts."""
    registry = ContractContainer(eas_artifact("SchemaRegistry")).deploy(sender=deployer)
    eas = ContractContainer(eas_artifact("EAS")).deploy(registry.address, sender=deployer)
    return registry, eas


# Seconds the court has to rule on a disputed deal before it unwinds, unless a deployment says otherwise.
DEFAULT_COURT_WINDOW = 3 * 24 * 3600


def deploy_system(
    deployer, *, token_decimals: int | None = 18, court: str | None = None, court_window: int = DEFAULT_COURT_WINDOW
) -> System:
    """Deploy EAS, the market (which registers its schemas) and, unless `token_decimals` is None, a
    mintable test token. The court (the top of the appeal chain) is the deployer unless named."""
    registry, eas = deploy_eas(deployer)
    market = project.ComputeMarket.deploy(
        eas.address, court or deployer.address, court_window, sender=deployer
    )
    token = None
    if token_decimals is not None:
        token = project.TestToken.deploy("Test USD", "tUSD", token_decimals, sender=deployer)
    return System(registry=registry, eas=eas, market=market, token=token)
