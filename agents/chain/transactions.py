"""Transactions: signing (EIP-1559 transactions and EIP-712 digests) and the one blocking sender.

`Signer` is what every sender signs with: the agents' `Outbox` (async, pipelined, its own nonces), and
`send_transaction` here (build, sign, send, wait for the receipt, raise on a revert), which the service
directory and the oracle keeper use.

eth-account validates and normalises every field through several layers before it signs, about 2 ms a
transaction; an agent signs a handful per deal, a simulation thousands a minute. A type-2 transaction is
a fixed RLP list, so it is encoded here directly and signed with libsecp256k1 (coincurve), which is what
eth-account itself uses underneath: the bytes are identical (the tests compare them).
"""

from __future__ import annotations

import rlp
from coincurve import PrivateKey
from eth_utils import to_checksum_address

from agents.chain.sync import SyncClient, as_int
from agents.keccak import keccak256

EIP1559_TYPE = b"\x02"


class TransactionReverted(RuntimeError):
    """A transaction was mined but reverted."""


class Signer:
    def __init__(self, private_key: bytes):
        self._key = PrivateKey(bytes(private_key))

    @property
    def address(self) -> str:
        """The checksummed address of this key."""
        return to_checksum_address(keccak256(self._key.public_key.format(compressed=False)[1:])[12:])

    def sign_eip1559(
        self, *, chain_id: int, nonce: int, max_priority_fee: int, max_fee: int, gas: int, to: str, value: int,
        data: bytes,
    ) -> tuple[str, str]:
        """(raw transaction, transaction hash), both 0x-hex."""
        fields = [chain_id, nonce, max_priority_fee, max_fee, gas, bytes.fromhex(to[2:]), value, data, []]
        y_parity, r, s = self._sign(keccak256(EIP1559_TYPE + rlp.encode(fields)))
        raw = EIP1559_TYPE + rlp.encode([*fields, y_parity, r, s])
        return "0x" + raw.hex(), "0x" + keccak256(raw).hex()

    def sign_digest(self, digest: bytes) -> bytes:
        """A 65-byte r || s || v signature of a 32-byte digest (v = 27 or 28), as ecrecover expects."""
        y_parity, r, s = self._sign(digest)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([27 + y_parity])

    def _sign(self, digest: bytes) -> tuple[int, int, int]:
        signature = self._key.sign_recoverable(digest, hasher=None)  # r || s || recovery id, low-s
        return signature[64], int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")


def send_transaction(client: SyncClient, signer: Signer, to: str, data: bytes, *, value: int = 0,
                     timeout: float = 120.0) -> dict:
    """Send a call to `to` signed by `signer` and return its receipt, once mined.

    The nonce is the node's pending count (a sender restarted at any moment carries on); gas is estimated
    first, so a call that would revert raises the node's error (`RPCError`) before anything is sent. Fees
    follow web3's default: the node's priority fee, and a fee cap of twice the base fee above it.
    `TransactionReverted` if it is mined and reverts."""
    sender = signer.address
    nonce = client.nonce(sender, "pending")
    gas = client.estimate_gas(sender, data, to=to, value=value)
    priority_fee = client.priority_fee()
    max_fee = priority_fee + 2 * (client.base_fee() or 0)
    raw, tx_hash = signer.sign_eip1559(chain_id=client.chain_id(), nonce=nonce, max_priority_fee=priority_fee,
                                       max_fee=max_fee, gas=gas, to=to, value=value, data=data)
    client.send_raw(raw)
    receipt = client.wait_receipt(tx_hash, timeout)
    if as_int(receipt["status"]) != 1:
        raise TransactionReverted(f"transaction {tx_hash} reverted")
    return receipt
