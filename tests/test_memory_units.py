"""The memory market on its own, no node: one whole deal through its API as a caller uses it, and the reverts the
differential test (tests/test_memory_market.py) cannot send through Ape, which checks calldata before it
leaves: integers out of their ABI type's range, and a deadline past uint40."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from agents.chain.scheme import Schema
from agents.chain.transactions import Signer
from agents.memory import MemoryChain, Revert
from agents.memory.evm import ZERO_ADDRESS, ZERO_BYTES32
from agents.protocol import CloseReason, Offer, Request, Status, ValidationScheme, typed_hash

CLIENT, PROVIDER, COURT = (Signer(bytes([n]) * 32) for n in (1, 2, 3))
START = 1_000_000


@pytest.fixture
def memory():
    chain = MemoryChain(court=COURT.address, court_window=100, now=START)
    for party in (CLIENT, PROVIDER):
        chain.tokens.mint(chain.token, party.address, 10_000)
        chain.tokens.approve(party.address, chain.token, chain.market.address, 2**256 - 1)
    return chain


def _request(memory, **overrides) -> Request:
    terms = dict(client=CLIENT.address, token=memory.token, max_price=1_000, min_collateral=100,
                 offer_deadline=memory.now + 100, commence_within=60, job_duration=60, validation_window=60,
                 scheme=ValidationScheme.OPTIMISTIC, validator=ZERO_ADDRESS, validator_fee=0, bond=10,
                 spec_hash=keccak(text="spec"), nonce=1)
    terms.update(overrides)
    return Request(**terms)


def _offer(memory, req: Request, **overrides) -> tuple[Offer, bytes]:
    terms = dict(deal_id=memory.market.hash_request(req), provider=PROVIDER.address, price=700, collateral=300,
                 expiry=memory.now + 100, round=0)
    terms.update(overrides)
    offer = Offer(**terms)
    return offer, PROVIDER.sign_digest(memory.market.hash_offer(offer))


def test_a_whole_deal(memory):
    market, eas, token = memory.market, memory.eas, memory.token
    req = _request(memory)
    deal_id = market.hash_request(req)
    assert deal_id == typed_hash(market.domain, req)
    assert [e.name for e in market.request(CLIENT.address, req, "spec://", [])] == ["Requested"]
    offer, signature = _offer(memory, req)
    market.offer(PROVIDER.address, offer, signature)
    market.deposit(PROVIDER.address, token, 300)
    events = market.accept(CLIENT.address, req, offer, signature)  # the client's 700 pulled from its wallet
    assert [(e.name, e.args.get("status")) for e in events] == [("Transfer", None), ("Accepted", Status.AGREED)]
    assert (market.available(token, PROVIDER.address), market.total_owed(token)) == (0, 1_000)

    memory.now += 10
    uids = market.schema_uids
    commenced, _ = eas.attest(PROVIDER.address, uids[Schema.COMMENCEMENT], CLIENT.address,
                              data=Schema.COMMENCEMENT.encode((deal_id,)))
    completed, _ = eas.attest(PROVIDER.address, uids[Schema.COMPLETION], CLIENT.address, ref_uid=commenced,
                              data=Schema.COMPLETION.encode((deal_id, keccak(text="result"), "result://")))
    _, events = eas.attest(CLIENT.address, uids[Schema.VALIDATION], PROVIDER.address, ref_uid=completed,
                           data=Schema.VALIDATION.encode((deal_id, True)))
    assert [e.name for e in events] == ["Attested", "Closed"]
    assert events[1].args == {"dealId": deal_id, "outcome": Status.SETTLED, "reason": CloseReason.APPROVED}
    assert market.get_deal(deal_id).status == Status.SETTLED
    assert market.available(token, PROVIDER.address) == 1_000  # the price and its collateral back
    market.withdraw(PROVIDER.address, token, 1_000)
    assert memory.tokens.balance_of(token, PROVIDER.address) == 10_700
    assert market.total_owed(token) == memory.tokens.balance_of(token, market.address) == 0


def test_a_refused_call_changes_nothing(memory):
    market, token = memory.market, memory.token
    req = _request(memory)
    offer, signature = _offer(memory, req)
    market.deposit(PROVIDER.address, token, 300)
    memory.tokens.approve(CLIENT.address, token, market.address, 699)  # one short of the price
    with pytest.raises(Revert) as refused:
        market.accept(CLIENT.address, req, offer, signature)
    assert refused.value == Revert("ERC20InsufficientAllowance", spender=market.address, allowance=699, needed=700)
    assert market.get_deal(offer.deal_id).status == Status.NONE
    assert market.available(token, PROVIDER.address) == 300  # the provider's collateral was not locked


@pytest.mark.parametrize("field", ["max_price", "min_collateral", "offer_deadline", "commence_within", "nonce"])
def test_integers_beyond_their_abi_type_revert_without_data(memory, field):
    bits = int(next(f.metadata_type for f in Request.FIELDS if f.name == _solidity(field))[4:])
    with pytest.raises(Revert) as refused:
        memory.market.request(CLIENT.address, _request(memory, **{field: 2**bits}), "", [])
    assert refused.value.name == ""  # what the ABI decoder does: a revert without data


def test_a_deadline_past_uint40_panics(memory):
    memory.now = 2**40 - 30
    req = _request(memory, commence_within=2**24 - 1, offer_deadline=2**40 - 1)
    offer, signature = _offer(memory, req, expiry=2**40 - 1)
    memory.market.deposit(PROVIDER.address, memory.token, 300)
    with pytest.raises(Revert) as refused:
        memory.market.accept(CLIENT.address, req, offer, signature)
    assert refused.value == Revert("Panic", code=0x11)
    assert memory.market.get_deal(offer.deal_id).status == Status.NONE


def test_eas_refuses_a_reference_to_nothing(memory):
    req = _request(memory)
    offer, signature = _offer(memory, req)
    memory.market.accept(CLIENT.address, req, offer, signature)
    with pytest.raises(Revert) as refused:
        memory.eas.attest(PROVIDER.address, memory.market.schema_uids[Schema.COMMENCEMENT], CLIENT.address,
                          ref_uid=keccak(text="nothing"), data=Schema.COMMENCEMENT.encode((offer.deal_id,)))
    assert refused.value.name == "NotFound"  # EAS refuses a reference to nothing before the market sees it
    assert ZERO_BYTES32 == memory.market.get_deal(offer.deal_id).last_attestation


def _solidity(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)
