"""What a job costs a provider, in payment-token units: the gas of the provider's own transactions on the
deal, electricity for the job's energy at its region's price and forecast, the amortisation of the machine
for the share of it the job holds, and a premium for the risk of losing the collateral.

Every input comes from the context the agent observes; what it does not observe (a light agent without
off-chain oracles) falls back to the model's stated defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agents.policy import Context

# Gas of the transactions a provider sends on a deal that goes well (gas-snapshot.json, rounded up to the
# next thousand; tests/test_economics.py checks them against the snapshot): its offer, the commencement and
# completion attestations, and the settlement once the validation window has passed.
PROVIDER_GAS = {
    "offer": 39_000,
    "commencement attestation": 240_000,
    "completion attestation": 388_000,
    "settle": 42_000,
}
PROVIDER_GAS_PER_DEAL = sum(PROVIDER_GAS.values())
# Gas of the transactions a client sends on such a deal: its request, the acceptance that locks both sides,
# and the approval that releases the payment early.
CLIENT_GAS = {
    "request": 46_000,
    "accept": 135_000,
    "validation attestation (client approves)": 274_000,
}
CLIENT_GAS_PER_DEAL = sum(CLIENT_GAS.values())
HOURS_PER_YEAR = 24 * 365.25


@dataclass(frozen=True)
class CostBreakdown:
    """One job's cost to a provider, in USD, by cause."""

    gas_usd: float
    electricity_usd: float
    hardware_usd: float
    risk_usd: float

    @property
    def total_usd(self) -> float:
        return self.gas_usd + self.electricity_usd + self.hardware_usd + self.risk_usd


@dataclass(frozen=True)
class CostModel:
    token_symbol: str = "USDC"  # the payment token's symbol in the price oracle
    token_decimals: int = 18
    default_power_watts: float = 150.0
    default_electricity_usd_per_kwh: float = 0.15
    default_token_usd: float = 1.0
    default_eth_usd: float = 3000.0
    # What the whole machine costs per hour of its life (purchase price / service life): a job pays for the
    # share of the machine's cores it holds for as long as it runs.
    hardware_usd_per_hour: float = 0.0
    risk_premium: float = 0.02  # fraction of the collateral at stake
    min_duration_seconds: float = 1.0
    gas_per_deal: int = PROVIDER_GAS_PER_DEAL

    def breakdown(self, estimated_seconds: float, collateral: int, context: Context, cores: int | None = None
                  ) -> CostBreakdown:
        """The cost of a job that holds `cores` of the machine (all of it: None) for `estimated_seconds`.

        Electricity is priced at the mean of the region's price now and its forecast (the job runs from now
        on); gas at the chain's fee per gas now, for the transactions of a deal that goes well."""
        local, state = context.local, context.global_state
        hardware = local.hardware
        watts = getattr(hardware, "power_full_watts", None) or self.default_power_watts
        machine_cores = getattr(hardware, "logical_cores", None)
        share = min(1.0, cores / machine_cores) if cores and machine_cores else 1.0
        kwh_price, token_usd, eth_usd, fee_per_gas = (
            self.default_electricity_usd_per_kwh, self.default_token_usd, self.default_eth_usd, 0
        )
        if state is not None:
            kwh_price = _price(state.electricity_prices, local.region, kwh_price)
            forecast = (state.electricity_forecasts or {}).get(local.region)
            if forecast is not None:
                kwh_price = (kwh_price + forecast.mean) / 2
            token_usd = _price(state.token_prices, self.token_symbol, token_usd)
            eth_usd = _price(state.token_prices, "ETH", eth_usd)
            if state.gas is not None:
                fee_per_gas = state.gas.fee_per_gas_wei
        hours = max(estimated_seconds, self.min_duration_seconds) / 3600
        return CostBreakdown(
            gas_usd=self.gas_per_deal * fee_per_gas / 1e18 * eth_usd,
            electricity_usd=watts * share / 1000 * hours * kwh_price,
            hardware_usd=self.hardware_usd_per_hour * share * hours,
            risk_usd=collateral * self.risk_premium / 10**self.token_decimals * token_usd,
        )

    def gas_tokens(self, gas: int, context: Context) -> int:
        """What `gas` costs at the chain's fee per gas now, in token units."""
        state = context.global_state
        fee_per_gas = state.gas.fee_per_gas_wei if state is not None and state.gas is not None else 0
        token_prices = state.token_prices if state is not None else None
        usd = gas * fee_per_gas / 1e18 * _price(token_prices, "ETH", self.default_eth_usd)
        return int(usd / _price(token_prices, self.token_symbol, self.default_token_usd) * 10**self.token_decimals)

    def job_cost(self, estimated_seconds: float, collateral: int, context: Context, cores: int | None = None) -> int:
        """Cost floor of one job in token units."""
        cost = self.breakdown(estimated_seconds, collateral, context, cores)
        token_usd = _price(context.global_state.token_prices if context.global_state else None, self.token_symbol,
                           self.default_token_usd)
        return int(cost.total_usd / token_usd * 10**self.token_decimals)


def _price(table: Mapping[str, float] | None, key: str | None, default: float) -> float:
    if table is None or key is None:
        return default
    value = table.get(key)
    return default if value is None else value
