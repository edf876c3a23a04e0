"""The market's rules in memory: the scheme, the escrow and the attestations executed in Python exactly as the
contracts execute them (contracts/ComputeMarket.sol, CollateralEscrow.sol, EAS as the schemas' registry), with
the same transitions, deadlines, named errors, events and escrow accounting. tests/test_memory_market.py proves
the equality against the deployed contracts under random call sequences.

`MemoryChain` puts the parts together: the tokens (`TokenLedger`), the escrow (`Escrow`), the attestation
service (`AttestationService`) and the market (`ComputeMarket`, whose resolver half takes the attestations),
sharing one clock and one call context. Every state-changing method takes its caller first and returns the
events of the call, or raises `Revert` and changes nothing.
"""

from __future__ import annotations

from agents.memory.attestations import Attestation, AttestationService
from agents.memory.deal import Deal
from agents.memory.escrow import Escrow
from agents.memory.evm import CallContext, Clock, Event, Revert
from agents.memory.market import ComputeMarket
from agents.memory.tokens import TokenLedger
from agents.protocol import to_checksum_address

__all__ = ["Attestation", "Deal", "Event", "MemoryChain", "Revert"]

# Where the contracts are when a memory chain stands alone (anvil's first deployments from its first account, so
# that request hashes look like the local chain's; any addresses do).
DEFAULT_ADDRESSES = {
    "eas": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "market": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    "token": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
}


class MemoryChain:
    """One market, its attestation service and its tokens, at a clock the caller moves (`now`)."""

    def __init__(self, *, court: str, court_window: int, chain_id: int = 31337, market: str | None = None,
                 eas: str | None = None, tokens: tuple[str, ...] | None = None, now: int = 0):
        market = to_checksum_address(market or DEFAULT_ADDRESSES["market"])
        eas = to_checksum_address(eas or DEFAULT_ADDRESSES["eas"])
        tokens = tuple(to_checksum_address(t) for t in (tokens or (DEFAULT_ADDRESSES["token"],)))
        self.token = tokens[0]  # the payment token, as a deployment has one
        self.clock = Clock(now)
        self.calls = CallContext()
        self.contracts = {market, eas, *tokens}  # addresses with code
        self.tokens = TokenLedger(self.calls)
        for token in tokens:
            self.tokens.add_token(token)
        self.escrow = Escrow(market, self.tokens, self.calls, self.contracts)
        self.eas = AttestationService(eas, self.calls, self.clock)
        self.market = ComputeMarket(market, chain_id, to_checksum_address(court), court_window, self.escrow,
                                    self.calls, self.clock, self.contracts)
        self.market.register_schemas(self.eas)

    @property
    def now(self) -> int:
        return self.clock.now

    @now.setter
    def now(self, value: int) -> None:
        self.clock.now = value
