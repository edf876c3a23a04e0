"""The service directory (Fetch.ai TAC's RegisterAs / SearchFor) on EAS.

An agent lists what it sells or buys as a REVOCABLE EAS attestation of the profile schema below, made by
the agent about itself (attester = recipient = the agent) with no resolver, so any EAS tool can read the
directory. Updating a profile attests the new one with `refUID` = the previous listing, then revokes the
previous; withdrawing revokes. Searching reads the schema's Attested/Revoked events from EAS, fetches
each listing's data once with getAttestation, and filters.

Buyers and sellers share one schema with a `roles` bitmask (SELLER, BUYER or both) rather than two
schemas: an agent that does both keeps one listing, and one scan of the event log serves both searches.
For a seller the hardware fields are what it offers; for a buyer they describe the typical job it needs
(so a provider looks for buyers with `max_*` criteria: jobs that fit its machine). Prices are indicative
token units per hour of job; the binding price is the one in a signed offer.

An agent has at most one live listing: search shows each attester's newest unrevoked listing only, and
`register` is idempotent (an agent restarted from scratch finds its listing on chain and keeps it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntFlag

from eth_abi import decode, encode

from agents.chain.abi import eas_abi
from agents.chain.codec import ContractCodec
from agents.chain.logs import BlockCursor, get_logs_chunked
from agents.chain.rpc import RPCError
from agents.chain.sync import SyncClient
from agents.chain.transactions import Signer, TransactionReverted, send_transaction
from agents.knowledge.history import to_hex32
from agents.protocol import ValidationScheme, schema_uid, to_checksum_address

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_UID = b"\x00" * 32

PROFILE_SCHEMA = (
    "uint8 roles,address market,address token,string region,uint16 cpuCores,uint64 ramBytes,"
    "uint16 gpuCount,string gpuModel,uint256 minPrice,uint256 maxPrice,uint8 schemes"
)
PROFILE_TYPES = [part.split(" ")[0] for part in PROFILE_SCHEMA.split(",")]
PROFILE_RESOLVER = ZERO_ADDRESS
PROFILE_REVOCABLE = True
PROFILE_SCHEMA_UID = schema_uid(PROFILE_SCHEMA, PROFILE_RESOLVER, PROFILE_REVOCABLE)
SEND_POLL_INTERVAL = 0.05  # seconds between receipt polls: listing is part of an agent's start-up


class Role(IntFlag):
    SELLER = 1  # sells compute: a provider
    BUYER = 2  # buys compute: a client


def schemes_mask(schemes) -> int:
    """The `schemes` bitmask: bit s set when ValidationScheme s is accepted."""
    mask = 0
    for scheme in schemes:
        mask |= 1 << int(ValidationScheme(scheme))
    return mask


def schemes_from_mask(mask: int) -> frozenset[ValidationScheme]:
    return frozenset(scheme for scheme in ValidationScheme if mask & (1 << int(scheme)))


@dataclass(frozen=True)
class Profile:
    """What an agent trades on which market. Bad values raise ValueError when the profile is built."""

    roles: Role
    market: str
    token: str
    region: str = ""
    cpu_cores: int = 0
    ram_bytes: int = 0
    gpu_count: int = 0
    gpu_model: str = ""
    min_price: int = 0  # token units per hour of job
    max_price: int = 0
    schemes: frozenset[ValidationScheme] = field(default_factory=lambda: frozenset(ValidationScheme))

    def __post_init__(self):
        object.__setattr__(self, "roles", Role(self.roles))
        object.__setattr__(self, "market", to_checksum_address(self.market))
        object.__setattr__(self, "token", to_checksum_address(self.token))
        object.__setattr__(self, "schemes", frozenset(ValidationScheme(s) for s in self.schemes))
        if not self.roles or self.roles & ~(Role.SELLER | Role.BUYER):
            raise ValueError(f"roles must be SELLER, BUYER or both, got {self.roles!r}")
        widths = (("cpu_cores", 16), ("ram_bytes", 64), ("gpu_count", 16), ("min_price", 256), ("max_price", 256))
        for name, bits in widths:
            value = getattr(self, name)
            if not 0 <= value < 2**bits:
                raise ValueError(f"{name} must fit in uint{bits}, got {value}")
        if self.min_price > self.max_price:
            raise ValueError(f"min_price {self.min_price} is above max_price {self.max_price}")
        if not self.schemes:
            raise ValueError("a profile must accept at least one validation scheme")

    def encode(self) -> bytes:
        """The attestation data, ABI-encoded per PROFILE_SCHEMA."""
        return encode(
            PROFILE_TYPES,
            [
                int(self.roles), self.market, self.token, self.region, self.cpu_cores, self.ram_bytes,
                self.gpu_count, self.gpu_model, self.min_price, self.max_price, schemes_mask(self.schemes),
            ],
        )

    @classmethod
    def decode(cls, data: bytes) -> "Profile":
        """The profile in attestation data; raises ValueError (or an eth-abi DecodingError) if malformed."""
        roles, market, token, region, cpu, ram, gpus, model, low, high, mask = decode(PROFILE_TYPES, data)
        return cls(
            roles=Role(roles), market=market, token=token, region=region, cpu_cores=cpu, ram_bytes=ram,
            gpu_count=gpus, gpu_model=model, min_price=low, max_price=high, schemes=schemes_from_mask(mask),
        )


@dataclass(frozen=True)
class ProviderListing:
    """One live listing (of a seller or a buyer: the name follows TAC's usual use)."""

    uid: str
    attester: str  # the listed agent
    profile: Profile
    time: int  # when it was attested
    ref_uid: str  # the listing it replaced, or the zero UID
    expiration_time: int  # 0: never expires


@dataclass(frozen=True)
class SearchCriteria:
    """Filters; a None (or zero minimum) filter lets everything through."""

    role: Role = Role.SELLER
    market: str | None = None  # defaults to the directory's market, if it has one
    token: str | None = None
    region: str | None = None  # exact, case-insensitive
    min_cpu_cores: int = 0
    min_ram_bytes: int = 0
    min_gpu_count: int = 0
    max_cpu_cores: int | None = None  # for buyers' needs that must fit a machine
    max_ram_bytes: int | None = None
    max_gpu_count: int | None = None
    gpu_model: str | None = None  # substring, case-insensitive: "a100" matches "NVIDIA A100 80GB"
    min_price: int | None = None  # listings whose [min_price, max_price] overlaps this range
    max_price: int | None = None
    scheme: ValidationScheme | None = None  # the listing must accept it
    exclude: frozenset[str] = frozenset()  # attesters to leave out (e.g. oneself)

    def matches(self, listing: ProviderListing) -> bool:
        p = listing.profile
        checks = (
            bool(p.roles & self.role),
            self.market is None or p.market == to_checksum_address(self.market),
            self.token is None or p.token == to_checksum_address(self.token),
            self.region is None or p.region.casefold() == self.region.casefold(),
            p.cpu_cores >= self.min_cpu_cores,
            p.ram_bytes >= self.min_ram_bytes,
            p.gpu_count >= self.min_gpu_count,
            self.max_cpu_cores is None or p.cpu_cores <= self.max_cpu_cores,
            self.max_ram_bytes is None or p.ram_bytes <= self.max_ram_bytes,
            self.max_gpu_count is None or p.gpu_count <= self.max_gpu_count,
            self.gpu_model is None or self.gpu_model.casefold() in p.gpu_model.casefold(),
            self.min_price is None or p.max_price >= self.min_price,
            self.max_price is None or p.min_price <= self.max_price,
            self.scheme is None or ValidationScheme(self.scheme) in p.schemes,
            listing.attester not in {to_checksum_address(a) for a in self.exclude},
        )
        return all(checks)


def ensure_profile_schema(client: SyncClient, registry_address: str, sender_account) -> bytes:
    """The profile schema's UID, registering the schema in the SchemaRegistry only if nobody has yet.

    The UID depends only on (schema, resolver, revocable), so it is the same for every agent on a chain;
    an agent that loses a registration race finds the schema registered and carries on."""
    client = client.with_poll_interval(SEND_POLL_INTERVAL)
    registry = to_checksum_address(registry_address)

    def registered() -> bool:
        (found,) = client.call_function(registry, "getSchema(bytes32)", ["bytes32"], [PROFILE_SCHEMA_UID],
                                        ["(bytes32,address,bool,string)"])
        return bytes(found[0]) == PROFILE_SCHEMA_UID

    if registered():
        return PROFILE_SCHEMA_UID
    register = ContractCodec(eas_abi("SchemaRegistry")).encode_call(
        "register", PROFILE_SCHEMA, PROFILE_RESOLVER, PROFILE_REVOCABLE)
    try:
        send_transaction(client, Signer(sender_account.key), registry, register)
    except (RPCError, TransactionReverted):
        if not registered():
            raise
    return PROFILE_SCHEMA_UID


class ServiceDirectory:
    """One agent's handle on the directory. `account` (an eth_account LocalAccount) is needed to
    register; anyone can search. `market`, if given, is the default market of searches."""

    def __init__(
        self,
        client: SyncClient,
        eas_address: str,
        account=None,
        *,
        market: str | None = None,
        schema: bytes = PROFILE_SCHEMA_UID,
        from_block: int = 0,
        chunk_size: int = 2_000,
    ):
        self.client = client.with_poll_interval(SEND_POLL_INTERVAL)
        self.eas_address = to_checksum_address(eas_address)
        self.account = account
        self.market = to_checksum_address(market) if market else None
        self.schema = bytes(schema)
        self.chunk_size = chunk_size
        self._codec = ContractCodec(eas_abi("EAS"))
        self._cursor = BlockCursor(from_block)
        self._reset()

    @classmethod
    def connect(cls, client: SyncClient, eas_address: str, account, **options) -> "ServiceDirectory":
        """A directory on the EAS at `eas_address`, registering the profile schema if it is missing."""
        eas = to_checksum_address(eas_address)
        (registry,) = client.read(eas, ContractCodec(eas_abi("EAS")), "getSchemaRegistry")
        return cls(client, eas_address, account, schema=ensure_profile_schema(client, registry, account), **options)

    def _reset(self) -> None:
        self._cursor.reset()
        self._listings: dict[str, ProviderListing] = {}  # live or revoked, by uid
        self._revoked: set[str] = set()

    # --- reading ------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the listings attested and revoked since the last refresh."""
        if self._cursor.rewound(self.client):
            self._reset()
        last = self.client.block_number()
        start = self._cursor.next_block
        if last < start:
            return
        events = ["0x" + self._codec.topics[name].hex() for name in ("Attested", "Revoked")]
        topics = [events, None, None, ["0x" + self.schema.hex()]]
        attested = []
        for chunk in get_logs_chunked(self.client, self.eas_address, topics, start, last, self.chunk_size):
            for log in chunk:
                name, args = self._codec.decode_log(log)
                uid = to_hex32(args["uid"])
                if name == "Attested":
                    attested.append(uid)
                else:
                    self._revoked.add(uid)
        self._load(attested)
        self._cursor.advance(self.client, last)

    def _load(self, uids: list[str]) -> None:
        """Fetch the data of new listings (one batch), keeping those whose data is a valid profile."""
        if not uids:
            return
        calls = [(self.eas_address, self._codec.encode_call("getAttestation", bytes.fromhex(uid[2:]))) for uid in uids]
        for uid, result in zip(uids, self.client.call_batch(calls)):
            (attestation,) = self._codec.decode_result("getAttestation", result)
            try:
                profile = Profile.decode(attestation["data"])
            except Exception:  # anyone can attest garbage to a resolver-less schema: not a listing
                continue
            if attestation["revocationTime"]:
                self._revoked.add(uid)
            self._listings[uid] = ProviderListing(
                uid=uid, attester=attestation["attester"], profile=profile, time=attestation["time"],
                ref_uid=to_hex32(attestation["refUID"]), expiration_time=attestation["expirationTime"],
            )

    def listings(self, *, refresh: bool = True) -> list[ProviderListing]:
        """Each agent's newest live (unrevoked, unexpired) listing, newest first."""
        if refresh:
            self.refresh()
        now = self.client.timestamp()
        newest: dict[str, ProviderListing] = {}
        for listing in self._listings.values():
            if listing.uid in self._revoked or 0 < listing.expiration_time <= now:
                continue
            current = newest.get(listing.attester)
            if current is None or listing.time >= current.time:
                newest[listing.attester] = listing
        return sorted(newest.values(), key=lambda listing: listing.time, reverse=True)

    def search(self, criteria: SearchCriteria | None = None) -> list[ProviderListing]:
        """The live listings that match `criteria` (default: every seller on this directory's market)."""
        criteria = criteria or SearchCriteria()
        if criteria.market is None and self.market is not None:
            criteria = replace(criteria, market=self.market)
        return [listing for listing in self.listings() if criteria.matches(listing)]

    def listing_of(self, agent: str) -> ProviderListing | None:
        """The agent's live listing, if it has one."""
        agent = to_checksum_address(agent)
        return next((listing for listing in self.listings() if listing.attester == agent), None)

    def own_listing(self) -> ProviderListing | None:
        """This agent's live listing, read back from the chain (so it survives a restart)."""
        return self.listing_of(self._signer().address)

    # --- writing ------------------------------------------------------------------------------------

    def _signer(self):
        if self.account is None:
            raise ValueError("this directory has no account: pass one to list, update or revoke")
        return self.account

    def register(self, profile: Profile, *, expiration_time: int = 0) -> str:
        """List `profile`; returns the listing's UID. Idempotent: the live listing is kept if it already
        says the same, and replaced (see `update`) if it says something else."""
        current = self.own_listing()
        if current is not None and current.profile == profile and current.expiration_time == expiration_time:
            return current.uid
        return self.update(profile, expiration_time=expiration_time)

    def update(self, profile: Profile, *, expiration_time: int = 0) -> str:
        """Attest `profile` with refUID = the previous listing, then revoke the previous (in that order,
        so the agent is never unlisted in between). Returns the new UID."""
        account = self._signer()
        if not isinstance(profile, Profile):
            raise TypeError(f"expected a Profile, got {type(profile).__name__}")
        previous = self.own_listing()
        ref = bytes.fromhex(previous.uid[2:]) if previous else ZERO_UID
        request = (self.schema, (account.address, expiration_time, True, ref, profile.encode(), 0))
        receipt = self._send(self._codec.encode_call("attest", request))
        uid = self._attested_uid(receipt)
        self._revoke_all(except_uid=uid)
        return uid

    def _attested_uid(self, receipt) -> str:
        for log in receipt["logs"]:
            decoded = self._codec.decode_log(log)
            if decoded is not None and decoded[0] == "Attested":
                return to_hex32(decoded[1]["uid"])
        raise TransactionReverted(f"no Attested event in {receipt['transactionHash']}")

    def revoke(self) -> bool:
        """Withdraw this agent's listing. Returns False if it had none."""
        return self._revoke_all()

    def _revoke_all(self, except_uid: str | None = None) -> bool:
        """Revoke every unrevoked listing of this agent but `except_uid`, in one transaction. Usually
        that is one listing; more if an agent died between attesting a new listing and revoking the old."""
        self.refresh()
        me = self._signer().address
        now = self.client.timestamp()
        stale = [
            bytes.fromhex(listing.uid[2:])
            for listing in self._listings.values()
            if listing.attester == me and listing.uid not in self._revoked and listing.uid != except_uid
            and not 0 < listing.expiration_time <= now  # expired: already out of every search
        ]
        if not stale:
            return False
        requests = [(self.schema, [(uid, 0) for uid in stale])]
        self._send(self._codec.encode_call("multiRevoke", requests))
        return True

    def _send(self, data: bytes) -> dict:
        return send_transaction(self.client, Signer(self._signer().key), self.eas_address, data)


__all__ = [
    "PROFILE_SCHEMA", "PROFILE_SCHEMA_UID", "Profile", "ProviderListing", "Role", "SearchCriteria",
    "ServiceDirectory", "ensure_profile_schema", "schemes_from_mask", "schemes_mask",
]
