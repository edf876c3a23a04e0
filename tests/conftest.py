"""Shared fixtures: the whole system (real EAS bytecode, market, token) deployed once per session on the
anvil that ape-foundry starts; tests run in isolation through chain snapshots.

Besides the deployment this module holds the vocabulary the tests share: default request and offer
terms, `run_deal` (drives one deal to a given status through the real messages), snapshots of every
balance the escrow touches (exact deltas, `unchanged`), `refused` (a bad message is mined, reverts with
exactly the named error and moves nothing) and EAS attestation requests open to tampering."""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from agents.chain.scheme import Schema
from agents.deploy.system import deploy_system
from agents.testing.market_client import MarketClient
from agents.protocol import Offer, Request, Status, ValidationScheme

FLOAT = 10**24  # tokens each party starts with
ZERO_ADDRESS = "0x" + "00" * 20
ZERO_BYTES32 = b"\x00" * 32

# Default terms: small round numbers so that balance deltas read at a glance.
MAX_PRICE = 1_000
MIN_COLLATERAL = 200
PRICE = 700
COLLATERAL = 300
VALIDATOR_FEE = 50  # paid to the validator for a verdict that stands (validator scheme only)
BOND = 100  # posted to go to the court; staked by the validator
OFFER_WINDOW = 3_600  # seconds a request and an offer stay open
COMMENCE_WITHIN = 600
JOB_DURATION = 3_600
VALIDATION_WINDOW = 1_800
SPEC_HASH = keccak(text="spec: run inference on 1k prompts")
RESULT_HASH = keccak(text="result: 1k completions")


@pytest.fixture(scope="session")
def deployer(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def client_account(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def provider_account(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def validator_account(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def stranger(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def court_account(deployer):
    """The market's court (deploy_system's default: the deployer)."""
    return deployer


@pytest.fixture(scope="session")
def system(deployer, accounts):
    system = deploy_system(deployer)
    for account in accounts[:6]:
        system.token.mint(account.address, FLOAT, sender=deployer)
    return system


@pytest.fixture(scope="session")
def token(system):
    return system.token


@pytest.fixture(scope="session")
def market(system):
    return system.market


@pytest.fixture(scope="session")
def eas(system):
    return system.eas


@pytest.fixture(scope="session")
def client(system, client_account):
    return MarketClient(system, client_account)


@pytest.fixture(scope="session")
def provider(system, provider_account):
    return MarketClient(system, provider_account)


@pytest.fixture(scope="session")
def validator(system, validator_account):
    return MarketClient(system, validator_account)


@pytest.fixture(scope="session")
def stranger_client(system, stranger):
    return MarketClient(system, stranger)


@pytest.fixture(scope="session")
def court(system, court_account):
    return MarketClient(system, court_account)


# --- sending messages that should fail ------------------------------------------------------------


class Transactor:
    """Sends a contract call as a plain transaction and reports the custom error it reverted with.

    Why not `ape.reverts`: Ape decodes an error that bubbles up through EAS (the market's resolver
    errors) by parsing the full struct-log trace, seconds per revert; and `ape.reverts(Error, **inputs)`
    passes silently on a misspelt input name or on a revert that is not a custom error at all. Here the
    transaction is really mined (so "nothing changed" is checked against an executed, reverted message),
    its revert data comes from a call trace, and the error is decoded from the ABIs of the contracts
    given, by exact name and with every input."""

    GAS = 10_000_000  # fixed, so that a reverting message is mined instead of failing gas estimation

    def __init__(self, provider, *contracts):
        self.provider = provider
        self.web3 = provider.web3
        self.errors = {}
        for contract in contracts:
            for abi in contract.contract_type.errors:
                # First contract wins a shared selector (e.g. InsufficientBalance(uint256,uint256) of OZ).
                self.errors.setdefault(keccak(text=abi.selector)[:4], abi)

    def send(self, method, *args, sender):
        """Send `method(*args)` from `sender`; return (receipt, None) or (receipt, (error name, inputs))."""
        tx_hash = self.web3.eth.send_transaction(
            {
                "from": sender.address,
                "to": method.contract.address,
                "data": method.encode_input(*args),
                "gas": self.GAS,
                "gasPrice": 0,
            }
        )
        receipt = self.web3.eth.wait_for_transaction_receipt(tx_hash, timeout=10, poll_latency=0.01)
        if receipt.status == 1:
            return receipt, None
        trace = self.provider.make_request("debug_traceTransaction", [tx_hash.to_0x_hex(), {"tracer": "callTracer"}])
        return receipt, self.decode(HexBytes(trace.get("output", "0x")))

    def decode(self, data: bytes) -> tuple[str, dict]:
        abi = self.errors.get(bytes(data[:4]))
        if abi is None:
            return (HexBytes(data).to_0x_hex(), {})  # a plain revert or an error no given contract declares
        values = abi_decode([i.canonical_type for i in abi.inputs], bytes(data[4:]))
        return abi.name, {i.name: _plain(i.type, v) for i, v in zip(abi.inputs, values)}


def _plain(abi_type: str, value):
    return to_checksum_address(value) if abi_type == "address" else value


@pytest.fixture(scope="session")
def transactor(chain, system):
    return Transactor(chain.provider, system.market, system.eas, system.registry, system.token)


# --- terms ------------------------------------------------------------------------------------------

_nonces = itertools.count(1)


@pytest.fixture
def make_request(chain, client_account, validator_account, token):
    """A valid request from the client, open for OFFER_WINDOW from now; any field can be overridden.
    The validator scheme names the validator account, for VALIDATOR_FEE, unless told otherwise."""

    def make(**overrides) -> Request:
        scheme = overrides.get("scheme", ValidationScheme.OPTIMISTIC)
        validating = scheme == ValidationScheme.VALIDATOR
        fields = dict(
            client=client_account.address,
            token=token.address,
            max_price=MAX_PRICE,
            min_collateral=MIN_COLLATERAL,
            offer_deadline=chain.pending_timestamp + OFFER_WINDOW,
            commence_within=COMMENCE_WITHIN,
            job_duration=JOB_DURATION,
            validation_window=VALIDATION_WINDOW,
            scheme=scheme,
            validator=validator_account.address if validating else ZERO_ADDRESS,
            validator_fee=VALIDATOR_FEE if validating else 0,
            bond=BOND,
            spec_hash=SPEC_HASH,
            nonce=next(_nonces),  # distinct requests even when every other term is equal
        )
        fields.update(overrides)
        return Request(**fields)

    return make


@pytest.fixture
def make_offer(chain, client, provider_account):
    """The provider's default offer on `request`; any field can be overridden."""

    def make(request: Request, **overrides) -> Offer:
        fields = dict(
            deal_id=client.deal_id(request),
            provider=provider_account.address,
            price=PRICE,
            collateral=COLLATERAL,
            expiry=chain.pending_timestamp + OFFER_WINDOW,
            round=0,
        )
        fields.update(overrides)
        return Offer(**fields)

    return make


# --- balances -------------------------------------------------------------------------------------


@pytest.fixture
def parties(client_account, provider_account, validator_account, stranger, court_account):
    """Everyone whose balances the tests watch, by role name."""
    return {
        "client": client_account,
        "provider": provider_account,
        "validator": validator_account,
        "stranger": stranger,
        "court": court_account,
    }


@pytest.fixture
def balances(market, token, parties):
    """A snapshot of every amount the escrow touches: each party's escrow account and wallet, the
    market's token balance and its totalOwed."""

    def snapshot() -> dict[str, int]:
        values = {"market": token.balanceOf(market.address), "owed": market.totalOwed(token.address)}
        for name, account in parties.items():
            values[f"{name}.available"] = market.available(token.address, account.address)
            values[f"{name}.wallet"] = token.balanceOf(account.address)
        return values

    return snapshot


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The entries that changed, so that `assert delta(...) == {...}` also says nothing else moved."""
    return {key: after[key] - before[key] for key in before if after[key] != before[key]}


def assert_solvent(market, token, values: dict[str, int]) -> None:
    """The escrow holds exactly what it owes."""
    assert values["market"] == values["owed"] == market.totalOwed(token.address)


@pytest.fixture
def unchanged(market, balances):
    """`with unchanged(deal_id, ...):` asserts that the block leaves those deals and every balance as
    they were: the check that bad input changes nothing."""

    @contextmanager
    def check(*deal_ids: bytes):
        def state():
            return [tuple(market.getDeal(deal_id)) for deal_id in deal_ids], balances()

        before = state()
        yield
        assert state() == before

    return check


@pytest.fixture
def refused(unchanged, transactor):
    """`refused(deal_ids, error, method, *args, sender=..., **inputs)`: the message is mined and reverts
    with exactly `error(**inputs)` (every input given), and the deals and balances are unchanged."""

    def check(deal_ids, error, method, *args, sender, **inputs):
        with unchanged(*deal_ids):
            _, outcome = transactor.send(method, *args, sender=sender)
        assert outcome == (getattr(error, "__name__", error), inputs)

    return check


# --- events ---------------------------------------------------------------------------------------


def only_event(receipt, event):
    """The single `event` log of `receipt` (fails if there are none or several)."""
    logs = receipt.decode_logs(event)
    assert len(logs) == 1, f"expected one {event.name}, got {logs}"
    return logs[0]


def assert_closed(receipt, market, deal_id: bytes, outcome: Status, reason) -> None:
    log = only_event(receipt, market.Closed)
    assert (bytes(log.dealId), log.outcome, log.reason) == (deal_id, outcome, reason)


# --- attestation requests ---------------------------------------------------------------------------
# EAS AttestationRequest tuples for the market's schemas, every field open to tampering (MarketClient
# always fills them in correctly). Send them with `eas.attest(request, sender=...)`.


def attestation_request(schema, recipient, data, ref=ZERO_BYTES32, expiration=0, revocable=False):
    return (schema, (recipient, expiration, revocable, ref, data, 0))


def commencement(market, deal_id, recipient, **fields):
    data = Schema.COMMENCEMENT.encode((deal_id,))
    return attestation_request(market.commencementSchemaUID(), recipient, data, **fields)


def completion(market, deal_id, recipient, ref, result_hash=RESULT_HASH, **fields):
    data = Schema.COMPLETION.encode((deal_id, result_hash, "ipfs://result"))
    return attestation_request(market.completionSchemaUID(), recipient, data, ref=ref, **fields)


def validation(market, deal_id, recipient, ref, approved, **fields):
    data = Schema.VALIDATION.encode((deal_id, approved))
    return attestation_request(market.validationSchemaUID(), recipient, data, ref=ref, **fields)


# --- running a deal -------------------------------------------------------------------------------


@dataclass
class DealRun:
    """One deal driven through the real messages, with what later messages need to reference."""

    request: Request
    offer: Offer
    signature: bytes
    deal_id: bytes
    commencement: bytes | None = None
    completion: bytes | None = None
    verdict: bytes | None = None  # the validator's verdict attestation

    @property
    def last_attestation(self) -> bytes | None:
        """What the next validation attestation (the client's, the validator's or the court's) references."""
        return self.verdict or self.completion


_FUNDED_BY_BOTH = (Status.AGREED, Status.COMMENCED, Status.COMPLETED, Status.JUDGED, Status.DISPUTED)
_WORKED = (Status.COMMENCED, Status.COMPLETED, Status.JUDGED, Status.DISPUTED)


@pytest.fixture
def run_deal(client, provider, validator, token, make_request, make_offer):
    """Drive a fresh deal up to `until` the way agents would: deposits, request, signed offer, accept,
    attestations, and on to the court.

    AWAITING_COLLATERAL: the client accepts the provider's offer while the provider's escrow is empty.
    AWAITING_PAYMENT: the provider accepts the client's counter-offer while the client's escrow is empty.
    Otherwise both deposit exactly their side first and the client accepts. A validator deal's validator
    deposits its stake (the bond) first. JUDGED (validator scheme): the validator gives the verdict `approved`.
    DISPUTED: the optimistic client disputes; in the validator scheme the party the verdict `approved` went
    against appeals (both deposit the bond first)."""

    def run(until: Status = Status.AGREED, *, request: Request | None = None, offer: Offer | None = None,
            approved: bool = True, **request_overrides) -> DealRun:
        request = request or make_request(**request_overrides)
        offer = offer or make_offer(request)
        validating = request.scheme == ValidationScheme.VALIDATOR
        if validating:
            validator.deposit(token, request.bond)
        client.request(request, "ipfs://spec")
        if until == Status.AWAITING_PAYMENT:
            signature = client.sign(offer)  # a counter-offer: the client signs, the provider accepts
            client.offer(offer, signature)
            if offer.collateral:
                provider.deposit(token, offer.collateral)
            provider.accept(request, offer, signature)
        else:
            signature = provider.sign(offer)
            provider.offer(offer, signature)
            if until in _FUNDED_BY_BOTH and offer.collateral:
                provider.deposit(token, offer.collateral)
            client.deposit(token, offer.price + request.validator_fee)
            client.accept(request, offer, signature)
        run = DealRun(request, offer, signature, client.deal_id(request))
        if until in _WORKED:
            _, run.commencement = provider.attest_commencement(run.deal_id, request.client)
        if until in _WORKED[1:]:
            _, run.completion = provider.attest_completion(
                run.deal_id, request.client, run.commencement, RESULT_HASH, "ipfs://result"
            )
        if validating and until in (Status.JUDGED, Status.DISPUTED):
            _, run.verdict = validator.verdict(run.deal_id, offer.provider, run.completion, approved)
        if until == Status.DISPUTED:
            if not validating:
                client.deposit(token, request.bond)
                client.dispute(request)
            else:
                appellant = client if approved else provider
                appellant.deposit(token, request.bond)
                appellant.appeal(run.deal_id)
        assert client.status(run.deal_id) == until
        return run

    return run
