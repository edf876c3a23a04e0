"""What a job costs a provider, in payment-token units: electricity for the estimated run, the gas of
the provider's own transactions, and a premium for the risk of losing the collateral.

Every input comes from the context the agent observes; what it does not observe (a light agent without
off-chain oracles) falls back to the model's stated defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agents.policy import Context

# Gas the provider itself spends per deal: offer, commencement and completion attestations, settlement
# (gas-snapshot.json, rounded up).
PROVIDER_GAS_PER_DEAL = 720_000


@dataclass(frozen=True)
class CostModel:
    token_symbol: str = "USDC"  # the payment token's symbol in the price oracle
    token_decimals: int = 18
    default_power_watts: float = 150.0
    default_electricity_usd_per_kwh: float = 0.15
    default_token_usd: float = 1.0
    default_eth_usd: float = 3000.0
    risk_premium: float = 0.02  # fraction of the collateral at stake
    min_duration_seconds: float = 1.0

    def job_cost(self, estimated_seconds: float, collateral: int, context: Context) -> int:
        """Cost floor of one job in token units."""
        local, state = context.local, context.global_state
        watts = getattr(local.hardware, "power_full_watts", None) or self.default_power_watts
        kwh_price, token_usd, eth_usd, base_fee = (
            self.default_electricity_usd_per_kwh, self.default_token_usd, self.default_eth_usd, 0
        )
        if state is not None:
            kwh_price = _price(state.electricity_prices, local.region, kwh_price)
            token_usd = _price(state.token_prices, self.token_symbol, token_usd)
            eth_usd = _price(state.token_prices, "ETH", eth_usd)
            if state.gas is not None:
                base_fee = state.gas.fee_per_gas_wei
        hours = max(estimated_seconds, self.min_duration_seconds) / 3600
        electricity_usd = watts / 1000 * hours * kwh_price
        gas_usd = PROVIDER_GAS_PER_DEAL * base_fee / 1e18 * eth_usd
        token_units = (electricity_usd + gas_usd) / token_usd * 10**self.token_decimals
        return int(token_units) + int(collateral * self.risk_premium)


def _price(table: Mapping[str, float] | None, key: str | None, default: float) -> float:
    if table is None or key is None:
        return default
    value = table.get(key)
    return default if value is None else value
