"""Signing on the agents' hot path: EIP-1559 transactions and EIP-712 digests.

eth-account validates and normalises every field through several layers before it signs, about 2 ms a
transaction; an agent signs a handful per deal, a simulation thousands a minute. A type-2 transaction is
a fixed RLP list, so it is encoded here directly and signed with libsecp256k1 (coincurve), which is what
eth-account itself uses underneath: the bytes are identical (the tests compare them).
"""

from __future__ import annotations

import rlp
from coincurve import PrivateKey
from eth_utils import keccak

EIP1559_TYPE = b"\x02"


class Signer:
    def __init__(self, private_key: bytes):
        self._key = PrivateKey(bytes(private_key))

    def sign_eip1559(
        self, *, chain_id: int, nonce: int, max_priority_fee: int, max_fee: int, gas: int, to: str, value: int,
        data: bytes,
    ) -> tuple[str, str]:
        """(raw transaction, transaction hash), both 0x-hex."""
        fields = [chain_id, nonce, max_priority_fee, max_fee, gas, bytes.fromhex(to[2:]), value, data, []]
        y_parity, r, s = self._sign(keccak(EIP1559_TYPE + rlp.encode(fields)))
        raw = EIP1559_TYPE + rlp.encode([*fields, y_parity, r, s])
        return "0x" + raw.hex(), "0x" + keccak(raw).hex()

    def sign_digest(self, digest: bytes) -> bytes:
        """A 65-byte r || s || v signature of a 32-byte digest (v = 27 or 28), as ecrecover expects."""
        y_parity, r, s = self._sign(digest)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + y_parity])

    def _sign(self, digest: bytes) -> tuple[int, int, int]:
        signature = self._key.sign_recoverable(digest, hasher=None)  # r || s || recovery id, low-s
        return signature[64], int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
