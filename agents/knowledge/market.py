"""What a live agent knows of the market beyond its own deals: the service directory's live listings and every
party's reputation, read from the chain and re-read as the market moves.

A stepped simulation refreshes the same knowledge between steps (agents.simulation.model); a live agent calls
`keep_fresh`, which re-reads it every few seconds in a thread, so the reads never hold up its reactions. Policies
see it through `ContextSources` (`directory=knowledge.listings`, `reputation=knowledge.provider_reputation`, ...).
"""

from __future__ import annotations

import asyncio
import logging

from agents.chain.rpc import RPCError, RPCUnavailable
from agents.chain.sync import SyncClient
from agents.knowledge.directory import Profile, ProviderListing, Role, ServiceDirectory
from agents.knowledge.history import ChainHistory
from agents.knowledge.reputation import ReputationBook, ValidatorReputation

log = logging.getLogger(__name__)

# Listings and reputations change on the scale of whole deals (minutes): re-reading them this often keeps a
# client's choice of providers current without loading the node.
REFRESH_SECONDS = 10.0


def seller_profile(hardware, *, market: str, token: str, region: str = "") -> Profile:
    """What a provider lists in the directory: the machine it profiled (`agents.hardware.HardwareProfile`) and,
    if it says, its region. The first GPU names the model (a machine's GPUs are usually alike)."""
    capacity = hardware.capacity
    return Profile(
        roles=Role.SELLER, market=market, token=token, region=region, cpu_cores=capacity.cores,
        ram_bytes=capacity.ram_bytes, gpu_count=capacity.gpus,
        gpu_model=hardware.gpus[0].model if hardware.gpus else "",
    )


class MarketKnowledge:
    """The directory's sellers on one market and the reputations in its history since `from_block`, as of the
    last `refresh()` (both are swapped in together, so a policy never sees one newer than the other)."""

    def __init__(self, client: SyncClient, *, market: str, eas: str, from_block: int = 0):
        self.client = client
        self.directory = ServiceDirectory(client, eas, market=market, from_block=from_block)
        self.history = ChainHistory(client, market, eas, from_block=from_block)
        self._listings: list[ProviderListing] = []
        self._book: ReputationBook | None = None

    def refresh(self) -> None:
        """Read what was listed, revoked and closed since the last refresh (blocking: a few RPC calls)."""
        self.history.refresh()
        listings = self.directory.search()
        book = ReputationBook.from_history(self.history, self.client.timestamp())
        self._listings, self._book = listings, book

    async def keep_fresh(self, interval: float = REFRESH_SECONDS) -> None:
        """Refresh every `interval` seconds until cancelled; an unreachable node keeps the last knowledge."""
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.refresh)
            except (RPCUnavailable, RPCError, OSError) as error:
                log.warning("market knowledge not refreshed (kept as of the last refresh): %s", error)

    def listings(self) -> list[ProviderListing]:
        """The live seller listings on this market, newest first."""
        return self._listings

    def _reputations(self) -> ReputationBook:
        if self._book is None:
            raise RuntimeError("MarketKnowledge.refresh() must run before reputations are read")
        return self._book

    def provider_reputation(self, address: str) -> float:
        return self._reputations().provider_score(address)

    def client_reputation(self, address: str) -> float:
        return self._reputations().client_score(address)

    def validator_reputation(self, address: str) -> ValidatorReputation:
        return self._reputations().validator(address)


__all__ = ["REFRESH_SECONDS", "MarketKnowledge", "seller_profile"]
