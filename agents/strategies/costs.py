"""What a job costs a provider, in payment-token units: electricity for the estimated run, the gas of
the provider's own transactions, and a premium for the risk of losing the collateral."""

from __future__ import annotations

from dataclasses import dataclass

# Gas the provider itself spends per deal: offer, commencement and completion attestations, settlement
# (gas-snapshot.json, rounded up).
PROVIDER_GAS_PER_DEAL = 720_000


@dataclass(frozen=True)
class CostModel:
    token_decimals: int = 18
    default_power_watts: float = 150.0
    default_electricity_usd_per_kwh: float = 0.15
    default_token_usd: float = 1.0
    default_eth_usd: float = 3000.0
    risk_premium: float = 0.02  # fraction of the collateral at stake
    min_duration_seconds: float = 1.0

    def job_cost(self, estimated_seconds: float, collateral: int, context) -> int:
        """Cost floor of one job in token units, from whatever the context observes (defaults otherwise)."""
        hardware, state = context.local.hardware, context.global_state
        watts = getattr(hardware, "power_full_watts", None) or self.default_power_watts
        region = getattr(hardware, "region", None) or getattr(context, "region", None)
        kwh_price = self.default_electricity_usd_per_kwh
        token_usd, eth_usd, base_fee = self.default_token_usd, self.default_eth_usd, 0
        if state is not None:
            kwh_price = _lookup(getattr(state, "electricity", None), region, kwh_price)
            token_usd = _lookup(getattr(state, "token_prices", None), "TOKEN", token_usd)
            eth_usd = _lookup(getattr(state, "token_prices", None), "ETH", eth_usd)
            base_fee = getattr(getattr(state, "gas", None), "base_fee", 0) or 0
        hours = max(estimated_seconds, self.min_duration_seconds) / 3600
        electricity_usd = watts / 1000 * hours * kwh_price
        gas_usd = PROVIDER_GAS_PER_DEAL * base_fee / 1e18 * eth_usd
        unit = 10**self.token_decimals
        usd_cost = electricity_usd + gas_usd
        return int(usd_cost / token_usd * unit) + int(collateral * self.risk_premium)


def _lookup(table, key, default):
    if table is None:
        return default
    if isinstance(table, dict):
        value = table.get(key)
        if value is None and table:
            value = next(iter(table.values())) if key is None else None
        return default if value is None else value
    return default
