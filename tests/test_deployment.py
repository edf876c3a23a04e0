"""The deployment is the real thing: EAS and its SchemaRegistry run the bytecode published in the npm
package, the market registers its three irrevocable schemas with itself as resolver, and the Python
mirror of the scheme (agents.protocol) hashes requests and offers exactly as the contract does."""

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak

from agents import protocol
from agents.deploy.contracts import initcode
from agents.deploy.system import DEFAULT_COURT_WINDOW, deploy_system, eas_artifact
from agents.protocol import Domain, Offer, Request, Status, ValidationScheme, schema_uid, typed_hash, typed_message
from conftest import ZERO_ADDRESS, ZERO_BYTES32, commencement

PUSH32 = 0x7F


def _immutable_slots(code: bytes) -> list[int]:
    """Offsets of the 32-byte words solc leaves zero in deployedBytecode and fills at construction."""
    return [i + 1 for i in range(len(code) - 32) if code[i] == PUSH32 and code[i + 1 : i + 33] == ZERO_BYTES32]


@pytest.mark.parametrize("name", ["SchemaRegistry", "EAS"])
def test_eas_runs_the_published_bytecode(chain, system, name):
    contract = {"SchemaRegistry": system.registry, "EAS": system.eas}[name]
    published = bytes.fromhex(eas_artifact(name).runtime_bytecode.bytecode[2:])
    deployed = bytes(chain.provider.get_code(contract.address))
    assert len(deployed) == len(published)

    # Identical except for immutables (Semver numbers, EIP-712 cache, the registry address in EAS).
    slots = _immutable_slots(published)
    masked_published, masked_deployed = bytearray(published), bytearray(deployed)
    for slot in slots:
        masked_published[slot : slot + 32] = masked_deployed[slot : slot + 32] = ZERO_BYTES32
    assert masked_deployed == masked_published

    filled = {deployed[slot : slot + 32] for slot in slots}
    assert filled - {ZERO_BYTES32}, "expected constructor-filled immutables"
    if name == "EAS":
        assert encode(["address"], [system.registry.address]) in filled


def test_eas_is_wired_to_the_registry(system):
    assert system.eas.getSchemaRegistry() == system.registry.address


SCHEMAS = [
    ("commencementSchemaUID", "COMMENCEMENT_SCHEMA", protocol.COMMENCEMENT_SCHEMA),
    ("completionSchemaUID", "COMPLETION_SCHEMA", protocol.COMPLETION_SCHEMA),
    ("validationSchemaUID", "VALIDATION_SCHEMA", protocol.VALIDATION_SCHEMA),
]


@pytest.mark.parametrize("uid_getter, schema_getter, schema", SCHEMAS, ids=[s[2] for s in SCHEMAS])
def test_schema_registered_irrevocable_with_market_as_resolver(system, market, uid_getter, schema_getter, schema):
    uid = bytes(getattr(market, uid_getter)())
    assert getattr(market, schema_getter)() == schema  # the Python mirror encodes the same fields
    assert uid == schema_uid(schema, market.address, revocable=False)

    record = system.registry.getSchema(uid)
    assert bytes(record.uid) == uid
    assert record.resolver == market.address
    assert record.revocable is False
    assert record.schema == schema


def test_the_court_is_fixed_at_deployment(market, deployer):
    """deploy_system names the deployer the court, with the default window, unless told otherwise."""
    assert (market.court(), market.courtWindow()) == (deployer.address, DEFAULT_COURT_WINDOW)


def test_deploy_system_names_the_court_and_its_window(accounts, deployer):
    system = deploy_system(deployer, token_decimals=None, court=accounts[7].address, court_window=3_600)
    assert (system.market.court(), system.market.courtWindow()) == (accounts[7].address, 3_600)


@pytest.mark.parametrize("court, window, error", [(ZERO_ADDRESS, 3_600, "InvalidCourt"), (None, 0, "InvalidDuration")],
                         ids=["no-court", "no-court-window"])
def test_market_refuses_a_missing_court(system, deployer, transactor, court, window, error):
    data = initcode("ComputeMarket", (system.eas.address, court or deployer.address, window))
    tx = transactor.web3.eth.send_transaction({"from": deployer.address, "data": data, "gas": 10_000_000,
                                               "gasPrice": 0})
    receipt = transactor.web3.eth.wait_for_transaction_receipt(tx)
    assert receipt.status == 0 and receipt.contractAddress is not None
    trace = transactor.provider.make_request("debug_traceTransaction", [tx.to_0x_hex(), {"tracer": "callTracer"}])
    assert transactor.decode(bytes.fromhex(trace["output"][2:]))[0] == error


def test_market_takes_no_ether_through_eas(market):
    assert market.isPayable() is False  # EAS then refuses attestations that carry value


def test_eip712_domain_matches_python(chain, market, client):
    domain = market.eip712Domain()
    expected = client.domain.as_dict()
    assert (domain.name, domain.version, domain.chainId, domain.verifyingContract) == (
        expected["name"],
        expected["version"],
        expected["chainId"],
        expected["verifyingContract"],
    )
    assert client.domain == Domain(chain_id=chain.chain_id, market=market.address)


def _type_string(cls) -> str:
    fields = ",".join(f"{f.metadata_type} {f.name}" for f in cls.FIELDS)
    return f"{cls.__name__}({fields})"


def test_typehashes_match_python_field_lists(market):
    assert bytes(market.REQUEST_TYPEHASH()) == keccak(text=_type_string(Request))
    assert bytes(market.OFFER_TYPEHASH()) == keccak(text=_type_string(Offer))


MAX_U96, MAX_U40, MAX_U24, MAX_U64 = 2**96 - 1, 2**40 - 1, 2**24 - 1, 2**64 - 1


def _eip712_digest(domain, value) -> bytes:
    """The digest by eth-account's generic typed-data encoder, the reference for agents.protocol's own."""
    message = typed_message(domain, value)
    return keccak(b"\x19" + message.version + message.header + message.body)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"scheme": ValidationScheme.VALIDATOR},
        # Extremes of every packed width, so that a wrong type in the Python mirror would show.
        {
            "max_price": MAX_U96,
            "min_collateral": MAX_U96,
            "offer_deadline": MAX_U40,
            "commence_within": MAX_U24,
            "job_duration": MAX_U24,
            "validation_window": MAX_U24,
            "validator_fee": MAX_U96,
            "bond": MAX_U96,
            "spec_hash": b"\xff" * 32,
            "nonce": MAX_U64,
        },
        {"max_price": 1, "min_collateral": 0, "bond": 1, "nonce": 0},
    ],
    ids=["optimistic", "validator", "max-widths", "minimal"],
)
def test_request_hash_computed_locally_equals_contract(market, client, make_request, overrides):
    request = make_request(**overrides)
    assert typed_hash(client.domain, request) == bytes(market.hashRequest(request.as_tuple()))
    assert typed_hash(client.domain, request) == _eip712_digest(client.domain, request)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"price": MAX_U96, "collateral": MAX_U96, "expiry": MAX_U40, "round": 2**32 - 1}, {"collateral": 0}],
    ids=["default", "max-widths", "no-collateral"],
)
def test_offer_hash_computed_locally_equals_contract(market, client, make_request, make_offer, overrides):
    offer = make_offer(make_request(), **overrides)
    assert typed_hash(client.domain, offer) == bytes(market.hashOffer(offer.as_tuple()))
    assert typed_hash(client.domain, offer) == _eip712_digest(client.domain, offer)


def test_signature_over_the_typed_message_recovers_the_signer(client, provider, make_request, make_offer):
    """What MarketClient signs (eth-account's typed data) is what the contract checks (typed_hash)."""
    offer = make_offer(make_request())
    signature = provider.sign(offer)
    assert Account.recover_message(typed_message(client.domain, offer), signature=signature) == provider.account.address


def test_hash_depends_on_the_market(client, make_request):
    """Another market (or chain) gives another deal id: signatures cannot be replayed across them."""
    request = make_request()
    other = Domain(chain_id=client.domain.chain_id, market="0x" + "11" * 20)
    assert typed_hash(other, request) != client.deal_id(request)
    assert typed_hash(Domain(chain_id=1, market=client.domain.market), request) != client.deal_id(request)


def test_request_and_offer_round_trip_through_event_tuples(client, make_request, make_offer):
    """Agents rebuild terms from Requested/Offered events: from_tuple must invert as_tuple."""
    request = make_request(scheme=ValidationScheme.VALIDATOR)
    receipt = client.request(request, "ipfs://spec")
    logged = receipt.decode_logs(client.market.Requested)[0]
    assert Request.from_tuple(logged.request) == request
    offer = make_offer(request)
    receipt = client.offer(offer)  # the client may broadcast a counter-offer it signed
    assert Offer.from_tuple(receipt.decode_logs(client.market.Offered)[0].offer) == offer


def test_market_attestations_cannot_be_revoked(eas, market, provider, client, run_deal, refused):
    run = run_deal(Status.COMMENCED)
    schema = market.commencementSchemaUID()
    refused([run.deal_id], eas.Irrevocable, eas.revoke, (schema, (run.commencement, 0)), sender=provider.account)
    attestation = eas.getAttestation(run.commencement)
    assert attestation.revocationTime == 0
    assert eas.isAttestationValid(run.commencement)
    assert client.status(run.deal_id) == Status.COMMENCED


def test_revocable_attestation_on_market_schema_is_refused(eas, market, provider, run_deal, refused):
    run = run_deal(Status.AGREED)
    request = commencement(market, run.deal_id, run.request.client, revocable=True)
    refused([run.deal_id], eas.Irrevocable, eas.attest, request, sender=provider.account)
