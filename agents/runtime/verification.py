"""Verification actions: checks an agent runs before it acts on a deal, as reusable components.

Each reads the chain (eth_call) rather than trusting events: the runtime can run them on every message,
or a policy can call the ones it wants (a provider checks the client's payment is locked before it starts
work, and sends collateral_missing otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import decode
from eth_utils import keccak

from agents.chain.calls import call
from agents.chain.codec import ContractCodec
from agents.chain.logs import get_logs_chunked_async
from agents.chain.rpc import RPCClient
from agents.protocol import Status, Verdict

DEAL_TYPES = [
    "(address,uint96,address,uint96,address,uint8,uint40,uint24,uint24,address,uint24,uint8,bytes32,uint96,uint96)"
]
ATTESTATION_TYPES = ["(bytes32,bytes32,uint64,uint64,uint64,bytes32,address,address,bool,bytes)"]
LOCKED_STATUSES = {Status.AGREED, Status.COMMENCED, Status.COMPLETED}
TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")  # every ERC-20's
LOG_CHUNK_BLOCKS = 10_000


@dataclass(frozen=True)
class DealRecord:
    client: str
    price: int
    provider: str
    collateral: int
    token: str
    status: Status
    deadline: int
    job_duration: int
    validation_window: int
    validator: str
    commence_within: int
    verdict: Verdict
    last_attestation: bytes
    validator_fee: int
    bond: int


@dataclass(frozen=True)
class AttestationRecord:
    uid: bytes
    schema: bytes
    time: int
    expiration_time: int
    revocation_time: int
    ref_uid: bytes
    recipient: str
    attester: str
    revocable: bool
    data: bytes


@dataclass(frozen=True)
class Check:
    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


@dataclass
class Verifier:
    rpc: RPCClient
    market: str
    eas: str
    market_codec: ContractCodec
    eas_codec: ContractCodec

    async def deal(self, deal_id: bytes) -> DealRecord:
        data = self.market_codec.encode_call("getDeal", deal_id)
        (fields,) = decode(DEAL_TYPES, await call(self.rpc, self.market, data))
        values = list(fields)
        values[5] = Status(values[5])
        values[11] = Verdict(values[11])
        return DealRecord(*values)

    async def attestation(self, uid: bytes) -> AttestationRecord:
        data = self.eas_codec.encode_call("getAttestation", uid)
        (fields,) = decode(ATTESTATION_TYPES, await call(self.rpc, self.eas, data))
        return AttestationRecord(*fields)

    async def payment_locked(self, deal_id: bytes, price: int | None = None, collateral: int | None = None) -> Check:
        """The deal is agreed (both sides locked) on the terms the agent expects."""
        deal = await self.deal(deal_id)
        if deal.status not in LOCKED_STATUSES:
            return Check(False, f"deal is {deal.status.name}, funds are not locked")
        if price is not None and deal.price != price:
            return Check(False, f"locked price {deal.price} differs from the agreed {price}")
        if collateral is not None and deal.collateral != collateral:
            return Check(False, f"locked collateral {deal.collateral} differs from the agreed {collateral}")
        return Check(True)

    async def attestation_linked(
        self, uid: bytes, *, schema: bytes, attester: str, recipient: str, ref_uid: bytes
    ) -> Check:
        """An attestation exists, has the expected schema and parties, is unrevoked and unexpired, and
        references the expected previous attestation of the deal."""
        record = await self.attestation(uid)
        if record.uid != uid:
            return Check(False, "no such attestation")
        if record.schema != schema:
            return Check(False, "wrong schema")
        if record.attester.lower() != attester.lower() or record.recipient.lower() != recipient.lower():
            return Check(False, "wrong attester or recipient")
        if record.revocation_time != 0:
            return Check(False, "revoked")
        if record.expiration_time != 0:
            return Check(False, "expires")
        if record.ref_uid != ref_uid:
            return Check(False, "not linked to the deal's previous attestation")
        return Check(True)

    async def funded_by(self, payer: str, payee: str, token: str, from_block: int, latest: int) -> bool:
        """Whether `payer` sent `payee` tokens in blocks [from_block, latest]: an ERC-20 transfer between their
        wallets, or a withdrawal from the payer's escrow account to the payee (`withdrawTo`). A validator a
        client funds is no independent judge of that client's deals."""
        transfers = ["0x" + TRANSFER_TOPIC.hex(), _topic(payer), _topic(payee)]
        async for logs in get_logs_chunked_async(self.rpc, token, transfers, from_block, latest, LOG_CHUNK_BLOCKS):
            if logs:
                return True
        withdrawals = ["0x" + self.market_codec.topics["Withdrawn"].hex(), _topic(token), _topic(payer)]
        async for logs in get_logs_chunked_async(self.rpc, self.market, withdrawals, from_block, latest,
                                                 LOG_CHUNK_BLOCKS):
            for log in logs:
                _, args = self.market_codec.decode_log(log)
                if args["to"].lower() == payee.lower():
                    return True
        return False


def _topic(address: str) -> str:
    return "0x" + "00" * 12 + address[2:].lower()
