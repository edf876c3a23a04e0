"""Funding an agent: the tokens it trades with must be deposited in the market's escrow, not only held in its
wallet. On the project's test token (anyone may mint it: it has no value) the agent mints them itself; on any
other token its wallet must already hold them, and `FundingNeeded` says what to send where. Then it approves
the market and deposits. `ape run fund` is the command; the agent signs every transaction with its own key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from agents.chain.calls import signature_call
from agents.chain.sync import SyncClient, as_int
from agents.chain.transactions import Signer, send_transaction
from agents.deploy.addresses import Deployment
from agents.deploy.contracts import artifact, code_matches


class FundingNeeded(Exception):
    """The agent's wallet lacks what funding needs (tokens that cannot be minted, or gas): the message says
    what to send where, and what running the command again will then do."""


@dataclass(frozen=True)
class Token:
    address: str
    symbol: str
    decimals: int
    mintable: bool  # the project's TestToken: anyone may mint

    def units(self, tokens: Decimal) -> int:
        """Whole tokens as the token's smallest units; ValueError if finer than its decimals allow."""
        units = tokens * 10**self.decimals
        if units != units.to_integral_value():
            raise ValueError(f"{tokens} has more decimals than {self.symbol}'s {self.decimals}")
        return int(units)

    def show(self, units: int) -> str:
        return f"{Decimal(units) / 10**self.decimals:f} {self.symbol}"


@dataclass(frozen=True)
class Funded:
    minted: int  # token units
    deposited: int
    available: int  # the agent's escrow balance free for new deals, after the deposit


def read_token(client: SyncClient, address: str) -> Token:
    (symbol,) = client.call_function(address, "symbol()", returns=["string"])
    (decimals,) = client.call_function(address, "decimals()", returns=["uint8"])
    mintable = code_matches(client.code(address), artifact("TestToken").runtime)
    return Token(address, symbol, decimals, mintable)


def available(client: SyncClient, deployment: Deployment, owner: str) -> int:
    """What `owner` has free in the market's escrow, in the deployment's token."""
    return client.call_function(deployment.market, "available(address,address)", ["address", "address"],
                                [deployment.token, owner], returns=["uint256"])[0]


def fund(client: SyncClient, signer: Signer, deployment: Deployment, token: Token, amount: int,
         log: Callable[[str], None] = print) -> Funded:
    """Deposit `amount` units of the deployment's token into `signer`'s escrow account at the market, minting
    them first on the test token; FundingNeeded, before anything is sent, if the wallet cannot pay for it."""
    me = signer.address
    wallet = _balance(client, token.address, me)
    if not token.mintable and wallet < amount:
        raise FundingNeeded(
            f"{me} holds {token.show(wallet)} and {token.address} is not a token it can mint: send it "
            f"{token.show(amount - wallet)} more (token {token.address} on chain {deployment.chain_id}), then run "
            f"this again to approve the market {deployment.market} and deposit {token.show(amount)} into its escrow")
    if client.balance(me) == 0:
        raise FundingNeeded(f"{me} has no ETH to pay for gas on chain {deployment.chain_id}: send it some first "
                            "(from a faucet on a testnet), then run this again")
    minted = 0
    if token.mintable:
        _send(client, signer, token.address, "mint(address,uint256)", me, amount, log=log)
        minted = amount
    allowance = client.call_function(token.address, "allowance(address,address)", ["address", "address"],
                                     [me, deployment.market], returns=["uint256"])[0]
    if allowance < amount:
        _send(client, signer, token.address, "approve(address,uint256)", deployment.market, amount, log=log)
    _send(client, signer, deployment.market, "deposit(address,uint256)", token.address, amount, log=log)
    return Funded(minted=minted, deposited=amount, available=available(client, deployment, me))


def _balance(client: SyncClient, token: str, owner: str) -> int:
    return client.call_function(token, "balanceOf(address)", ["address"], [owner], returns=["uint256"])[0]


def _send(client: SyncClient, signer: Signer, to: str, signature: str, address: str, amount: int, log) -> None:
    receipt = send_transaction(client, signer, to, signature_call(signature, ["address", "uint256"], [address, amount]))
    log(f"{signature.split('(')[0]}: transaction {receipt['transactionHash']} in block {as_int(receipt['blockNumber'])}")
