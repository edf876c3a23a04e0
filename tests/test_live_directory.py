"""Live agents (`ape run agent`, real processes) in the service directory: a provider lists the machine it runs
on while it runs and revokes the listing when stopped; a client reads the directory and addresses its request
to the providers listed there, as simulated agents do."""

import asyncio
import json

import psutil
from agent_process import start_agent, stop_agent, wait_for
from eth_account import Account

from agents.chain.abi import eas_abi
from agents.chain.codec import ContractCodec
from agents.chain.sync import SyncClient
from agents.deploy.addresses import Deployment
from agents.deploy.system import deploy_system
from agents.jobs.spec import JobSpec
from agents.knowledge.directory import PROFILE_SCHEMA_UID, Role, ServiceDirectory
from agents.protocol import Performative
from agents.runtime.connection import MarketConnection

UNIT = 10**18
PROVIDER_INDEX, CLIENT_INDEX = 6, 7


def _market_messages(rpc: str, deployment: Deployment, performative: Performative) -> list:
    """The market's messages of one kind since its deployment, read from the chain."""
    async def read():
        connection = MarketConnection.open(rpc, deployment)
        try:
            return await connection.feed.history(deployment.block)
        finally:
            await connection.rpc.close()

    return [message for message in asyncio.run(read()) if message.performative == performative]


def test_a_live_provider_is_listed_while_it_runs_and_the_live_client_invites_it(chain, accounts, deployer, tmp_path):
    system = deploy_system(deployer)  # a fresh EAS: its registry has not got the profile schema
    deployment = Deployment.from_system(system)
    deployment_file = tmp_path / "deployment.json"
    deployment_file.write_text(deployment.to_json())
    for index in (PROVIDER_INDEX, CLIENT_INDEX):
        system.token.mint(accounts[index].address, 100 * UNIT, sender=deployer)
        system.token.approve(system.market.address, 2**256 - 1, sender=accounts[index])
        system.market.deposit(system.token.address, 50 * UNIT, sender=accounts[index])
    provider_address = Account.from_key(accounts[PROVIDER_INDEX].private_key).address
    client_address = Account.from_key(accounts[CLIENT_INDEX].private_key).address
    rpc = chain.provider.http_uri
    node = SyncClient.connect(rpc)
    registry_codec = ContractCodec(eas_abi("SchemaRegistry"))
    (schema,) = node.read(system.registry.address, registry_codec, "getSchema", PROFILE_SCHEMA_UID)
    assert schema["uid"] == b"\x00" * 32
    directory = ServiceDirectory(node, system.eas.address, market=system.market.address, from_block=deployment.block)
    jobs_file = tmp_path / "jobs.json"
    jobs_file.write_text(json.dumps([JobSpec.for_workload("sha256-chain", {"n": 2000}, seed=1).as_dict()]))
    store, provider_log, client_log = tmp_path / "store", tmp_path / "provider.log", tmp_path / "client.log"

    provider = start_agent("provider", PROVIDER_INDEX, rpc, deployment_file, store, provider_log)
    client = None
    try:
        listing = wait_for(lambda: directory.listing_of(provider_address), 180, "the provider's listing")
        # Its machine, as it profiled it, on this market: what clients search for.
        profile = listing.profile
        assert profile.roles == Role.SELLER and profile.market == system.market.address
        assert profile.token == system.token.address
        assert profile.cpu_cores == psutil.cpu_count(logical=True)
        assert profile.ram_bytes == psutil.virtual_memory().total
        assert [found.uid for found in directory.search()] == [listing.uid]
        (schema,) = node.read(system.registry.address, registry_codec, "getSchema", PROFILE_SCHEMA_UID)
        assert schema["uid"] == PROFILE_SCHEMA_UID  # the provider registered the schema the chain had not got

        client = start_agent("client", CLIENT_INDEX, rpc, deployment_file, store, client_log,
                             "--jobs", str(jobs_file), "--budget", "10")
        (request,) = wait_for(lambda: [m for m in _market_messages(rpc, deployment, Performative.REQUEST)
                                       if m.request.client == client_address], 180, "the client's request")
        assert request.args["invited"] == [provider_address]  # addressed to the listed provider, not broadcast
        wait_for(lambda: [m for m in _market_messages(rpc, deployment, Performative.OFFER)
                          if m.deal_id == request.deal_id and m.offer.provider == provider_address],
                 180, "the invited provider's offer")

        assert stop_agent(provider) == 0, provider_log.read_text()[-3000:]
        # A clean stop revokes the listing: it is out of every search, and EAS records the revocation.
        assert directory.search() == [] and directory.listing_of(provider_address) is None
        (attestation,) = node.read(system.eas.address, ContractCodec(eas_abi("EAS")), "getAttestation",
                                   bytes.fromhex(listing.uid[2:]))
        assert attestation["revocationTime"] > 0
        assert "directory listing revoked" in provider_log.read_text()
    finally:
        for process in (provider, client):
            if process is not None:
                stop_agent(process)
