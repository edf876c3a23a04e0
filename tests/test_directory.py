"""The service directory end to end on the real EAS: schema registration, listing, search filters,
update (refUID chain), revocation, expiry, and a directory rebuilt from the chain after a restart."""

from dataclasses import replace

import pytest
from eth_abi import encode
from eth_account import Account

from agents.chain.abi import eas_abi
from agents.chain.codec import ContractCodec
from agents.chain.sync import SyncClient
from agents.chain.transactions import Signer, send_transaction
from agents.hardware import HardwareProfile
from agents.knowledge.directory import (
    PROFILE_SCHEMA,
    PROFILE_SCHEMA_UID,
    Profile,
    Role,
    SearchCriteria,
    ServiceDirectory,
    ensure_profile_schema,
)
from agents.knowledge.market import MarketKnowledge, seller_profile
from agents.knowledge.reputation import ReputationBook, ReputationParams
from agents.protocol import ValidationScheme, schema_uid

EAS_CODEC = ContractCodec(eas_abi("EAS"))


def attest(node, system, key, request) -> dict:
    """An EAS attestation made outside the directory, as any EAS tool could."""
    return send_transaction(node, Signer(key.key), system.eas.address, EAS_CODEC.encode_call("attest", request))


def attestation(node, system, uid: str) -> dict:
    (found,) = node.read(system.eas.address, EAS_CODEC, "getAttestation", bytes.fromhex(uid[2:]))
    return found


GIB = 2**30
ZERO_ADDRESS = "0x" + "00" * 20


@pytest.fixture(scope="module")
def node(chain):
    return SyncClient.connect(chain.provider.uri)


@pytest.fixture(scope="module")
def keys(accounts):
    """Local eth_account signers of the test accounts, by role in these tests."""
    return {name: Account.from_key(accounts[i].private_key) for name, i in
            (("buyer", 1), ("gpu_seller", 2), ("small_seller", 5), ("trader", 4))}


@pytest.fixture(scope="module")
def schema_registration(node, system, keys):
    """Registers the profile schema through ensure_profile_schema three times, recording what it sent."""
    sender, other = keys["buyer"], keys["trader"]
    registry, registry_codec = system.registry.address, ContractCodec(eas_abi("SchemaRegistry"))
    (before,) = node.read(registry, registry_codec, "getSchema", PROFILE_SCHEMA_UID)
    nonces = [node.nonce(sender.address), node.nonce(other.address)]
    uids = [ensure_profile_schema(node, registry, sender)]
    after_first = [node.nonce(sender.address), node.nonce(other.address)]
    uids += [ensure_profile_schema(node, registry, key) for key in (other, sender)]
    after_all = [node.nonce(sender.address), node.nonce(other.address)]
    (record,) = node.read(registry, registry_codec, "getSchema", PROFILE_SCHEMA_UID)
    return dict(before=before, nonces=nonces, after_first=after_first, after_all=after_all, uids=uids, record=record)


def test_registering_the_schema_twice_is_a_no_op(schema_registration, directories):
    r = schema_registration
    assert r["before"]["uid"] == b"\x00" * 32  # not registered before
    assert r["uids"] == [PROFILE_SCHEMA_UID] * 3
    uid, resolver, revocable, schema = r["record"].values()
    assert (uid, resolver, revocable, schema) == (PROFILE_SCHEMA_UID, ZERO_ADDRESS, True, PROFILE_SCHEMA)
    assert r["after_first"] == [r["nonces"][0] + 1, r["nonces"][1]]  # one registration transaction
    assert r["after_all"] == r["after_first"]  # then none


@pytest.fixture(scope="module")
def profiles(system, token):
    market, tok = system.market.address, token.address
    both = frozenset(ValidationScheme)
    return {
        "gpu_seller": Profile(Role.SELLER, market, tok, "eu-west", 16, 64 * GIB, 1, "NVIDIA A100 80GB", 100, 200, both),
        "small_seller": Profile(
            Role.SELLER, market, tok, "us-east", 4, 8 * GIB, 0, "", 50, 80, {ValidationScheme.OPTIMISTIC}
        ),
        "buyer": Profile(Role.BUYER, market, tok, "eu-west", 8, 16 * GIB, 0, "", 60, 150, both),
        "trader": Profile(Role.SELLER | Role.BUYER, market, tok, "EU-West", 8, 32 * GIB, 0, "", 90, 120,
                          {ValidationScheme.VALIDATOR}),
    }


@pytest.fixture(scope="module")
def directories(node, system, keys, profiles, schema_registration):
    """Every agent listed, each through its own directory handle."""
    start = node.block_number() + 1
    handles = {
        name: ServiceDirectory.connect(
            node, system.eas.address, key, market=system.market.address, from_block=start, chunk_size=3
        )
        for name, key in keys.items()
    }
    handles["uids"] = {name: handles[name].register(profiles[name]) for name in keys}
    return handles


def listed(directory, **criteria):
    return {listing.attester for listing in directory.search(SearchCriteria(**criteria))}


def test_search_finds_every_seller_with_its_profile(directories, keys, profiles):
    found = {listing.attester: listing for listing in directories["buyer"].search()}
    assert set(found) == {keys[n].address for n in ("gpu_seller", "small_seller", "trader")}
    gpu = found[keys["gpu_seller"].address]
    assert gpu.profile == profiles["gpu_seller"]
    assert gpu.uid == directories["uids"]["gpu_seller"]
    assert gpu.ref_uid == "0x" + "00" * 32 and gpu.expiration_time == 0 and gpu.time > 0


def test_a_live_agents_knowledge_holds_the_sellers_and_scores_newcomers_at_the_prior(node, system, directories,
                                                                                    keys):
    knowledge = MarketKnowledge(node, market=system.market.address, eas=system.eas.address)
    with pytest.raises(RuntimeError, match="refresh"):
        knowledge.provider_reputation(keys["gpu_seller"].address)  # nothing read yet: no made-up score
    assert knowledge.listings() == []
    knowledge.refresh()
    assert {listing.attester for listing in knowledge.listings()} == {
        keys[n].address for n in ("gpu_seller", "small_seller", "trader")
    }
    prior = ReputationBook({}, {}, ReputationParams(), now=0).default_score
    assert knowledge.provider_reputation(keys["gpu_seller"].address) == prior  # no deal closed on this market
    assert knowledge.validator_reputation(keys["trader"].address).score == prior


def test_a_machine_is_listed_with_its_cores_ram_and_gpus(system, token):
    machine = HardwareProfile.from_dict({
        "cpu_model": "test", "physical_cores": 8, "logical_cores": 16, "ram_gib": 64, "benchmark_score": 1.0,
        "gpus": [{"model": "NVIDIA L4", "memory_gib": 24}] * 2,
    })
    profile = seller_profile(machine, market=system.market.address, token=token.address, region="eu-west")
    assert (profile.roles, profile.region, profile.cpu_cores, profile.ram_bytes, profile.gpu_count,
            profile.gpu_model) == (Role.SELLER, "eu-west", 16, 64 * GIB, 2, "NVIDIA L4")
    assert profile.schemes == frozenset(ValidationScheme) and Profile.decode(profile.encode()) == profile


def test_search_filters_really_filter(directories, keys, system, accounts):
    d = directories["buyer"]
    gpu, small, trader, buyer = (keys[n].address for n in ("gpu_seller", "small_seller", "trader", "buyer"))
    assert listed(d, region="eu-west") == {gpu, trader}  # case-insensitive
    assert listed(d, min_cpu_cores=10) == {gpu}
    assert listed(d, min_ram_bytes=32 * GIB) == {gpu, trader}
    assert listed(d, min_gpu_count=1) == {gpu}
    assert listed(d, gpu_model="a100") == {gpu}
    assert listed(d, gpu_model="H100") == set()
    assert listed(d, max_price=60) == {small}  # [50, 80] overlaps [.., 60]; [90, 120] and [100, 200] do not
    assert listed(d, min_price=150, max_price=300) == {gpu}
    assert listed(d, min_price=85, max_price=95) == {trader}
    assert listed(d, scheme=ValidationScheme.VALIDATOR) == {gpu, trader}
    assert listed(d, scheme=ValidationScheme.OPTIMISTIC) == {gpu, small}
    assert listed(d, region="eu-west", scheme=ValidationScheme.OPTIMISTIC, min_ram_bytes=GIB) == {gpu}
    assert listed(d, exclude=frozenset({gpu.lower()})) == {small, trader}
    assert listed(d, token=accounts[9].address) == set()
    assert listed(d, market=accounts[9].address) == set()
    # Providers looking for buyers whose jobs fit an 8-core machine.
    assert listed(directories["gpu_seller"], role=Role.BUYER) == {buyer, trader}
    assert listed(directories["gpu_seller"], role=Role.BUYER, max_cpu_cores=8, max_ram_bytes=16 * GIB) == {buyer}


def test_update_links_to_the_previous_listing_and_revokes_it(node, system, directories, keys, profiles):
    seller = directories["gpu_seller"]
    old_uid = directories["uids"]["gpu_seller"]
    cheaper = replace(profiles["gpu_seller"], min_price=80, max_price=150)
    new_uid = seller.update(cheaper)
    assert new_uid != old_uid and seller.own_listing().uid == new_uid

    new = attestation(node, system, new_uid)
    assert "0x" + new["refUID"].hex() == old_uid
    assert new["attester"] == new["recipient"] == keys["gpu_seller"].address and new["revocable"] is True
    assert attestation(node, system, old_uid)["revocationTime"] > 0

    mine = [listing for listing in directories["buyer"].search() if listing.attester == keys["gpu_seller"].address]
    assert [(m.uid, m.ref_uid, m.profile.min_price) for m in mine] == [(new_uid, old_uid, 80)]
    assert listed(directories["buyer"], max_price=85) == {keys["small_seller"].address, keys["gpu_seller"].address}


def test_a_revoked_listing_disappears(node, system, directories, keys, profiles):
    small = directories["small_seller"]
    assert keys["small_seller"].address in listed(directories["buyer"])
    # As if the agent died between attesting a new listing and revoking the old: two live listings.
    data = profiles["small_seller"].encode()
    request = (PROFILE_SCHEMA_UID, (keys["small_seller"].address, 0, True, b"\x00" * 32, data, 0))
    attest(node, system, keys["small_seller"], request)
    assert len([x for x in small.search() if x.attester == keys["small_seller"].address]) == 1  # newest only
    assert small.revoke() is True
    old_uid = directories["uids"]["small_seller"]
    assert attestation(node, system, old_uid)["revocationTime"] > 0  # both revoked, the old one too
    assert keys["small_seller"].address not in listed(directories["buyer"])
    assert small.own_listing() is None
    assert small.revoke() is False  # nothing left to revoke


def test_register_is_idempotent_and_survives_a_restart(node, system, directories, keys, profiles):
    key = keys["trader"]
    nonce = node.nonce(key.address)
    restarted = ServiceDirectory(node, system.eas.address, key, market=system.market.address)  # reads from block 0
    assert restarted.own_listing().uid == directories["uids"]["trader"]
    assert restarted.register(profiles["trader"]) == directories["uids"]["trader"]
    assert node.nonce(key.address) == nonce  # nothing sent
    # Registering something else replaces the listing, linked to the old one.
    moved = replace(profiles["trader"], region="ap-south")
    uid = restarted.register(moved)
    assert uid != directories["uids"]["trader"]
    assert directories["buyer"].listing_of(key.address).ref_uid == directories["uids"]["trader"]
    assert listed(directories["buyer"], region="ap-south") == {key.address}


def test_expired_and_malformed_listings_are_skipped(chain, node, system, directories, keys, profiles):
    seller = directories["small_seller"]
    expiry = node.timestamp() + 100
    seller.update(profiles["small_seller"], expiration_time=expiry)
    assert keys["small_seller"].address in listed(directories["buyer"])
    chain.pending_timestamp += 200
    chain.mine()
    assert keys["small_seller"].address not in listed(directories["buyer"])

    # Anyone can attest junk to a schema without resolver: it is not a listing.
    junk = encode(["string"], ["not a profile"])
    request = (PROFILE_SCHEMA_UID, (keys["buyer"].address, 0, True, b"\x00" * 32, junk, 0))
    attest(node, system, keys["buyer"], request)
    buyers = directories["buyer"].search(SearchCriteria(role=Role.BUYER))
    assert {listing.attester for listing in buyers} == {keys["trader"].address, keys["buyer"].address}
    # The junk, although newer, did not replace the buyer's listing.
    assert directories["buyer"].listing_of(keys["buyer"].address).profile == profiles["buyer"]


def test_bad_profiles_are_refused(system, token):
    market, tok = system.market.address, token.address
    with pytest.raises(ValueError, match="min_price"):
        Profile(Role.SELLER, market, tok, min_price=10, max_price=5)
    with pytest.raises(ValueError, match="roles"):
        Profile(Role(0), market, tok)
    with pytest.raises(ValueError, match="cpu_cores"):
        Profile(Role.SELLER, market, tok, cpu_cores=2**16)
    with pytest.raises(ValueError, match="scheme"):
        Profile(Role.SELLER, market, tok, schemes=())


def test_profile_encoding_round_trips(profiles):
    for profile in profiles.values():
        assert Profile.decode(profile.encode()) == profile


def test_anyone_can_search_but_listing_needs_an_account(node, system, directories, keys, profiles):
    anonymous = ServiceDirectory(node, system.eas.address)
    sellers = {listing.attester for listing in anonymous.search(SearchCriteria(market=system.market.address))}
    assert sellers == {keys[n].address for n in ("gpu_seller", "small_seller", "trader")}
    with pytest.raises(ValueError, match="no account"):
        anonymous.register(profiles["buyer"])


def test_profile_schema_uid_is_the_eas_formula():
    assert PROFILE_SCHEMA_UID == schema_uid(PROFILE_SCHEMA, ZERO_ADDRESS, True)
