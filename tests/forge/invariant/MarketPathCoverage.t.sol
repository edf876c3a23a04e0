// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { MarketFuzzBase } from "./MarketFuzzBase.sol";

/// @notice Longer runs of the same handler that must reach every path of the scheme: the rules checked by
/// the invariant suite mean little if the moves they guard never happen. Each run checks the time and caller
/// rules after every call and, at its end, that every path succeeded a minimum number of times.
contract MarketPathCoverage is MarketFuzzBase {
    /// forge-config: default.invariant.runs = 4
    /// forge-config: default.invariant.depth = 2048
    /// forge-config: default.invariant.shrink-run-limit = 50
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_rulesHoldOnLongRuns() public view {
        _assertTimeAndCallerRules();
    }

    /// @dev Each run of 2,048 calls reaches every path at least once (in tuning runs the rarest averaged
    /// about 8 per run), and tries the time-bound moves exactly on a deadline and one second past it.
    function afterInvariant() public view {
        bytes32[16] memory paths = [
            bytes32("deposit"), "withdraw", "request", "accept", "acceptCounter", "cancelRequest", "fund",
            "collateralMissing", "collateralTimeout", "commence", "complete", "approve", "reject", "settle",
            "claimTimeout", "abort"
        ];
        for (uint256 i; i < paths.length; ++i) {
            assertGe(handler.successes(paths[i]), 1, string.concat("path never succeeded: ", _name(paths[i])));
        }
        assertGe(handler.callsAtDeadline(), 1, "no move tried exactly at a deadline");
        assertGe(handler.callsPastDeadline(), 1, "no move tried one second past a deadline");
    }

    function _name(bytes32 path) private pure returns (string memory) {
        uint256 n;
        while (n < 32 && path[n] != 0) ++n;
        bytes memory s = new bytes(n);
        for (uint256 i; i < n; ++i) {
            s[i] = path[i];
        }
        return string(s);
    }
}
