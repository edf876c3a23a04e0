"""The stepped model's market in memory (`--backend memory`): no node, no signing, no encoding.

It stands where a fresh anvil would be after `ape run simulate` deployed the contracts: the same addresses, the
same chain id, the same block numbers and block times (the deployment's blocks, then the directory's schema), so
that request hashes, and with them deal ids, are the chain run's. The knowledge every agent can read comes from
the kept events: the history is `ChainHistory` fed decoded events instead of logs, the directory the providers'
profile attestations. Gas is the gas table's (agents.runtime.memory_backend).
"""

from __future__ import annotations

from eth_abi import decode
from eth_account import Account

from agents.chain.logs import BlockCursor
from agents.deploy.addresses import Deployment
from agents.jobs.cache import JobCache
from agents.knowledge.directory import PROFILE_SCHEMA_UID, Profile, ProviderListing, SearchCriteria
from agents.knowledge.history import SCHEMA_NAMES, TABLES, ChainHistory, to_hex32
from agents.memory import MemoryChain
from agents.oracles.models import GasPrice
from agents.protocol import Domain
from agents.runtime.connection import MarketConnection
from agents.runtime.memory_backend import MemoryBackend
from agents.simulation.markets import CLOCK_START

FRESH_ANVIL = {
    "chain_id": 31337,
    "registry": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "eas": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    "market": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
    "token": "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9",
    "block": 3,  # the market's
}
COURT_WINDOW = 3 * 24 * 3600  # the deployment's default (agents.deploy.system.DEFAULT_COURT_WINDOW)


def fresh_deployment(court: str) -> Deployment:
    """The deployment a fresh anvil gets, with `court` as the market's court."""
    chain = MemoryChain(court=court, court_window=COURT_WINDOW, market=FRESH_ANVIL["market"])
    uids = {kind.name.lower(): "0x" + uid.hex() for kind, uid in chain.market.schema_uids.items()}
    return Deployment(**FRESH_ANVIL, commencement_schema=uids["commencement"], completion_schema=uids["completion"],
                      validation_schema=uids["validation"], court=court, court_window=COURT_WINDOW)


class _NoResolver:
    """A schema without a resolver (the directory's profiles): EAS accepts any attestation of it."""

    def on_attest(self, attestation, value: int) -> None:
        return None


class MemoryMarket:
    """The market in memory, stepped by the model."""

    name = "memory"
    # Agents do their file work and jobs inline (agents.roles.io.blocking): the store is local, each distinct job
    # runs once (JobCache), and a thread hop per spec, job and result cost more than the work itself.
    work_inline = True

    def __init__(self, funder_key: str, deployment: Deployment | None = None, head: tuple[int, int] | None = None):
        """`head`: the (number, time) of the latest block before the run, where a chain run on the same deployment
        started from (by default, a fresh anvil's after `ape run simulate` deployed)."""
        self.funder_key = funder_key
        court = Account.from_key(funder_key).address
        self.deployment = deployment = deployment or fresh_deployment(court)
        self.chain = MemoryChain(court=deployment.court or court, court_window=deployment.court_window or COURT_WINDOW,
                                 chain_id=deployment.chain_id, market=deployment.market, eas=deployment.eas,
                                 tokens=(deployment.token,))
        self.chain.eas.register(PROFILE_SCHEMA_UID, _NoResolver(), revocable=True)
        if head is None:
            # After the market: the token's block, then the directory schema's (one a second from CLOCK_START).
            head = (deployment.block + 2, CLOCK_START + deployment.block + 1)
        self.own = MemoryBackend(self.chain, token=deployment.token, first_block=head[0], first_time=head[1])
        self.refused = 0
        # Deterministic jobs: each distinct spec runs once, and its verified result serves every later run of it.
        self.jobs = JobCache()
        self.job_runner = self.jobs.run

    async def open(self, base_fee_wei: int) -> MarketConnection:
        self.base_fee_wei = base_fee_wei
        return MarketConnection.over(self.own, self.deployment)

    async def latest_time(self) -> int:
        return self.chain.now

    def gas_source(self, min_priority_fee_wei: int):
        return _HeldGas(self, min_priority_fee_wei)

    async def court(self) -> str:
        return self.chain.market.court

    async def give_gas_money(self, addresses: list[str]) -> None:
        """Gas is accounted, not paid from a balance: nothing to give."""

    async def block_number(self) -> int:
        return self.own.block_number_now

    async def mine_block(self, timestamp: int) -> int:
        self.own.mine(timestamp)
        return timestamp

    def set_outage(self, down: bool) -> None:
        self.own.down = down

    @property
    def refused_in_outages(self) -> int:
        return self.refused

    def knowledge(self, first_block: int):
        return MemoryHistory(self, first_block), MemoryDirectory(self)

    async def token_totals(self, addresses: list[str]) -> tuple[int, int, int]:
        tokens, token, market = self.chain.tokens, self.deployment.token, self.deployment.market
        held = tokens.balance_of(token, market)
        return sum(tokens.balance_of(token, a) for a in addresses) + held, held, self.chain.escrow.total_owed(token)

    async def balances(self, addresses: list[str]) -> list[tuple[int, int]]:
        return await self.own.balances(self.deployment.token, addresses)

    def request_counts(self, connection: MarketConnection) -> dict:
        return {"memory calls": self.own.calls}

    async def close(self, connection: MarketConnection) -> None:
        await connection.close()


class _HeldGas:
    """The fees the model holds: its base fee and the agents' tip (what GasOracle reads on the stepped chain)."""

    def __init__(self, market: MemoryMarket, priority_fee_wei: int):
        self.market, self.priority_fee_wei = market, priority_fee_wei

    def gas(self, now: float) -> GasPrice:
        return GasPrice(self.market.base_fee_wei, self.priority_fee_wei, self.market.own.block_number_now)


class MemoryHistory(ChainHistory):
    """`ChainHistory` over the memory backend's kept events: the same tables, with no logs to read or decode."""

    def __init__(self, market: MemoryMarket, from_block: int):
        deployment = market.deployment
        self.market, self.own = market, market.own
        self.market_address, self.eas_address = deployment.market, deployment.eas
        self.domain = Domain(deployment.chain_id, deployment.market)
        self.confirmations = 0
        self.schema_names = {uid: name for name, uid in zip(
            SCHEMA_NAMES, (bytes.fromhex(getattr(deployment, f"{n}_schema")[2:]) for n in SCHEMA_NAMES))}
        self.cursor = BlockCursor(from_block)
        self._rows = {name: [] for name in TABLES}
        self._offers_by_hash, self._attestations_by_uid, self._frames = {}, {}, {}
        self._next = from_block

    @property
    def next_block(self) -> int:
        return self._next

    def refresh(self, to_block: int | None = None) -> int:
        last = self.own.block_number_now if to_block is None else min(to_block, self.own.block_number_now)
        count = 0
        new_attestations: list[dict] = []
        for block in self.own.blocks_between(self._next, last):
            for from_eas, name, args, tx_hash, log_index in block.events:
                if from_eas and bytes(args["schemaUID"]) not in self.schema_names:
                    continue
                where = {"block": block.number, "time": block.time, "tx_hash": tx_hash}
                self.ingest_event(from_eas, name, args, where, log_index, new_attestations)
                count += 1
        self._complete_attestations(new_attestations)
        self._frames.clear()
        self._next = max(self._next, last + 1)
        return count

    def _complete_attestations(self, rows: list[dict]) -> None:
        for row in rows:
            if row["deal_id"] is None or row["schema"] == "validation":
                data = self.own.chain.eas.get_attestation(bytes.fromhex(row["uid"][2:])).data
                row["deal_id"] = to_hex32(data[:32])
                if row["schema"] == "validation":
                    row["approved"] = bool(decode(["bytes32", "bool"], data)[1])

    def _accepted_terms(self, offer_hash: str, tx_hash) -> tuple[dict, str | None]:
        """An offer accepted without its Offered event (signed off chain): the terms the call carried."""
        offered = self._offers_by_hash.get(offer_hash)
        if offered is not None:
            return offered, "offer"
        terms = self.own.accepted_terms.get(tx_hash)
        return (terms, "calldata") if terms else ({}, None)


class MemoryDirectory:
    """The service directory's live listings on this market, from the providers' profile attestations."""

    def __init__(self, market: MemoryMarket):
        self.market = market
        # An attestation never changes once made: each is decoded once (None: not a listing).
        self._listings: dict[bytes, ProviderListing | None] = {}

    def search(self, criteria: SearchCriteria | None = None) -> list[ProviderListing]:
        criteria = criteria or SearchCriteria(market=self.market.deployment.market)
        newest: dict[str, ProviderListing] = {}
        for uid in self.market.own.attested.get(PROFILE_SCHEMA_UID, ()):
            listing = self._listings[uid] if uid in self._listings else self._decode(uid)
            if listing is None:
                continue
            current = newest.get(listing.attester)
            if current is None or listing.time >= current.time:
                newest[listing.attester] = listing
        listings = sorted(newest.values(), key=lambda listing: listing.time, reverse=True)
        return [listing for listing in listings if criteria.matches(listing)]

    def _decode(self, uid: bytes) -> ProviderListing | None:
        attestation = self.market.chain.eas.get_attestation(uid)
        try:
            profile = Profile.decode(attestation.data)
        except Exception:  # noqa: BLE001 - anyone can attest garbage to a resolver-less schema: not a listing
            profile = None
        listing = self._listings[uid] = None if profile is None else ProviderListing(
            uid=to_hex32(uid), attester=attestation.attester, profile=profile, time=attestation.time,
            ref_uid=to_hex32(attestation.ref_uid), expiration_time=attestation.expiration_time)
        return listing
