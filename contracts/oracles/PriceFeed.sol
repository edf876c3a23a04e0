// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { Ownable } from "@openzeppelin/contracts/access/Ownable.sol";

import { AggregatorV3Interface } from "./AggregatorV3Interface.sol";

// The feed's reverts, named for what went wrong. They live here rather than in Common.sol because the feed
// is independent of the market and is deployed on its own.
error NotTheKeeper(address caller);
error NonPositiveAnswer(int256 answer);
error AnswerTooLarge(int256 answer);
error UnknownRound(uint80 roundId);
error NoRoundYet();
error ZeroKeeper();

/// @title PriceFeed
/// @notice A Chainlink-compatible price feed written by a single keeper: each `update` opens and answers a
/// new round, so rounds are numbered 1, 2, 3, ... and every round answers itself (`answeredInRound ==
/// roundId`, `startedAt == updatedAt`). Round 0 never exists. The owner chooses the keeper.
///
/// It stands in for a Chainlink feed on local chains and testnets, where an off-chain keeper pushes the
/// prices of a simulated market; readers cannot tell it from a real feed.
contract PriceFeed is AggregatorV3Interface, Ownable {
    /// @dev A round's answer and time in one slot: int192 holds any realistic price at 18 decimals.
    struct Round {
        int192 answer; // slot 0
        uint40 updatedAt;
    }

    /// @notice Version of this implementation, as reported by `version()`.
    uint256 public constant VERSION = 1;

    uint8 private immutable _decimals;

    /// @notice The only account that can write answers.
    address public keeper; // slot 1
    /// @notice The id of the latest round; 0 before the first update.
    uint80 public latestRoundId;

    string private _description;

    mapping(uint80 roundId => Round round) private _rounds;

    /// @notice The owner replaced the keeper.
    event KeeperSet(address indexed previousKeeper, address indexed newKeeper);

    /// @notice A new answer was written: Chainlink's `AggregatorInterface` event, so existing indexers see it.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    /// @param keeper_ The account allowed to write answers.
    /// @param decimals_ Decimals of the answers.
    /// @param description_ What the feed prices, e.g. "ETH / USD".
    constructor(address keeper_, uint8 decimals_, string memory description_) Ownable(msg.sender) {
        if (keeper_ == address(0)) revert ZeroKeeper();
        keeper = keeper_;
        _decimals = decimals_;
        _description = description_;
        emit KeeperSet(address(0), keeper_);
    }

    /// @notice Replace the keeper. Only the owner can.
    function setKeeper(address newKeeper) external onlyOwner {
        if (newKeeper == address(0)) revert ZeroKeeper();
        emit KeeperSet(keeper, newKeeper);
        keeper = newKeeper;
    }

    /// @notice Write a new answer as a new round. Only the keeper can; the answer must be positive (a price)
    /// and fit in int192.
    /// @param answer The price scaled by `10**decimals()`.
    /// @return roundId The id of the new round.
    function update(int256 answer) external returns (uint80 roundId) {
        if (msg.sender != keeper) revert NotTheKeeper(msg.sender);
        if (answer <= 0) revert NonPositiveAnswer(answer);
        if (answer > type(int192).max) revert AnswerTooLarge(answer);
        roundId = latestRoundId + 1;
        latestRoundId = roundId;
        // Both casts are safe: the answer was bounded above, and uint40 seconds last until the year 36812.
        // forge-lint: disable-next-line(unsafe-typecast)
        _rounds[roundId] = Round({ answer: int192(answer), updatedAt: uint40(block.timestamp) });
        emit AnswerUpdated(answer, roundId, block.timestamp);
    }

    /// @inheritdoc AggregatorV3Interface
    function decimals() external view returns (uint8) {
        return _decimals;
    }

    /// @inheritdoc AggregatorV3Interface
    function description() external view returns (string memory) {
        return _description;
    }

    /// @inheritdoc AggregatorV3Interface
    function version() external pure returns (uint256) {
        return VERSION;
    }

    /// @inheritdoc AggregatorV3Interface
    /// @dev Reverts with `UnknownRound` for round 0 and for rounds not yet written.
    function getRoundData(uint80 roundId_)
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        if (roundId_ == 0 || roundId_ > latestRoundId) revert UnknownRound(roundId_);
        return _roundData(roundId_);
    }

    /// @inheritdoc AggregatorV3Interface
    /// @dev Reverts with `NoRoundYet` before the first update.
    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        uint80 latest = latestRoundId;
        if (latest == 0) revert NoRoundYet();
        return _roundData(latest);
    }

    function _roundData(uint80 roundId) private view returns (uint80, int256, uint256, uint256, uint80) {
        Round memory round = _rounds[roundId];
        return (roundId, round.answer, round.updatedAt, round.updatedAt, roundId);
    }
}
