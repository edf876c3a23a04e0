"""The agents' fast signer must produce exactly what eth-account produces: same raw transactions, same
hashes, same EIP-712 signatures (both sign deterministically, RFC 6979); and the request type it hashes is the
contract's, validator fee and bond included."""

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.protocol import Domain, Offer, Request, ValidationScheme, typed_hash, typed_message
from agents.protocol import _TYPE_HASHES  # the typehash agents hash requests with
from agents.chain.transactions import Signer
from agents.keccak import incremental_keccak256, keccak256

KEY = Account.from_key(b"\x42" * 32)
MARKET = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.binary(max_size=300), max_size=5))
def test_the_fast_keccak_is_eth_utils_keccak(chunks):
    """agents.keccak (safe-pysha3) hashes every deal id and signature check: it must be the EVM's keccak256."""
    data = b"".join(chunks)
    assert keccak256(data) == keccak(data)
    streamed = incremental_keccak256()
    for chunk in chunks:
        streamed.update(chunk)
    assert streamed.digest() == keccak(data)


@settings(max_examples=60, deadline=None)
@given(
    nonce=st.integers(0, 2**64 - 1), gas=st.integers(21_000, 30_000_000), fees=st.tuples(st.integers(0, 10**12),
    st.integers(0, 10**12)), value=st.integers(0, 10**30), data=st.binary(max_size=300),
    chain_id=st.sampled_from([1, 31337, 84532]),
)
def test_transactions_are_byte_identical_to_eth_account(nonce, gas, fees, value, data, chain_id):
    priority, extra = fees
    tx = {"type": 2, "chainId": chain_id, "nonce": nonce, "to": MARKET, "data": data, "gas": gas,
          "maxFeePerGas": priority + extra, "maxPriorityFeePerGas": priority, "value": value}
    expected = Account.sign_transaction(tx, KEY.key)
    raw, tx_hash = Signer(KEY.key).sign_eip1559(
        chain_id=chain_id, nonce=nonce, max_priority_fee=priority, max_fee=priority + extra, gas=gas, to=MARKET,
        value=value, data=data,
    )
    assert raw == "0x" + bytes(expected.raw_transaction).hex()
    assert tx_hash == "0x" + bytes(expected.hash).hex()


@settings(max_examples=40, deadline=None)
@given(price=st.integers(1, 2**96 - 1), collateral=st.integers(0, 2**96 - 1), expiry=st.integers(0, 2**40 - 1),
       round_=st.integers(0, 2**32 - 1), deal=st.binary(min_size=32, max_size=32))
def test_offer_hashes_and_signatures_match_eth_account(price, collateral, expiry, round_, deal):
    domain = Domain(31337, MARKET)
    offer = Offer(deal, KEY.address, price, collateral, expiry, round_)
    message = typed_message(domain, offer)
    assert typed_hash(domain, offer) == _digest(message)
    assert Signer(KEY.key).sign_digest(typed_hash(domain, offer)) == bytes(Account.sign_message(message, KEY.key).signature)


def _digest(message) -> bytes:
    return keccak(b"\x19" + message.version + message.header + message.body)


def test_encode_typed_data_is_what_typed_message_uses():
    # Guard: typed_message (the reference above) is eth-account's own encoder.
    domain = Domain(1, MARKET)
    offer = Offer(b"\x01" * 32, KEY.address, 1, 0, 0, 0)
    assert typed_message(domain, offer) == encode_typed_data(
        domain_data=domain.as_dict(), message_types={"Offer": [{"name": f.name, "type": f.metadata_type}
                                                               for f in Offer.FIELDS]},
        message_data=offer.message(),
    )


def test_request_typehash_is_the_contracts(market):
    assert _TYPE_HASHES[Request] == bytes(market.REQUEST_TYPEHASH())
    assert _TYPE_HASHES[Request] == keccak(
        text="Request(address client,address token,uint96 maxPrice,uint96 minCollateral,uint40 offerDeadline,"
        "uint24 commenceWithin,uint24 jobDuration,uint24 validationWindow,uint8 scheme,address validator,"
        "uint96 validatorFee,uint96 bond,bytes32 specHash,uint64 nonce)")


@settings(max_examples=40, deadline=None)
@given(fee=st.integers(0, 2**96 - 1), bond=st.integers(1, 2**96 - 1), price=st.integers(1, 2**96 - 1),
       nonce=st.integers(0, 2**64 - 1), validating=st.booleans())
def test_request_hashes_and_signatures_match_eth_account(fee, bond, price, nonce, validating):
    domain = Domain(84532, MARKET)
    request = Request(KEY.address, MARKET, price, 0, 2**40 - 1, 60, 60, 60, ValidationScheme(validating),
                      MARKET if validating else "0x" + "00" * 20, fee, bond, b"\x11" * 32, nonce)
    message = typed_message(domain, request)
    assert typed_hash(domain, request) == _digest(message)
    assert Signer(KEY.key).sign_digest(typed_hash(domain, request)) == bytes(
        Account.sign_message(message, KEY.key).signature)


def test_values_the_fast_encoding_does_not_take_are_hashed_or_refused_as_eth_abi_does():
    from eth_abi import encode
    from eth_abi.exceptions import EncodingError

    from agents.protocol import _ABI_TYPES, _domain_separator, _static_words

    domain = Domain(31337, MARKET)
    offer = Offer(b"\x07" * 32, KEY.address, 10**18, 10**17, 2**40 - 1, 1)
    fast = _static_words(_ABI_TYPES[Offer], offer.as_tuple())
    assert fast is not None and fast == encode(_ABI_TYPES[Offer], offer.as_tuple())
    # Left to eth_abi: a short deal id (padded), an address in upper case.
    for other in (Offer(b"\x07", KEY.address, 1, 1, 1, 1), Offer(b"\x07" * 32, KEY.address.lower(), 1, 1, 1, 1),
                  Offer(b"\x07" * 32, "0x" + KEY.address[2:].upper(), 1, 1, 1, 1)):
        expected = keccak(b"\x19\x01" + _domain_separator(domain)
                          + keccak(_TYPE_HASHES[Offer] + encode(_ABI_TYPES[Offer], other.as_tuple())))
        assert typed_hash(domain, other) == expected
    assert _static_words(_ABI_TYPES[Offer], Offer(b"\x07" * 32, KEY.address.lower(), 1, 1, 1, 1).as_tuple())
    for bad in (Offer(b"\x07" * 32, KEY.address, 2**96, 1, 1, 1), Offer(b"\x07" * 32, KEY.address, -1, 1, 1, 1),
                Offer(b"\x07" * 32, KEY.address, 1, 1, 1, True)):
        assert _static_words(_ABI_TYPES[Offer], bad.as_tuple()) is None
        with pytest.raises(EncodingError):
            typed_hash(domain, bad)
