// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { Vm } from "forge-std/Vm.sol";
import { ReentrancyGuardTransient } from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import { MarketTestBase } from "./Base.t.sol";
import { ComputeMarket } from "../../contracts/ComputeMarket.sol";
import { HookToken, ITokensSender } from "../../contracts/mocks/HookToken.sol";
import { IComputeMarket } from "../../contracts/interfaces/IComputeMarket.sol";
import { Deal, Offer, Request, Status } from "../../contracts/Types.sol";

/// @notice A client that is a contract and pays with a hook token: when armed, it tries `reentry` on the
/// market from inside the token pull of its own call (accept, dispute, appeal), and records whether the market
/// let it through.
contract ReentrantClient is ITokensSender {
    ComputeMarket private immutable _market;
    bytes private _reentry;
    bool public armed;
    bool public reentered;
    bytes public reentryResult;

    constructor(ComputeMarket market) {
        _market = market;
    }

    function approve(HookToken token) external {
        token.approve(address(_market), type(uint256).max);
    }

    function request(Request calldata req) external returns (bytes32) {
        return _market.request(req, "ipfs://spec", new address[](0));
    }

    /// @dev Makes `action` on the market (bubbling its revert); during its token pull the hook replays `reentry`.
    function actAndReenter(bytes calldata action, bytes calldata reentry) external {
        _reentry = reentry;
        armed = true;
        (bool ok, bytes memory ret) = address(_market).call(action);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        armed = false;
    }

    function tokensToSend(address, address, address, uint256) external {
        if (!armed) return;
        armed = false;
        (reentered, reentryResult) = address(_market).call(_reentry);
    }
}

/// @notice Reentrancy through a token that calls the payer during transfers (ERC-777 style).
contract ReentrancyTest is MarketTestBase {
    HookToken internal hookToken;
    ReentrantClient internal attacker;

    function setUp() public override {
        super.setUp();
        hookToken = new HookToken();
        attacker = new ReentrantClient(market);
        vm.label(address(attacker), "attacker");
        hookToken.mint(address(attacker), MINTED);
        attacker.approve(hookToken);
        fundAccount(address(hookToken), provider, MINTED, DEPOSITED);
    }

    function _attackerRequest(bool withValidator) internal returns (Request memory req, bytes32 dealId) {
        req = withValidator ? newValidatorRequest() : newRequest();
        req.client = address(attacker);
        req.token = address(hookToken);
        dealId = attacker.request(req);
    }

    /// The client cancels its request from inside the payment pull of its own accept. Before the fix the
    /// transaction logged Closed(Cancelled) then Accepted and left an Agreed deal whose request was closed:
    /// the provider's agent never starts and the client later claims the collateral.
    function test_accept_cancelRequestFromTokenHookIsRefused() public {
        (Request memory req, bytes32 dealId) = _attackerRequest(false);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);

        vm.recordLogs();
        attacker.actAndReenter(
            abi.encodeCall(IComputeMarket.accept, (req, terms, sig)),
            abi.encodeCall(IComputeMarket.cancelRequest, (req))
        );

        assertFalse(attacker.reentered(), "cancelRequest ran inside accept");
        assertEq(uint8(statusOf(dealId)), uint8(Status.Agreed));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            assertTrue(logs[i].topics[0] != IComputeMarket.Closed.selector, "the deal was closed as well as accepted");
        }
        assertEq(hookToken.balanceOf(address(market)), market.totalOwed(address(hookToken)), "balance != totalOwed");
    }

    /// The deal is written before the token pull: code that runs during the pull sees the accepted deal,
    /// not an open request.
    function test_accept_dealIsWrittenBeforeThePull() public {
        (Request memory req, bytes32 dealId) = _attackerRequest(false);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);

        attacker.actAndReenter(
            abi.encodeCall(IComputeMarket.accept, (req, terms, sig)), abi.encodeCall(IComputeMarket.getDeal, (dealId))
        );
        assertTrue(attacker.reentered());
        Deal memory seen = abi.decode(attacker.reentryResult(), (Deal));
        assertEq(uint8(seen.status), uint8(Status.Agreed), "the pull ran before the deal was written");
        assertEq(keccak256(abi.encode(seen)), keccak256(abi.encode(market.getDeal(dealId))));
    }

    /// @dev The attacker's deal on the hook token, accepted with its price pulled from its wallet (its escrow
    /// account stays empty, so a later bond is pulled too) and completed by the provider.
    function _attackerCompletedDeal(bool withValidator)
        internal
        returns (Request memory req, bytes32 dealId, bytes32 completionUid)
    {
        (req, dealId) = _attackerRequest(withValidator);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);
        attacker.actAndReenter(abi.encodeCall(IComputeMarket.accept, (req, terms, sig)), ""); // nothing to replay
        completionUid = attestCompletion(dealId, attestCommencement(dealId));
    }

    /// The dispute writes the deal (Disputed, the court's deadline, the bond) before pulling the bond, and
    /// nothing else runs on the market during that pull.
    function test_dispute_dealIsWrittenBeforeTheBondPull() public {
        (Request memory req, bytes32 dealId,) = _attackerCompletedDeal(false);
        attacker.actAndReenter(
            abi.encodeCall(IComputeMarket.dispute, (req)), abi.encodeCall(IComputeMarket.getDeal, (dealId))
        );
        assertTrue(attacker.reentered());
        Deal memory seen = abi.decode(attacker.reentryResult(), (Deal));
        assertEq(uint8(seen.status), uint8(Status.Disputed), "the pull ran before the deal was written");
        assertEq(keccak256(abi.encode(seen)), keccak256(abi.encode(market.getDeal(dealId))));
        assertEq(hookToken.balanceOf(address(market)), market.totalOwed(address(hookToken)), "balance != totalOwed");

        (Request memory req2, bytes32 id2,) = _attackerCompletedDeal(false);
        attacker.actAndReenter(
            abi.encodeCall(IComputeMarket.dispute, (req2)), abi.encodeCall(IComputeMarket.dispute, (req2))
        );
        assertFalse(attacker.reentered(), "dispute ran inside dispute");
        assertEq(bytes4(attacker.reentryResult()), ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        assertEq(uint8(statusOf(id2)), uint8(Status.Disputed));
    }

    /// The appeal writes the deal before pulling the appellant's bond; a reentrant appeal is refused.
    function test_appeal_dealIsWrittenBeforeTheBondPull() public {
        fundAccount(address(hookToken), validator, MINTED, DEPOSITED);
        (, bytes32 dealId, bytes32 completionUid) = _attackerCompletedDeal(true);
        attestValidation(validator, dealId, completionUid, true); // the attacker, as client, appeals an approval
        attacker.actAndReenter(
            abi.encodeCall(IComputeMarket.appeal, (dealId)), abi.encodeCall(IComputeMarket.getDeal, (dealId))
        );
        assertTrue(attacker.reentered());
        Deal memory seen = abi.decode(attacker.reentryResult(), (Deal));
        assertEq(uint8(seen.status), uint8(Status.Disputed), "the pull ran before the deal was written");
        assertEq(keccak256(abi.encode(seen)), keccak256(abi.encode(market.getDeal(dealId))));

        (, bytes32 id2, bytes32 uid2) = _attackerCompletedDeal(true);
        attestValidation(validator, id2, uid2, true);
        attacker.actAndReenter(
            abi.encodeCall(IComputeMarket.appeal, (id2)), abi.encodeCall(IComputeMarket.appeal, (id2))
        );
        assertFalse(attacker.reentered(), "appeal ran inside appeal");
        assertEq(bytes4(attacker.reentryResult()), ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        assertEq(uint8(statusOf(id2)), uint8(Status.Disputed));
        assertEq(hookToken.balanceOf(address(market)), market.totalOwed(address(hookToken)), "balance != totalOwed");
    }
}
