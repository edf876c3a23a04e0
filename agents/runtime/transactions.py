"""One account's market transactions, sent through its outbox: the scheme messages an agent replies with
(built from the table in `agents.chain.scheme`, offers signed with the account's key) and the escrow calls
that fund the account (approve the token, deposit, withdraw)."""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.chain.scheme import MAX_UINT256, Call, Deal, MarketCalls, Schema
from agents.chain.transactions import Signer
from agents.policy import Reply
from agents.runtime.connection import MarketConnection
from agents.runtime.outbox import Outbox, SentTransaction


def market_calls(connection: MarketConnection) -> MarketCalls:
    """The transaction builder for the market a connection is open on."""
    deployment = connection.deployment
    schema_uids = {
        Schema.COMMENCEMENT: deployment.commencement_schema,
        Schema.COMPLETION: deployment.completion_schema,
        Schema.VALIDATION: deployment.validation_schema,
    }
    return MarketCalls(
        domain=connection.domain,
        eas=deployment.eas,
        token=deployment.token,
        schema_uids={schema: bytes.fromhex(uid[2:]) for schema, uid in schema_uids.items()},
        market_codec=connection.market_codec,
        eas_codec=connection.eas_codec,
        token_codec=connection.token_codec,
        encode=getattr(connection.backend, "encodes_calls", True),
    )


@dataclass
class MarketTransactions:
    outbox: Outbox
    calls: MarketCalls
    _signer: Signer | None = field(default=None, repr=False)

    @classmethod
    def open(cls, connection: MarketConnection, outbox: Outbox) -> MarketTransactions:
        return cls(outbox, market_calls(connection))

    async def send(self, reply: Reply, deal: Deal | None, trigger_at: float | None = None) -> SentTransaction:
        """Send a scheme message; `trigger_at` is when the message it answers arrived (for latency)."""
        return await self._send(self.calls.message(reply, deal, self._sign_digest), trigger_at)

    async def approve_token(self, amount: int = MAX_UINT256) -> SentTransaction:
        return await self._send(self.calls.approve_token(amount))

    async def deposit(self, amount: int) -> SentTransaction:
        return await self._send(self.calls.deposit(amount))

    async def withdraw(self, amount: int) -> SentTransaction:
        return await self._send(self.calls.withdraw(amount))

    def _sign_digest(self, digest: bytes) -> bytes:
        if self._signer is None:
            self._signer = Signer(self.outbox.account.key)
        return self._signer.sign_digest(digest)

    async def _send(self, call: Call, trigger_at: float | None = None) -> SentTransaction:
        return await self.outbox.send_call(call, trigger_at)
