// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { MarketFuzzBase } from "./MarketFuzzBase.sol";

/// @notice Longer runs of the same handler that must reach every path of the scheme: the rules checked by
/// the invariant suite mean little if the moves they guard never happen. Each run checks the rules of time,
/// caller, state and payout after every call and, at its end, that every path succeeded, and every rule-breaking
/// move was tried, a minimum number of times.
contract MarketPathCoverage is MarketFuzzBase {
    /// @dev In tuning (8 seeds) the rarest path succeeded at least 9 times in a run (abort; escalate 11, the other
    /// judging paths 15 or more) and the rarest probe was tried at least 5 times (a dispute by a non-client).
    uint256 internal constant MIN_SUCCESSES = 4;
    uint256 internal constant MIN_PROBES = 2;

    /// @dev No shrinking: a shortened sequence would fail the minimum counts of `afterInvariant` and report that
    /// instead of the rule the full run broke.
    /// forge-config: default.invariant.runs = 4
    /// forge-config: default.invariant.depth = 2048
    /// forge-config: default.invariant.shrink-run-limit = 0
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_rulesHoldOnLongRuns() public view {
        _assertTimeAndCallerRules();
        _assertPayoutRules();
    }

    /// @dev Each run of 2,048 calls reaches every path at least MIN_SUCCESSES times, and tries every rule-breaking
    /// probe and the time-bound moves exactly on a deadline and one second past it at least MIN_PROBES times.
    function afterInvariant() public view {
        bytes32[24] memory paths = [
            bytes32("deposit"), "withdraw", "request", "accept", "acceptCounter", "cancelRequest", "fund",
            "collateralMissing", "collateralTimeout", "commence", "complete", "approve", "settle", "claimTimeout",
            "abort", "dispute", "verdictApprove", "verdictReject", "appeal", "escalate", "ruleApprove", "ruleReject",
            "courtTimeout", "settleJudged"
        ];
        for (uint256 i; i < paths.length; ++i) {
            assertGe(
                handler.successes(paths[i]), MIN_SUCCESSES, string.concat("path rarely succeeded: ", _name(paths[i]))
            );
        }
        bytes32[15] memory probes = [
            bytes32("atParty"), "pastParty", "atKeeper", "pastKeeper", "replay", "abortByOther", "fundByOther",
            "attestByOther", "giveUpByOther", "verdictByOther", "disputeByOther", "appealByOther", "ruleByOther",
            "courtOutOfTurn", "clientRejects"
        ];
        for (uint256 i; i < probes.length; ++i) {
            assertGe(handler.probes(probes[i]), MIN_PROBES, string.concat("probe rarely tried: ", _name(probes[i])));
        }
        assertGe(handler.callsAtDeadline(), MIN_PROBES, "few moves tried exactly at a deadline");
        assertGe(handler.callsPastDeadline(), MIN_PROBES, "few moves tried one second past a deadline");
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
