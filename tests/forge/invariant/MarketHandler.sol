// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { CommonBase } from "forge-std/Base.sol";
import { StdUtils } from "forge-std/StdUtils.sol";
import { Vm } from "forge-std/Vm.sol";
import {
    IEAS,
    AttestationRequest,
    AttestationRequestData
} from "@ethereum-attestation-service/eas-contracts/contracts/IEAS.sol";

import { ComputeMarket } from "../../../contracts/ComputeMarket.sol";
import { IComputeMarket } from "../../../contracts/interfaces/IComputeMarket.sol";
import { TestToken } from "../../../contracts/tokens/TestToken.sol";
import { Deal, Offer, Request, Status, ValidationScheme, Verdict } from "../../../contracts/Types.sol";

/// @notice Drives the market with bounded random actions from a fixed set of actors and keeps ghost books that
/// the invariants compare with the contract. Every action that targets a deal picks one in a state where the
/// action can succeed, so that runs reach deep states. Failures are swallowed (try/catch), so forge's revert
/// count says nothing; instead the handler keeps its own model of the rules, independent of the market's code:
/// every deal's deadline, the status each move must lead to, what each open deal holds (price, fee, collateral,
/// the validator's stake, a disputant's bond) and what each close must pay to whom. A flag records each rule a
/// correct market never breaks, and successes are counted per path so that a run that never reached a path is
/// noticed.
contract MarketHandler is CommonBase, StdUtils {
    /// @dev Unlocked balances credited by one close, per role.
    struct Payout {
        uint256 client;
        uint256 provider;
        uint256 validator;
        uint256 court;
    }

    /// @dev What the handler knows about a deal independently of the market's storage.
    struct Ghost {
        Status status; // the market's status as last read after a move on this deal (picks deals cheaply)
        address client;
        address provider;
        uint96 price;
        uint96 collateral;
        uint96 fee; // the validator's fee (0 when optimistic)
        uint96 bond; // the validator's stake, and what a disputant or appellant posts
        bool validatorScheme;
        Verdict verdict; // the validator's verdict, once given
        address disputant; // who posted a bond to take the deal to the court (nobody for an escalation)
        bytes32 lastUid; // the deal's latest attestation, to reference from the next one
        bytes32 completionUid;
        uint256 locked; // what the deal holds by the rules; 0 once closed
        uint256 released; // what it held when it closed
        uint256 closes; // Closed events seen for this deal
        bool terminalSeen;
        Status terminal; // first terminal status observed
        uint40 deadline; // the deal's deadline as the rules set it, computed here and not read from the market
        uint24 commenceWithin;
        uint24 jobDuration;
        uint24 validationWindow;
        Payout paid; // credited by the close
        Payout expected; // what the rules say the close credits
    }

    uint256 internal constant MAX_AMOUNT = 800e18;
    uint256 internal constant MAX_FEE = 20e18;
    uint256 internal constant MAX_BOND = 60e18;
    uint256 internal constant WALLET = 1e27;

    ComputeMarket public immutable market;
    IEAS public immutable eas;
    TestToken public immutable token;
    bytes32 internal immutable commencementSchema;
    bytes32 internal immutable completionSchema;
    bytes32 internal immutable validationSchema;
    uint24 internal immutable courtWindow;

    uint256[] internal _keys;
    address[] internal _actors; // clients and providers
    address public immutable validator;
    address public immutable court;
    address public immutable keeper; // a bystander calling the permissionless time-outs

    uint256 public currentTime;

    Request[] internal _pending; // requests still open (status None)
    bytes32[] internal _dealIds; // every request that left None: accepted or cancelled
    bytes32[] internal _openIds; // accepted deals not seen closed yet
    bytes32[] internal _closedIds; // deals seen closed, and cancelled requests
    mapping(bytes32 dealId => uint256 slot) internal _openSlot; // index in _openIds plus one
    bytes32 internal _touched; // the deal the current action moved or tried to move
    mapping(bytes32 dealId => Ghost ghost) internal _ghosts;
    mapping(bytes32 dealId => Request req) internal _requests; // the terms of accepted deals, for `dispute`

    // Things a correct market never does with money.
    bool public strayCredit; // a close credited someone other than the deal's parties and the court
    bool public unexpectedCredit; // a move that does not close a deal credited an account
    bool public unexpectedDebit; // a close reduced someone's unlocked balance
    bool public wrongPayout; // a close paid a party, the validator or the court other amounts than the rules give
    bool public unstakedValidator; // a validator deal was agreed while the validator's account lacked the stake
    // State-machine rules.
    bool public terminalMoved; // a call on a terminal deal succeeded
    bool public replayAccepted; // a replayed or mis-referenced attestation went through
    bool public wrongOutcome; // a move that went through left the deal in another status than the rules give
    // Time and caller rules a correct market never breaks.
    bool public earlyTimeout; // claimTimeout accepted at or before the deadline (commencement, completion, court)
    bool public earlySettle; // settle accepted at or before the end of the validation or appeal window
    bool public earlyEscalate; // escalate accepted at or before the end of the validation window
    bool public lateAttestation; // a commencement, completion, approval or verdict accepted after the deadline
    bool public lateRuling; // the court's ruling accepted after its deadline
    bool public lateChallenge; // a dispute or an appeal accepted after its window
    bool public lateFunding; // fund accepted after the deadline
    bool public wrongPartyMoved; // a move accepted from a party the rules do not allow to make it
    bool public wrongAppellant; // an appeal accepted from anyone but the party the verdict went against
    bool public clientRejected; // a client's rejecting attestation went through (it must dispute instead)
    bool public settledWithoutVerdict; // settle of a validator deal accepted before any verdict
    bool public wrongScheme; // a dispute in the validator scheme, or an escalation in the optimistic one
    bool public courtOutOfTurn; // the court's attestation accepted on a deal nobody brought to it
    bool public refusedInTime; // the right party's move refused on its deadline, or a keeper's one second past it

    /// @dev Boundary attempts: the time-bound moves made exactly on a deadline and one second past it.
    uint256 public callsAtDeadline;
    uint256 public callsPastDeadline;

    /// @dev Successful actions by path name, and attempts at rule-breaking moves by probe name; the coverage
    /// test asserts minimum counts so that a handler change that stops reaching a path fails loudly.
    mapping(bytes32 path => uint256 count) public successes;
    mapping(bytes32 probe => uint256 count) public probes;

    constructor(
        ComputeMarket market_,
        IEAS eas_,
        TestToken token_,
        uint256[] memory keys_,
        address validator_,
        address keeper_
    ) {
        market = market_;
        eas = eas_;
        token = token_;
        commencementSchema = market_.commencementSchemaUID();
        completionSchema = market_.completionSchemaUID();
        validationSchema = market_.validationSchemaUID();
        courtWindow = market_.courtWindow();
        validator = validator_;
        court = market_.court();
        keeper = keeper_;
        for (uint256 i; i < keys_.length; ++i) {
            _keys.push(keys_[i]);
            _actors.push(vm.addr(keys_[i]));
            _fundWallet(token_, vm.addr(keys_[i]), address(market_));
        }
        _fundWallet(token_, validator_, address(market_));
        currentTime = block.timestamp;
    }

    function _fundWallet(TestToken token_, address account, address market_) private {
        token_.mint(account, WALLET);
        vm.prank(account);
        token_.approve(market_, type(uint256).max);
    }

    /// @dev Restores the handler's clock (cheatcode time does not reliably carry across fuzz calls) and
    /// observes every Closed event the action produced and the status it left its deal in. (Each action moves
    /// at most one deal; the invariants read every deal's status from the market.)
    modifier observed() {
        vm.warp(currentTime);
        vm.recordLogs();
        _touched = 0;
        _;
        _countCloses(vm.getRecordedLogs());
        if (_touched != 0) _refresh(_touched);
    }

    // -------------------------------------------------------------------------------------------------
    // Escrow accounts
    // -------------------------------------------------------------------------------------------------

    /// @dev A client, a provider or the validator tops up its account.
    function deposit(uint256 actorSeed, uint256 amount) external observed {
        address actor = actorSeed % 4 == 3 ? validator : _actor(actorSeed);
        amount = _bound(amount, 1, MAX_AMOUNT);
        vm.prank(actor);
        market.deposit(address(token), amount);
        ++successes["deposit"];
    }

    /// @dev Anyone with an unlocked balance (the court too) takes some out.
    function withdraw(uint256 actorSeed, uint256 amount) external observed {
        uint256 pick = actorSeed % 5;
        address actor = pick == 3 ? validator : pick == 4 ? court : _actor(actorSeed);
        uint256 available = market.available(address(token), actor);
        if (available == 0) return;
        amount = _bound(amount, 1, available);
        vm.prank(actor);
        market.withdraw(address(token), amount);
        ++successes["withdraw"];
    }

    // -------------------------------------------------------------------------------------------------
    // Negotiation
    // -------------------------------------------------------------------------------------------------

    function request(uint256 seed, uint256 price, uint256 collateral) external observed {
        (Request memory req, bool ok) = _request(seed, price, collateral);
        if (!ok) return;
        _pending.push(req);
        ++successes["request"];
    }

    function requestAndAccept(uint256 seed, uint256 price, uint256 collateral) external observed {
        (Request memory req, bool ok) = _request(seed, price, collateral);
        if (!ok) return;
        _pending.push(req);
        _accept(_pending.length - 1, seed >> 8, price, collateral, true);
    }

    /// @dev A fresh deal carried through acceptance, commencement and completion in one action, and often on to a
    /// verdict or a dispute, so that runs hold many deals in the judging states (each step is checked like any
    /// other).
    function drive(uint256 seed, uint256 price, uint256 collateral) external observed {
        (Request memory req, bool ok) = _request(seed, price, collateral);
        if (!ok) return;
        _pending.push(req);
        bytes32 dealId = market.hashRequest(req);
        _accept(_pending.length - 1, seed >> 8, price, collateral, false);
        if (_status(dealId) != Status.Agreed) return;
        Ghost storage g = _ghosts[dealId];
        if (!_commence(dealId, g.provider) || !_complete(dealId, g.provider, keccak256(abi.encode(seed)))) return;
        uint256 next = uint256(keccak256(abi.encode(seed, "next"))) % 4;
        if (g.validatorScheme && next < 2) _validate(dealId, validator, next == 0);
        else if (!g.validatorScheme && next == 0) _dispute(dealId, g.client);
    }

    function acceptPending(uint256 index, uint256 seed, uint256 price, uint256 collateral) external observed {
        if (_pending.length == 0) return;
        _accept(index % _pending.length, seed, price, collateral, true);
    }

    function cancelRequest(uint256 index) external observed {
        if (_pending.length == 0) return;
        index %= _pending.length;
        Request memory req = _pending[index];
        bytes32 dealId = market.hashRequest(req);
        vm.prank(req.client);
        try market.cancelRequest(req) {
            _removePending(index);
            _track(dealId).client = req.client;
            _touched = dealId;
            ++successes["cancelRequest"];
        } catch { }
    }

    // -------------------------------------------------------------------------------------------------
    // Deal lifecycle
    // -------------------------------------------------------------------------------------------------

    function fund(uint256 seed) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _awaiting());
        if (found) _fund(dealId, _funder(dealId));
    }

    function collateralMissing(uint256 seed, bool byWaitingParty) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _awaiting());
        if (!found) return;
        // Half the keeper's attempts wait one second past the deadline: funding otherwise wins most races.
        if (!byWaitingParty && seed & 1 == 1) _warpPast(dealId);
        _collateralMissing(dealId, byWaitingParty ? _waiting(dealId) : keeper);
    }

    function commence(uint256 seed) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _mask(Status.Agreed));
        if (found) _commence(dealId, _ghosts[dealId].provider);
    }

    function complete(uint256 seed, bytes32 resultHash) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _mask(Status.Commenced));
        if (!found) return;
        _complete(dealId, _ghosts[dealId].provider, resultHash == 0 ? keccak256(abi.encode(seed)) : resultHash);
    }

    /// @dev The client approves a completed result (in either scheme).
    function approve(uint256 seed) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _mask(Status.Completed));
        if (found) _validate(dealId, _ghosts[dealId].client, true);
    }

    /// @dev The validator gives its verdict on a completed result of a validator deal.
    function verdict(uint256 seed, bool approved) external observed {
        (bool found, bytes32 dealId) = _pickScheme(seed, _mask(Status.Completed), true);
        if (found) _validate(dealId, validator, approved);
    }

    /// @dev The client of an optimistic deal disputes its result.
    function dispute(uint256 seed) external observed {
        (bool found, bytes32 dealId) = _pickScheme(seed, _mask(Status.Completed), false);
        if (found) _dispute(dealId, _ghosts[dealId].client);
    }

    /// @dev The party a verdict went against appeals it.
    function appeal(uint256 seed) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _mask(Status.Judged));
        if (found) _appeal(dealId, _appellant(dealId));
    }

    /// @dev A keeper escalates a silent validator's deal, half the time one second past the window.
    function escalate(uint256 seed) external observed {
        (bool found, bytes32 dealId) = _pickScheme(seed, _mask(Status.Completed), true);
        if (!found) return;
        if (seed & 1 == 1) _warpPast(dealId);
        _escalate(dealId, keeper);
    }

    /// @dev The court rules on a disputed deal.
    function rule(uint256 seed, bool approved) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _mask(Status.Disputed));
        if (found) _rule(dealId, court, approved, _ghosts[dealId].lastUid);
    }

    /// @dev Moves a random open deal one step along its natural path, so that runs reach the late states.
    function advance(uint256 seed, bool approved) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _open());
        if (!found) return;
        Ghost storage g = _ghosts[dealId];
        Status s = _status(dealId);
        // Past its deadline a deal can only be moved on by a keeper.
        if (currentTime > g.deadline) {
            _keeperMove(dealId, s);
        } else if (s == Status.Agreed) {
            _commence(dealId, g.provider);
        } else if (s == Status.Commenced) {
            _complete(dealId, g.provider, keccak256(abi.encode(seed)));
        } else if (s == Status.Completed) {
            uint256 choice = (seed >> 4) % 4;
            if (choice == 0) _validate(dealId, g.client, true);
            else if (choice == 1 && !g.validatorScheme) _dispute(dealId, g.client);
            else if (choice != 3 && g.validatorScheme) _validate(dealId, validator, approved);
            // otherwise silence: the window runs out and a keeper settles or escalates
        } else if (s == Status.Judged) {
            if (seed % 3 == 0) _appeal(dealId, _appellant(dealId)); // otherwise the verdict stands
        } else if (s == Status.Disputed) {
            if (seed % 4 != 0) _rule(dealId, court, approved, g.lastUid); // otherwise the court times out
        } else if (seed % 4 == 0) {
            // The waiting party gives up on the other side's funds.
            _collateralMissing(dealId, _waiting(dealId));
        } else {
            _fund(dealId, _funder(dealId));
        }
    }

    function settle(uint256 seed) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _mask(Status.Completed) | _mask(Status.Judged));
        if (found) _settle(dealId, keeper);
    }

    /// @dev A keeper claims a timeout; on a disputed deal, half the time one second past the court's deadline
    /// (the court window is longer than the handler's warps).
    function claimTimeout(uint256 seed) external observed {
        uint256 mask = _mask(Status.Agreed) | _mask(Status.Commenced) | _mask(Status.Disputed);
        (bool found, bytes32 dealId) = _pick(seed, mask);
        if (!found) return;
        if (seed & 1 == 1 && _status(dealId) == Status.Disputed) _warpPast(dealId);
        _claimTimeout(dealId, keeper);
    }

    function abort(uint256 seed) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _mask(Status.Agreed) | _mask(Status.Commenced));
        if (found) _abort(dealId, _ghosts[dealId].provider);
    }

    function warp(uint256 secs) external {
        currentTime += _bound(secs, 1, 1 days); // short steps: most deals meet some deadlines, miss others
        vm.warp(currentTime);
    }

    /// @dev Stands exactly on an open deal's deadline, or one second past it, where off-by-ones live.
    function warpToDeadline(uint256 seed, bool past) external {
        (bool found, bytes32 dealId) = _pick(seed, _open());
        if (!found) return;
        uint256 target = uint256(_ghosts[dealId].deadline) + (past ? 1 : 0);
        if (target > currentTime) currentTime = target;
        vm.warp(currentTime);
    }

    /// @dev The deal's time-bound move, made right at its deadline (which must be refused for the moves that
    /// wait for the deadline and accepted for those bounded by it) or one second later (the reverse).
    function atDeadline(uint256 seed, bool past, bool approved) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _open());
        if (!found) return;
        Ghost storage g = _ghosts[dealId];
        uint256 target = uint256(g.deadline) + (past ? 1 : 0);
        if (target < currentTime) return; // time only moves forward
        currentTime = target;
        vm.warp(currentTime);
        if (past) ++callsPastDeadline;
        else ++callsAtDeadline;
        Status s = _status(dealId);
        bool ok;
        if (seed & 2 != 0) {
            ++probes[past ? bytes32("pastKeeper") : bytes32("atKeeper")];
            ok = _keeperMove(dealId, s); // waits for the deadline
            if (past && !ok) refusedInTime = true;
            return;
        }
        ++probes[past ? bytes32("pastParty") : bytes32("atParty")];
        if (s == Status.Completed) {
            if (!g.validatorScheme) ok = seed & 4 == 0 ? _dispute(dealId, g.client) : _validate(dealId, g.client, true);
            else ok = seed & 4 == 0 ? _validate(dealId, validator, approved) : _validate(dealId, g.client, true);
        } else if (s == Status.Judged) {
            ok = _appeal(dealId, _appellant(dealId));
        } else if (s == Status.Disputed) {
            ok = _rule(dealId, court, approved, g.lastUid);
        } else if (s == Status.Agreed) {
            ok = _commence(dealId, g.provider);
        } else if (s == Status.Commenced) {
            ok = _complete(dealId, g.provider, keccak256(abi.encode(seed)));
        } else {
            ok = _fund(dealId, _funder(dealId));
        }
        if (!past && !ok) refusedInTime = true;
    }

    /// @dev A move made by someone the rules do not allow to make it, or in a state that does not allow it; it
    /// must always be refused.
    function wrongParty(uint256 seed, uint8 op) external observed {
        // The first probe, from a random one on, that has a deal to try it on.
        uint256 first = uint256(keccak256(abi.encode(seed, op)));
        bool found;
        bytes32 dealId;
        for (uint256 k; k < 10 && !found; ++k) {
            uint8 tried = uint8((first + k) % 10);
            (found, dealId) = _pick(seed, _wrongPartyTargets(tried));
            if (found) op = tried;
        }
        if (!found) return;
        Ghost storage g = _ghosts[dealId];
        Status s = _status(dealId);
        address outsider = _outsider(dealId, seed);
        bool other = seed & 4 == 0; // the deal's other party rather than an outsider
        ++probes[_wrongPartyProbe(op)];
        if (op == 0) {
            _abort(dealId, other ? g.client : outsider);
        } else if (op == 1) {
            // The waiting party, or an outsider, tries to fund the other side's share.
            _fund(dealId, other ? _waiting(dealId) : outsider);
        } else if (op == 2) {
            // Commencement or completion by the client or an outsider.
            if (s == Status.Agreed) _commence(dealId, other ? g.client : outsider);
            else _complete(dealId, other ? g.client : outsider, keccak256("forged"));
        } else if (op == 3) {
            // Before the deadline only the waiting party may give up on the other side's funds.
            if (currentTime <= g.deadline) _collateralMissing(dealId, other ? _funder(dealId) : outsider);
        } else if (op == 4) {
            // A verdict from the provider, an outsider or the court, none of which judges a completed result.
            address attester = other ? g.provider : seed & 8 == 0 ? outsider : court;
            _validate(dealId, attester, seed & 16 == 0);
        } else if (op == 5) {
            // A dispute by anyone but the client, or by the client of a validator deal.
            _dispute(dealId, g.validatorScheme && other ? g.client : _notThe(g.client, dealId, seed));
        } else if (op == 6) {
            // An appeal by the party the verdict favoured, or by anyone else.
            address appellant = _appellant(dealId);
            address winner = appellant == g.client ? g.provider : g.client;
            _appeal(dealId, other ? winner : _notThe(appellant, dealId, seed));
        } else if (op == 7) {
            // A ruling on a disputed deal by anyone but the court.
            _rule(dealId, _notThe(court, dealId, seed), seed & 8 == 0, g.lastUid);
        } else if (op == 8) {
            // The court rules on a deal nobody brought to it (a completed result or a verdict under appeal).
            _rule(dealId, court, seed & 8 == 0, g.lastUid);
        } else {
            // The client rejects by attestation instead of disputing.
            _validate(dealId, g.client, false);
        }
    }

    /// @dev The probe counted for each kind of wrong move (see `wrongParty`).
    function _wrongPartyProbe(uint8 op) private pure returns (bytes32) {
        bytes32[10] memory names = [
            bytes32("abortByOther"), "fundByOther", "attestByOther", "giveUpByOther", "verdictByOther",
            "disputeByOther", "appealByOther", "ruleByOther", "courtOutOfTurn", "clientRejects"
        ];
        return names[op];
    }

    function _wrongPartyTargets(uint8 op) private pure returns (uint256) {
        if (op == 0 || op == 2) return _mask(Status.Agreed) | _mask(Status.Commenced);
        if (op == 1 || op == 3) return _awaiting();
        if (op == 6) return _mask(Status.Judged);
        if (op == 7) return _mask(Status.Disputed);
        if (op == 8) return _mask(Status.Completed) | _mask(Status.Judged);
        return _mask(Status.Completed); // 4, 5, 9
    }

    // -------------------------------------------------------------------------------------------------
    // Attempts that must always fail
    // -------------------------------------------------------------------------------------------------

    /// @dev Any call that would move a terminal deal, by the party most likely to profit from it.
    function pokeTerminal(uint256 seed, uint8 op) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _terminals());
        if (!found) return;
        Ghost storage g = _ghosts[dealId];
        _touched = dealId;
        op %= 10;
        bool ok;
        if (op == 5) {
            (ok,) = _attest(g.provider, commencementSchema, g.client, 0, abi.encode(dealId));
        } else if (op == 6) {
            (ok,) = _attest(court, validationSchema, g.provider, g.lastUid, abi.encode(dealId, seed & 1 == 0));
        } else {
            bytes memory data;
            address caller = g.client;
            if (op == 0) data = abi.encodeCall(IComputeMarket.settle, (dealId));
            if (op == 1) data = abi.encodeCall(IComputeMarket.claimTimeout, (dealId));
            if (op == 2) data = abi.encodeCall(IComputeMarket.collateralMissing, (dealId));
            if (op == 3) (data, caller) = (abi.encodeCall(IComputeMarket.abort, (dealId)), g.provider);
            if (op == 4) data = abi.encodeCall(IComputeMarket.fund, (dealId));
            if (op == 7) data = abi.encodeCall(IComputeMarket.escalate, (dealId));
            if (op == 8) {
                (data, caller) = (abi.encodeCall(IComputeMarket.appeal, (dealId)), _notThe(court, dealId, seed));
            }
            if (op == 9) {
                if (g.provider == address(0)) return; // cancelled before agreement: no terms to dispute with
                data = abi.encodeCall(IComputeMarket.dispute, (_requests[dealId]));
            }
            vm.prank(caller);
            (ok,) = address(market).call(data);
        }
        if (ok) terminalMoved = true;
    }

    /// @dev A second commencement, or a completion, approval or ruling pointing at a stale attestation (another
    /// deal's, or this deal's completion once a verdict superseded it).
    function replayAttestation(uint256 seed, uint8 kind) external observed {
        uint256 past = _mask(Status.Commenced) | _mask(Status.Completed) | _mask(Status.Judged)
            | _mask(Status.Disputed) | _mask(Status.Settled) | _mask(Status.Slashed);
        (bool found, bytes32 dealId) = _pick(seed, past);
        if (!found) return;
        Ghost storage g = _ghosts[dealId];
        bytes32 stale = _otherUid(dealId, seed);
        kind %= 4;
        if (kind == 3 && g.verdict != Verdict.None && seed & 1 == 0) stale = g.completionUid;
        if (kind != 0 && stale == g.lastUid) return; // nothing stale to use
        _touched = dealId;
        ++probes["replay"];
        bool ok;
        if (kind == 0) {
            (ok,) = _attest(g.provider, commencementSchema, g.client, 0, abi.encode(dealId));
        } else if (kind == 1) {
            bytes memory data = abi.encode(dealId, keccak256("replay"), "ipfs://replay");
            (ok,) = _attest(g.provider, completionSchema, g.client, stale, data);
        } else if (kind == 2) {
            (ok,) = _attest(g.client, validationSchema, g.provider, stale, abi.encode(dealId, true));
        } else {
            (ok,) = _attest(court, validationSchema, g.provider, stale, abi.encode(dealId, seed & 2 == 0));
        }
        if (ok) replayAccepted = true;
    }

    // -------------------------------------------------------------------------------------------------
    // Views for the invariants
    // -------------------------------------------------------------------------------------------------

    function dealCount() external view returns (uint256) {
        return _dealIds.length;
    }

    function dealIdAt(uint256 i) external view returns (bytes32) {
        return _dealIds[i];
    }

    function ghost(bytes32 dealId) external view returns (Ghost memory) {
        return _ghosts[dealId];
    }

    /// @dev Every address that can hold an unlocked balance.
    function holders() public view returns (address[] memory all) {
        uint256 n = _actors.length;
        all = new address[](n + 3);
        for (uint256 i; i < n; ++i) {
            all[i] = _actors[i];
        }
        (all[n], all[n + 1], all[n + 2]) = (validator, court, keeper);
    }

    // -------------------------------------------------------------------------------------------------
    // Negotiation internals
    // -------------------------------------------------------------------------------------------------

    function _actor(uint256 seed) private view returns (address) {
        return _actors[seed % _actors.length];
    }

    /// @dev Random but valid terms: the offer that follows fits inside the request's limits. Half the requests
    /// name the validator, with a fee; all carry a bond.
    function _request(uint256 seed, uint256 price, uint256 collateral) private returns (Request memory req, bool ok) {
        price = _bound(price, 1, MAX_AMOUNT);
        collateral = _bound(collateral, 0, MAX_AMOUNT);
        uint256 r = uint256(keccak256(abi.encode(seed)));
        uint256 r2 = uint256(keccak256(abi.encode(r)));
        req.client = _actor(seed);
        req.token = address(token);
        req.maxPrice = uint96(price + _bound(r >> 8, 0, 100e18));
        req.minCollateral = uint96(_bound(r >> 72, 0, collateral));
        req.offerDeadline = uint40(currentTime + _bound(r >> 136, 1 hours, 1 days));
        req.commenceWithin = uint24(_bound(r >> 160, 1 hours, 2 days));
        req.jobDuration = uint24(_bound(r >> 184, 1 hours, 3 days));
        req.validationWindow = uint24(_bound(r >> 208, 1 hours, 1 days));
        if (r & 1 == 1) {
            (req.scheme, req.validator) = (ValidationScheme.Validator, validator);
            req.validatorFee = uint96(_bound(r2 >> 8, 0, MAX_FEE));
        }
        req.bond = uint96(_bound(r2 >> 128, 1, MAX_BOND));
        req.specHash = keccak256(abi.encode("spec", seed));
        req.nonce = uint64(r >> 192);
        vm.prank(req.client);
        try market.request(req, "ipfs://spec", new address[](0)) {
            ok = true;
        } catch { }
    }

    /// @dev The client accepts a provider's offer, or the provider a client's counter-offer (seed bit 0). Most of
    /// the time the validator first deposits the stake its account lacks; otherwise the accept must fail unless
    /// its account already covers it.
    function _accept(uint256 index, uint256 seed, uint256 price, uint256 collateral, bool mayDrain) private {
        Request memory req = _pending[index];
        bool byProvider = seed & 1 == 1;
        (Offer memory terms, bytes memory sig) = _offerOn(req, seed, price, collateral, byProvider);
        bool withValidator = req.validator != address(0);
        if (withValidator && uint256(keccak256(abi.encode(seed, "stake"))) % 4 != 0) _topUp(validator, req.bond);
        bool staked = market.available(address(token), validator) >= req.bond;
        // Now and then the signer has just emptied its account: the deal must wait for its side.
        if (mayDrain && uint256(keccak256(abi.encode(seed, "drain"))) % 4 == 0) {
            _drain(byProvider ? req.client : terms.provider);
        }
        Status expected = _firstStatus(req, terms, byProvider);
        vm.prank(byProvider ? terms.provider : req.client);
        try market.accept(req, terms, sig) {
            _removePending(index);
            if (withValidator && !staked) unstakedValidator = true;
            if (_status(terms.dealId) != expected) wrongOutcome = true;
            _recordDeal(req, terms, expected);
            _touched = terms.dealId;
            ++successes[byProvider ? bytes32("acceptCounter") : bytes32("accept")];
        } catch { }
    }

    /// @dev Terms within the request's limits from a provider other than the client, signed by the party that
    /// does not accept them.
    function _offerOn(Request memory req, uint256 seed, uint256 price, uint256 collateral, bool byProvider)
        private
        view
        returns (Offer memory terms, bytes memory sig)
    {
        uint256 clientIndex = _indexOf(req.client);
        uint256 providerIndex = (clientIndex + 1 + (seed >> 1) % (_actors.length - 1)) % _actors.length;
        terms.dealId = market.hashRequest(req);
        terms.provider = _actors[providerIndex];
        terms.price = uint96(_bound(price, 1, req.maxPrice));
        terms.collateral = uint96(_bound(collateral, req.minCollateral, MAX_AMOUNT));
        terms.expiry = uint40(currentTime + _bound(seed >> 16, 0, 1 days));
        terms.round = uint32(seed >> 64);
        sig = _sign(_keys[byProvider ? clientIndex : providerIndex], terms);
    }

    /// @dev The status acceptance must give: the signer's side is locked from its account if the account covers
    /// it, otherwise awaited.
    function _firstStatus(Request memory req, Offer memory terms, bool byProvider) private view returns (Status) {
        address signer = byProvider ? req.client : terms.provider;
        uint256 signerSide = byProvider ? uint256(terms.price) + req.validatorFee : terms.collateral;
        if (market.available(address(token), signer) >= signerSide) return Status.Agreed;
        return byProvider ? Status.AwaitingPayment : Status.AwaitingCollateral;
    }

    /// @dev The ghost of a deal just accepted into `status`, holding the sides that status locks and the stake.
    function _recordDeal(Request memory req, Offer memory terms, Status status) private {
        _requests[terms.dealId] = req;
        Ghost storage g = _track(terms.dealId);
        g.client = req.client;
        g.provider = terms.provider;
        g.price = terms.price;
        g.collateral = terms.collateral;
        g.fee = req.validatorFee;
        g.bond = req.bond;
        g.validatorScheme = req.validator != address(0);
        g.commenceWithin = req.commenceWithin;
        g.jobDuration = req.jobDuration;
        g.validationWindow = req.validationWindow;
        g.deadline = uint40(currentTime + req.commenceWithin);
        g.locked = (g.validatorScheme ? req.bond : 0) + (status != Status.AwaitingCollateral ? terms.collateral : 0)
            + (status != Status.AwaitingPayment ? uint256(terms.price) + req.validatorFee : 0);
    }

    function _drain(address account) private {
        uint256 available = market.available(address(token), account);
        if (available == 0) return;
        vm.prank(account);
        market.withdraw(address(token), available);
    }

    function _topUp(address account, uint256 amount) private {
        uint256 available = market.available(address(token), account);
        if (available >= amount) return;
        vm.prank(account);
        market.deposit(address(token), amount - available);
    }

    function _sign(uint256 key, Offer memory terms) private view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, market.hashOffer(terms));
        return abi.encodePacked(r, s, v);
    }

    // -------------------------------------------------------------------------------------------------
    // Moves: each checks the rules of time and caller on success and books what the move locked or paid
    // -------------------------------------------------------------------------------------------------

    function _fund(bytes32 dealId, address caller) private returns (bool ok) {
        Ghost storage g = _ghosts[dealId];
        bool awaitingCollateral = _status(dealId) == Status.AwaitingCollateral;
        ok = _marketCall(dealId, caller, abi.encodeCall(IComputeMarket.fund, (dealId)), Status.Agreed);
        if (!ok) return ok;
        if (caller != (awaitingCollateral ? g.provider : g.client)) wrongPartyMoved = true;
        if (currentTime > g.deadline) lateFunding = true;
        g.locked += awaitingCollateral ? g.collateral : uint256(g.price) + g.fee;
        g.deadline = uint40(currentTime + g.commenceWithin); // funding restarts the commencement window
        ++successes["fund"];
    }

    function _collateralMissing(bytes32 dealId, address caller) private returns (bool ok) {
        address waiting = _waiting(dealId);
        bool beforeDeadline = currentTime <= _ghosts[dealId].deadline;
        ok = _marketCall(dealId, caller, abi.encodeCall(IComputeMarket.collateralMissing, (dealId)), Status.Unfunded);
        if (!ok) return ok;
        if (caller != waiting && beforeDeadline) wrongPartyMoved = true;
        ++successes[caller == waiting ? bytes32("collateralMissing") : bytes32("collateralTimeout")];
    }

    function _commence(bytes32 dealId, address attester) private returns (bool ok) {
        Ghost storage g = _ghosts[dealId];
        bytes32 uid;
        bytes memory data = abi.encode(dealId);
        (ok, uid) = _attestMove(dealId, attester, commencementSchema, g.client, 0, data, Status.Commenced);
        if (!ok) return ok;
        if (attester != g.provider) wrongPartyMoved = true;
        if (currentTime > g.deadline) lateAttestation = true;
        g.deadline = uint40(currentTime + g.jobDuration);
        g.lastUid = uid;
        ++successes["commence"];
    }

    function _complete(bytes32 dealId, address attester, bytes32 resultHash) private returns (bool ok) {
        Ghost storage g = _ghosts[dealId];
        bytes memory data = abi.encode(dealId, resultHash, "ipfs://result");
        bytes32 uid;
        (ok, uid) = _attestMove(dealId, attester, completionSchema, g.client, g.lastUid, data, Status.Completed);
        if (!ok) return ok;
        if (attester != g.provider) wrongPartyMoved = true;
        if (currentTime > g.deadline) lateAttestation = true;
        g.deadline = uint40(currentTime + g.validationWindow);
        (g.lastUid, g.completionUid) = (uid, uid);
        ++successes["complete"];
    }

    /// @dev A validation attestation on a completed result: the client's approval (settles at once) or the
    /// validator's verdict (Judged, appealable for a validation window).
    function _validate(bytes32 dealId, address attester, bool approved) private returns (bool ok) {
        Ghost storage g = _ghosts[dealId];
        bool byValidator = g.validatorScheme && attester == validator;
        Status expected = byValidator ? Status.Judged : Status.Settled;
        bytes memory data = abi.encode(dealId, approved);
        bytes32 uid;
        (ok, uid) = _attestMove(dealId, attester, validationSchema, g.provider, g.lastUid, data, expected);
        if (!ok) return ok;
        if (attester != g.client && !byValidator) wrongPartyMoved = true;
        if (attester == g.client && !approved) clientRejected = true;
        if (currentTime > g.deadline) lateAttestation = true;
        if (!byValidator) {
            ++successes["approve"];
            return ok;
        }
        g.verdict = approved ? Verdict.Approved : Verdict.Rejected;
        g.deadline = uint40(currentTime + g.validationWindow); // the appeal window
        g.lastUid = uid;
        ++successes[approved ? bytes32("verdictApprove") : bytes32("verdictReject")];
    }

    function _dispute(bytes32 dealId, address caller) private returns (bool ok) {
        Ghost storage g = _ghosts[dealId];
        bool late = currentTime > g.deadline;
        ok = _marketCall(dealId, caller, abi.encodeCall(IComputeMarket.dispute, (_requests[dealId])), Status.Disputed);
        if (!ok) return ok;
        if (caller != g.client) wrongPartyMoved = true;
        if (g.validatorScheme) wrongScheme = true;
        if (late) lateChallenge = true;
        _toCourt(g, caller);
        ++successes["dispute"];
    }

    function _appeal(bytes32 dealId, address caller) private returns (bool ok) {
        Ghost storage g = _ghosts[dealId];
        bool late = currentTime > g.deadline;
        address appellant = _appellant(dealId);
        ok = _marketCall(dealId, caller, abi.encodeCall(IComputeMarket.appeal, (dealId)), Status.Disputed);
        if (!ok) return ok;
        if (caller != appellant) wrongAppellant = true;
        if (late) lateChallenge = true;
        _toCourt(g, caller);
        ++successes["appeal"];
    }

    function _escalate(bytes32 dealId, address caller) private returns (bool ok) {
        Ghost storage g = _ghosts[dealId];
        bool early = currentTime <= g.deadline;
        ok = _marketCall(dealId, caller, abi.encodeCall(IComputeMarket.escalate, (dealId)), Status.Disputed);
        if (!ok) return ok;
        if (early) earlyEscalate = true;
        if (!g.validatorScheme) wrongScheme = true;
        _toCourt(g, address(0));
        ++successes["escalate"];
    }

    /// @dev The deal goes before the court; a disputant or appellant posts the bond.
    function _toCourt(Ghost storage g, address disputant) private {
        g.deadline = uint40(currentTime + courtWindow);
        if (disputant == address(0)) return;
        g.disputant = disputant;
        g.locked += g.bond;
    }

    /// @dev A ruling: a validation attestation by `attester` (the court, when it is its turn) referencing `ref`.
    function _rule(bytes32 dealId, address attester, bool approved, bytes32 ref) private returns (bool ok) {
        Ghost storage g = _ghosts[dealId];
        Status before = _status(dealId);
        bool late = currentTime > g.deadline;
        bytes memory data = abi.encode(dealId, approved);
        Status expected = approved ? Status.Settled : Status.Slashed;
        (ok,) = _attestMove(dealId, attester, validationSchema, g.provider, ref, data, expected);
        if (!ok) return ok;
        if (attester != court) wrongPartyMoved = true;
        if (before != Status.Disputed) courtOutOfTurn = true;
        if (late) lateRuling = true;
        ++successes[approved ? bytes32("ruleApprove") : bytes32("ruleReject")];
    }

    function _settle(bytes32 dealId, address caller) private returns (bool ok) {
        Ghost storage g = _ghosts[dealId];
        Status before = _status(dealId);
        bool early = currentTime <= g.deadline;
        Status expected = g.verdict == Verdict.Rejected ? Status.Slashed : Status.Settled;
        ok = _marketCall(dealId, caller, abi.encodeCall(IComputeMarket.settle, (dealId)), expected);
        if (!ok) return ok;
        if (early) earlySettle = true;
        if (before == Status.Completed && g.validatorScheme) settledWithoutVerdict = true;
        ++successes[before == Status.Judged ? bytes32("settleJudged") : bytes32("settle")];
    }

    function _claimTimeout(bytes32 dealId, address caller) private returns (bool ok) {
        bool disputed = _status(dealId) == Status.Disputed;
        bool early = currentTime <= _ghosts[dealId].deadline;
        Status expected = disputed ? Status.Unwound : Status.Slashed;
        ok = _marketCall(dealId, caller, abi.encodeCall(IComputeMarket.claimTimeout, (dealId)), expected);
        if (!ok) return ok;
        if (early) earlyTimeout = true;
        ++successes[disputed ? bytes32("courtTimeout") : bytes32("claimTimeout")];
    }

    function _abort(bytes32 dealId, address caller) private returns (bool ok) {
        ok = _marketCall(dealId, caller, abi.encodeCall(IComputeMarket.abort, (dealId)), Status.Slashed);
        if (!ok) return ok;
        if (caller != _ghosts[dealId].provider) wrongPartyMoved = true;
        ++successes["abort"];
    }

    /// @dev The move a keeper makes once a deal's deadline has passed (and that must fail until then).
    function _keeperMove(bytes32 dealId, Status s) private returns (bool) {
        if (s == Status.Completed) {
            return _ghosts[dealId].validatorScheme ? _escalate(dealId, keeper) : _settle(dealId, keeper);
        }
        if (s == Status.Judged) return _settle(dealId, keeper);
        if (s == Status.Agreed || s == Status.Commenced || s == Status.Disputed) return _claimTimeout(dealId, keeper);
        return _collateralMissing(dealId, keeper);
    }

    // -------------------------------------------------------------------------------------------------
    // Books: what a move locked or paid, against the rules
    // -------------------------------------------------------------------------------------------------

    /// @dev The deal's status and the unlocked balances around a move.
    struct Books {
        Status status;
        uint256 client;
        uint256 provider;
        uint256 validator;
        uint256 court;
        uint256 all;
    }

    function _marketCall(bytes32 dealId, address caller, bytes memory data, Status expected)
        private
        returns (bool ok)
    {
        _touched = dealId;
        Books memory before = _books(dealId);
        vm.prank(caller);
        (ok,) = address(market).call(data);
        if (ok) _book(dealId, before, expected);
    }

    function _attestMove(
        bytes32 dealId,
        address attester,
        bytes32 schema,
        address recipient,
        bytes32 refUID,
        bytes memory data,
        Status expected
    ) private returns (bool ok, bytes32 uid) {
        _touched = dealId;
        Books memory before = _books(dealId);
        (ok, uid) = _attest(attester, schema, recipient, refUID, data);
        if (ok) _book(dealId, before, expected);
    }

    function _books(bytes32 dealId) private view returns (Books memory b) {
        Ghost storage g = _ghosts[dealId];
        b.status = _status(dealId);
        b.client = market.available(address(token), g.client);
        b.provider = market.available(address(token), g.provider);
        b.validator = market.available(address(token), validator);
        b.court = market.available(address(token), court);
        b.all = _sumAvailable();
    }

    /// @dev After a move that went through: it led where the rules say, a move that keeps the deal open credits
    /// nobody, and a close credits exactly the rules' payout, from what the deal held, to the parties and the
    /// court and nobody else.
    function _book(bytes32 dealId, Books memory before, Status expected) private {
        Books memory after_ = _books(dealId);
        if (after_.status != expected) wrongOutcome = true;
        if (!_isTerminal(after_.status) || _isTerminal(before.status)) {
            bool credited = after_.client > before.client || after_.provider > before.provider
                || after_.validator > before.validator || after_.court > before.court || after_.all > before.all;
            if (credited) unexpectedCredit = true;
            return;
        }
        bool debited = after_.client < before.client || after_.provider < before.provider
            || after_.validator < before.validator || after_.court < before.court || after_.all < before.all;
        if (debited) {
            unexpectedDebit = true;
            return;
        }
        Ghost storage g = _ghosts[dealId];
        Payout memory paid = Payout({
            client: after_.client - before.client,
            provider: after_.provider - before.provider,
            validator: after_.validator - before.validator,
            court: after_.court - before.court
        });
        Payout memory expectedPay = _rulesPayout(g, before.status, after_.status);
        if (after_.all - before.all != paid.client + paid.provider + paid.validator + paid.court) strayCredit = true;
        if (keccak256(abi.encode(paid)) != keccak256(abi.encode(expectedPay))) wrongPayout = true;
        (g.paid, g.expected) = (paid, expectedPay);
        (g.released, g.locked) = (g.locked, 0);
    }

    /// @dev What the rules credit when a deal closes from `from` to `to`, from the ghost's terms alone. The winner
    /// (the provider if Settled, the client if Slashed) takes price and collateral. A client that approves pays
    /// the validator its fee all the same; a validator whose verdict was not needed (the deal failed before
    /// completion) gets its stake back and the client its fee; one whose verdict stands earns the fee with its
    /// stake; one overruled or silent loses its stake to the court, the fee going back to the client and any
    /// appellant's bond to the appellant. A confirmed verdict's appellant, and an optimistic disputant whatever
    /// the ruling, pay the court their bond. Unwound and Unfunded return what each party locked.
    function _rulesPayout(Ghost storage g, Status from, Status to) private view returns (Payout memory p) {
        uint256 stake = g.validatorScheme ? g.bond : 0;
        if (to == Status.Unfunded) {
            if (from == Status.AwaitingCollateral) p.client = uint256(g.price) + g.fee;
            else p.provider = g.collateral;
            p.validator = stake;
            return p;
        }
        if (to == Status.Unwound) {
            (p.client, p.provider, p.validator) = (uint256(g.price) + g.fee, g.collateral, stake);
            if (g.disputant == g.client) p.client += g.bond;
            if (g.disputant == g.provider) p.provider += g.bond;
            return p;
        }
        if (to == Status.Settled) p.provider = uint256(g.price) + g.collateral;
        else p.client = uint256(g.price) + g.collateral;
        if (!g.validatorScheme) {
            if (from == Status.Disputed) p.court = g.bond;
        } else if (from == Status.Completed && to == Status.Settled) {
            p.validator = uint256(g.fee) + stake; // the client approved: it still pays for the check it bought
        } else if (g.verdict == Verdict.None && from != Status.Disputed) {
            (p.client, p.validator) = (p.client + g.fee, stake);
        } else if (g.verdict == (to == Status.Settled ? Verdict.Approved : Verdict.Rejected)) {
            p.validator = uint256(g.fee) + stake;
            if (from == Status.Disputed) p.court = g.bond;
        } else {
            (p.client, p.court) = (p.client + g.fee, stake);
            if (g.disputant == g.client) p.client += g.bond;
            if (g.disputant == g.provider) p.provider += g.bond;
        }
    }

    function _attest(address attester, bytes32 schema, address recipient, bytes32 refUID, bytes memory data)
        private
        returns (bool ok, bytes32 uid)
    {
        AttestationRequest memory req = AttestationRequest({
            schema: schema,
            data: AttestationRequestData({
                recipient: recipient, expirationTime: 0, revocable: false, refUID: refUID, data: data, value: 0
            })
        });
        vm.prank(attester);
        try eas.attest(req) returns (bytes32 u) {
            (ok, uid) = (true, u);
        } catch { }
    }

    // -------------------------------------------------------------------------------------------------
    // Picking deals and parties
    // -------------------------------------------------------------------------------------------------

    /// @dev Some attestation of another deal, or of this deal's past, to replay.
    function _otherUid(bytes32 dealId, uint256 seed) private view returns (bytes32) {
        uint256 n = _dealIds.length;
        for (uint256 k; k < n && k < 8; ++k) {
            bytes32 id = _dealIds[(seed % n + k) % n];
            if (id != dealId && _ghosts[id].lastUid != 0) return _ghosts[id].lastUid;
        }
        return _ghosts[dealId].lastUid;
    }

    /// @dev The first deal, from a random start, whose status is in `mask` (open deals unless the mask names a
    /// terminal status).
    function _pick(uint256 seed, uint256 mask) private view returns (bool, bytes32) {
        return _pickWhere(seed, mask, false, false);
    }

    /// @dev Like `_pick`, among the deals of one scheme.
    function _pickScheme(uint256 seed, uint256 mask, bool validatorScheme) private view returns (bool, bytes32) {
        return _pickWhere(seed, mask, true, validatorScheme);
    }

    function _pickWhere(uint256 seed, uint256 mask, bool bySchemeToo, bool validatorScheme)
        private
        view
        returns (bool, bytes32)
    {
        uint256 open = _openIds.length;
        uint256 n = mask & _terminals() == 0 ? open : open + _closedIds.length;
        for (uint256 k; k < n; ++k) {
            uint256 i = (seed % n + k) % n;
            bytes32 id = i < open ? _openIds[i] : _closedIds[i - open];
            Ghost storage g = _ghosts[id];
            if (mask & _mask(g.status) == 0) continue;
            if (bySchemeToo && g.validatorScheme != validatorScheme) continue;
            return (true, id);
        }
        return (false, 0);
    }

    function _terminals() private pure returns (uint256) {
        return _mask(Status.Cancelled) | _mask(Status.Settled) | _mask(Status.Slashed) | _mask(Status.Unfunded)
            | _mask(Status.Unwound);
    }

    /// @dev Accepted deals that are still open: they all have a deadline.
    function _open() private pure returns (uint256) {
        return _awaiting() | _mask(Status.Agreed) | _mask(Status.Commenced) | _mask(Status.Completed)
            | _mask(Status.Judged) | _mask(Status.Disputed);
    }

    function _awaiting() private pure returns (uint256) {
        return _mask(Status.AwaitingCollateral) | _mask(Status.AwaitingPayment);
    }

    /// @dev The party whose funds an awaiting deal waits for, and the one waiting.
    function _funder(bytes32 dealId) private view returns (address) {
        Ghost storage g = _ghosts[dealId];
        return _status(dealId) == Status.AwaitingCollateral ? g.provider : g.client;
    }

    function _waiting(bytes32 dealId) private view returns (address) {
        Ghost storage g = _ghosts[dealId];
        return _status(dealId) == Status.AwaitingCollateral ? g.client : g.provider;
    }

    /// @dev The party the validator's verdict went against, by the handler's own record of the verdict.
    function _appellant(bytes32 dealId) private view returns (address) {
        Ghost storage g = _ghosts[dealId];
        return g.verdict == Verdict.Approved ? g.client : g.provider;
    }

    /// @dev An actor that is neither the deal's client nor its provider, or the keeper.
    function _outsider(bytes32 dealId, uint256 seed) private view returns (address) {
        Ghost storage g = _ghosts[dealId];
        for (uint256 i; i < _actors.length; ++i) {
            address a = _actors[(seed % _actors.length + i) % _actors.length];
            if (a != g.client && a != g.provider && seed & 16 == 0) return a;
        }
        return keeper;
    }

    /// @dev Anyone among the deal's parties, the validator, the court and an outsider, except `who`.
    function _notThe(address who, bytes32 dealId, uint256 seed) private view returns (address) {
        Ghost storage g = _ghosts[dealId];
        address[5] memory candidates = [g.client, g.provider, validator, court, _outsider(dealId, seed)];
        for (uint256 i; i < candidates.length; ++i) {
            address a = candidates[((seed >> 8) + i) % candidates.length];
            if (a != who) return a;
        }
        return keeper;
    }

    /// @dev Moves the clock one second past the deal's deadline, unless it is already there.
    function _warpPast(bytes32 dealId) private {
        uint256 target = uint256(_ghosts[dealId].deadline) + 1;
        if (target > currentTime) currentTime = target;
        vm.warp(currentTime);
    }

    function _mask(Status s) private pure returns (uint256) {
        return 1 << uint8(s);
    }

    function _status(bytes32 dealId) private view returns (Status) {
        return market.getDeal(dealId).status;
    }

    function _isTerminal(Status s) private pure returns (bool) {
        return s == Status.Cancelled || s == Status.Settled || s == Status.Slashed || s == Status.Unfunded
            || s == Status.Unwound;
    }

    function _track(bytes32 dealId) private returns (Ghost storage g) {
        _dealIds.push(dealId);
        _openIds.push(dealId);
        _openSlot[dealId] = _openIds.length;
        g = _ghosts[dealId];
    }

    function _removePending(uint256 index) private {
        _pending[index] = _pending[_pending.length - 1];
        _pending.pop();
    }

    function _indexOf(address actor) private view returns (uint256) {
        for (uint256 i; i < _actors.length; ++i) {
            if (_actors[i] == actor) return i;
        }
        revert("not an actor");
    }

    function _sumAvailable() private view returns (uint256 sum) {
        address[] memory all = holders();
        for (uint256 i; i < all.length; ++i) {
            sum += market.available(address(token), all[i]);
        }
    }

    function _countCloses(Vm.Log[] memory logs) private {
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(market) && logs[i].topics[0] == IComputeMarket.Closed.selector) {
                ++_ghosts[logs[i].topics[1]].closes;
            }
        }
    }

    /// @dev Reads the deal's status after a move: a deal seen closed moves to the closed list, and its first
    /// terminal status is recorded.
    function _refresh(bytes32 dealId) private {
        Ghost storage g = _ghosts[dealId];
        Status s = _status(dealId);
        g.status = s;
        if (!_isTerminal(s) || g.terminalSeen) return;
        (g.terminalSeen, g.terminal) = (true, s);
        uint256 slot = _openSlot[dealId];
        if (slot != 0) {
            bytes32 last = _openIds[_openIds.length - 1];
            _openIds[slot - 1] = last;
            _openSlot[last] = slot;
            _openIds.pop();
            delete _openSlot[dealId];
        }
        _closedIds.push(dealId);
    }
}
