"""Chain readers of the global state: gas fees (`eth_feeHistory`), Chainlink-compatible price feeds
(`AggregatorV3Interface`, e.g. `contracts/oracles/PriceFeed.sol`), and the `OracleKeeper` that fills a
`PriceFeed` from a price model, with their ABIs. All of them reach the node through a `SyncClient`."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median_low

from eth_account import Account
from eth_utils import to_checksum_address

from agents.chain.codec import ContractCodec
from agents.chain.sync import SyncClient, as_int
from agents.chain.transactions import Signer, send_transaction
from agents.oracles.models import GasPrice, PriceQuote, PriceSource


class GasOracle:
    """Fees read from the chain with `eth_feeHistory` over the last `block_count` blocks.

    The base fee is the node's base fee for the next block. The priority fee is the median, over the
    recent blocks that carried transactions, of each block's `reward_percentile`-th percentile of priority
    fees paid (empty blocks report 0, which says nothing about the competition); with no such block, or
    below it, `min_priority_fee_wei`.
    """

    def __init__(self, client: SyncClient, *, block_count: int = 20, reward_percentile: float = 50.0,
                 min_priority_fee_wei: int = 0):
        if block_count < 1:
            raise ValueError(f"block_count must be at least 1, got {block_count}")
        if not 0 <= reward_percentile <= 100:
            raise ValueError(f"reward_percentile must be in [0, 100], got {reward_percentile}")
        self.client = client
        self.block_count = block_count
        self.reward_percentile = reward_percentile
        self.min_priority_fee_wei = min_priority_fee_wei

    def read(self) -> GasPrice:
        history = self.client.fee_history(self.block_count, [self.reward_percentile])
        used_ratios = history["gasUsedRatio"]
        rewards = [as_int(tips[0]) for tips, ratio in zip(history.get("reward", []), used_ratios) if ratio > 0]
        priority_fee = max(median_low(rewards), self.min_priority_fee_wei) if rewards else self.min_priority_fee_wei
        return GasPrice(
            # baseFeePerGas has one more entry than there are blocks: the next block's base fee.
            base_fee_wei=as_int(history["baseFeePerGas"][-1]),
            priority_fee_wei=priority_fee,
            block_number=as_int(history["oldestBlock"]) + len(used_ratios) - 1,
        )

    def gas(self, now: float) -> GasPrice:
        """The chain's current fees (`now` is not used: the chain has only a present)."""
        return self.read()


def _abi_function(name: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]], mutability: str) -> dict:
    return {
        "type": "function",
        "name": name,
        "inputs": [{"name": n, "type": t, "internalType": t} for n, t in inputs],
        "outputs": [{"name": n, "type": t, "internalType": t} for n, t in outputs],
        "stateMutability": mutability,
    }


_ROUND_OUTPUTS = [
    ("roundId", "uint80"),
    ("answer", "int256"),
    ("startedAt", "uint256"),
    ("updatedAt", "uint256"),
    ("answeredInRound", "uint80"),
]

# Chainlink's read interface, inline so that agents read any Chainlink-compatible feed, including real ones
# on live chains, without the project's build.
AGGREGATOR_V3_ABI: list[dict] = [
    _abi_function("decimals", [], [("", "uint8")], "view"),
    _abi_function("description", [], [("", "string")], "view"),
    _abi_function("version", [], [("", "uint256")], "view"),
    _abi_function("getRoundData", [("roundId_", "uint80")], _ROUND_OUTPUTS, "view"),
    _abi_function("latestRoundData", [], _ROUND_OUTPUTS, "view"),
]

# What the keeper needs of `PriceFeed` on top of it.
PRICE_FEED_KEEPER_ABI: list[dict] = AGGREGATOR_V3_ABI + [
    _abi_function("update", [("answer", "int256")], [("roundId", "uint80")], "nonpayable"),
    _abi_function("keeper", [], [("", "address")], "view"),
    {
        "type": "event",
        "name": "AnswerUpdated",
        "anonymous": False,
        "inputs": [
            {"name": "current", "type": "int256", "indexed": True, "internalType": "int256"},
            {"name": "roundId", "type": "uint256", "indexed": True, "internalType": "uint256"},
            {"name": "updatedAt", "type": "uint256", "indexed": False, "internalType": "uint256"},
        ],
    },
]


@dataclass(frozen=True)
class FeedReading:
    """One round of an on-chain feed; `price` is `answer / 10**decimals`, `age` is seconds since its update."""

    round_id: int
    answer: int
    price: float
    updated_at: int
    answered_in_round: int
    age: float

    @property
    def quote(self) -> PriceQuote:
        return PriceQuote(self.price, float(self.updated_at))


class OnChainPriceFeed:
    """Reads a Chainlink-compatible (`AggregatorV3Interface`) feed."""

    def __init__(self, client: SyncClient, address: str):
        self.client = client
        self.address = to_checksum_address(address)
        self.codec = ContractCodec(AGGREGATOR_V3_ABI)
        self._decimals: int | None = None

    @property
    def decimals(self) -> int:
        if self._decimals is None:  # immutable on-chain: one call is enough
            (self._decimals,) = self.client.read(self.address, self.codec, "decimals")
        return self._decimals

    def description(self) -> str:
        (description,) = self.client.read(self.address, self.codec, "description")
        return description

    def _reading(self, values, now: float | None) -> FeedReading:
        round_id, answer, _started_at, updated_at, answered_in_round = values
        if now is None:
            now = self.client.timestamp()
        return FeedReading(
            round_id=round_id,
            answer=answer,
            price=answer / 10**self.decimals,
            updated_at=updated_at,
            answered_in_round=answered_in_round,
            age=float(now) - updated_at,
        )

    def latest(self, now: float | None = None) -> FeedReading:
        """The latest round; its age is measured against `now`, or the latest block's timestamp if None."""
        return self._reading(self.client.read(self.address, self.codec, "latestRoundData"), now)

    def round(self, round_id: int, now: float | None = None) -> FeedReading:
        return self._reading(self.client.read(self.address, self.codec, "getRoundData", round_id), now)

    def quote(self, now: float) -> PriceQuote:
        return self.latest(now).quote

    def price(self, now: float) -> float:
        return self.latest(now).price


@dataclass(frozen=True)
class KeeperUpdate:
    round_id: int
    answer: int
    transaction_hash: bytes
    block_timestamp: int


class OracleKeeper:
    """Pushes a price source's prices into a deployed `PriceFeed`, signing with its own key.

    The nonce is taken from the node's pending count at each push, so a keeper restarted at any moment
    carries on without nonce errors (it must be the only user of its key).
    """

    def __init__(self, client: SyncClient, feed_address: str, private_key: str | bytes, prices: PriceSource):
        self.client = client.with_poll_interval(0.1)
        self.account = Account.from_key(private_key)
        self.signer = Signer(self.account.key)
        self.address = to_checksum_address(feed_address)
        self.codec = ContractCodec(PRICE_FEED_KEEPER_ABI)
        self.prices = prices
        (self.decimals,) = self.client.read(self.address, self.codec, "decimals")

    def answer_for(self, price: float) -> int:
        """The on-chain answer for a price: scaled by 10**decimals and rounded."""
        answer = round(price * 10**self.decimals)
        if answer <= 0:
            raise ValueError(f"price {price} is not positive at {self.decimals} decimals; the feed would reject it")
        return answer

    def push(self, now: float) -> KeeperUpdate:
        """Write the source's price at `now` as a new round and wait for it to be mined."""
        answer = self.answer_for(self.prices.price(now))
        receipt = send_transaction(self.client, self.signer, self.address, self.codec.encode_call("update", answer))
        _, args = next(decoded for decoded in map(self.codec.decode_log, receipt["logs"])
                       if decoded is not None and decoded[0] == "AnswerUpdated")
        return KeeperUpdate(
            round_id=args["roundId"],
            answer=args["current"],
            transaction_hash=bytes.fromhex(receipt["transactionHash"][2:]),
            block_timestamp=args["updatedAt"],
        )
