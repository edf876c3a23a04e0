"""Offer signatures checked as the market checks them: OpenZeppelin 5's SignatureChecker.isValidSignatureNow.

For an account without code that is ECDSA.tryRecover: a 65-byte r || s || v signature only, s in the lower
half of the curve order (no malleable twin), v 27 or 28, and the `ecrecover` precompile's own range checks; a
signer with code is asked through ERC-1271, which none of the memory chain's contracts implements.
"""

from __future__ import annotations

from functools import lru_cache

from coincurve import PublicKey

from agents.keccak import keccak256
from agents.protocol import to_checksum_address

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_MAX_S = SECP256K1_N // 2  # OZ's 0x7FFF...20A0


@lru_cache(maxsize=1 << 14)  # an offer's signature is checked when offered and again when accepted
def recover(digest: bytes, signature: bytes) -> str | None:
    """The address that signed `digest`, or None where OZ's tryRecover reports an error."""
    if len(signature) != 65:
        return None
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
    if s > _MAX_S:
        return None
    if v not in (27, 28) or not 0 < r < SECP256K1_N or s == 0:  # ecrecover returns nothing
        return None
    try:
        public_key = PublicKey.from_signature_and_message(signature[:64] + bytes([v - 27]), digest, hasher=None)
    except ValueError:  # r is no point's x coordinate
        return None
    return to_checksum_address(keccak256(public_key.format(compressed=False)[1:])[12:])


def is_valid_signature_now(signer: str, digest: bytes, signature: bytes, contracts: set[str]) -> bool:
    if signer in contracts:
        return False  # ERC-1271: no contract of the memory chain validates signatures
    return recover(digest, signature) == signer
