// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title AggregatorV3Interface
/// @notice The read interface of Chainlink price feeds, declared here because the Chainlink npm package
/// cannot be installed in this project. The selectors and return tuples are Chainlink's, so every tool
/// and contract that reads a Chainlink feed reads ours, and agents read real feeds with the same code.
interface AggregatorV3Interface {
    /// @notice Number of decimals of `answer`: the price is `answer / 10**decimals()`.
    function decimals() external view returns (uint8);

    /// @notice What the feed prices, e.g. "ETH / USD".
    function description() external view returns (string memory);

    /// @notice Version of the aggregator implementation behind the feed.
    function version() external view returns (uint256);

    /// @notice The data of one round.
    /// @param roundId_ The round to read.
    /// @return roundId The round read.
    /// @return answer The price, scaled by `10**decimals()`.
    /// @return startedAt When the round started.
    /// @return updatedAt When the answer was last written.
    /// @return answeredInRound The round in which the answer was computed.
    function getRoundData(uint80 roundId_)
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    /// @notice The data of the latest round, with the same fields as `getRoundData`.
    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
}
