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
import { Deal, Offer, Request, Status, ValidationScheme } from "../../../contracts/Types.sol";

/// @notice Drives the market with bounded random actions from a fixed set of actors and keeps ghost books that
/// the invariants compare with the contract. Every action that targets a deal picks one in a state where the
/// action can succeed, so that runs reach deep states. Failures are swallowed (try/catch), so forge's revert
/// count says nothing; instead the handler keeps its own clock of every deal's deadline and a flag for each
/// rule a correct market never breaks (money, time and caller rules), and counts successes per path so that
/// a run that never reached a path is noticed.
contract MarketHandler is CommonBase, StdUtils {
    /// @dev What the handler knows about a deal independently of the market's storage.
    struct Ghost {
        address client;
        address provider;
        uint96 price;
        uint96 collateral;
        bool validatorScheme;
        bytes32 lastUid; // the deal's latest attestation, to reference from the next one
        uint256 closes; // Closed events seen for this deal
        Status closedFrom; // the status the deal was in when it closed
        uint256 clientCredit; // unlocked funds credited to the client by this deal
        uint256 providerCredit;
        bool terminalSeen;
        Status terminal; // first terminal status observed
        uint40 deadline; // the deal's deadline as the rules set it, computed here and not read from the market
        uint24 commenceWithin;
        uint24 jobDuration;
        uint24 validationWindow;
    }

    uint256 internal constant MAX_AMOUNT = 800e18;
    uint256 internal constant WALLET = 1e27;

    ComputeMarket public immutable market;
    IEAS public immutable eas;
    TestToken public immutable token;
    bytes32 internal immutable commencementSchema;
    bytes32 internal immutable completionSchema;
    bytes32 internal immutable validationSchema;

    uint256[] internal _keys;
    address[] internal _actors; // clients and providers
    address public immutable validator;
    address public immutable keeper; // a bystander calling the permissionless time-outs

    uint256 public currentTime;

    Request[] internal _pending; // requests still open (status None)
    bytes32[] internal _dealIds; // every request that left None: accepted or cancelled
    mapping(bytes32 dealId => Ghost ghost) internal _ghosts;

    // Things a correct market never does.
    bool public clientOverpaid; // a close credited the client more than price + collateral
    bool public strayCredit; // a close credited someone other than the deal's parties
    bool public unexpectedDebit; // a close reduced someone's unlocked balance
    bool public terminalMoved; // a call on a terminal deal succeeded
    bool public replayAccepted; // a replayed attestation went through
    // Time and caller rules a correct market never breaks.
    bool public earlyTimeout; // claimTimeout accepted at or before the deadline
    bool public earlySettle; // settle accepted at or before the end of the validation window
    bool public lateAttestation; // a commencement, completion or validation accepted after the deadline
    bool public lateFunding; // fund accepted after the deadline
    bool public wrongPartyMoved; // a move accepted from a party the rules do not allow to make it
    bool public clientRejectedForValidator; // the client rejected a result in the validator scheme

    /// @dev Boundary attempts: the rule-breaking calls made exactly on a deadline and one second past it.
    uint256 public callsAtDeadline;
    uint256 public callsPastDeadline;

    /// @dev Successful actions by path name (see `_call` and the helpers below); the coverage test asserts
    /// minimum counts so that a handler change that stops reaching a path fails loudly.
    mapping(bytes32 path => uint256 count) public successes;

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
        validator = validator_;
        keeper = keeper_;
        for (uint256 i; i < keys_.length; ++i) {
            _keys.push(keys_[i]);
            address actor = vm.addr(keys_[i]);
            _actors.push(actor);
            token_.mint(actor, WALLET);
            vm.prank(actor);
            token_.approve(address(market_), type(uint256).max);
        }
        currentTime = block.timestamp;
    }

    /// @dev Restores the handler's clock (cheatcode time does not reliably carry across fuzz calls) and
    /// observes every Closed event and every terminal status the action produced.
    modifier observed() {
        vm.warp(currentTime);
        vm.recordLogs();
        _;
        _countCloses(vm.getRecordedLogs());
        _recordTerminals();
    }

    // -------------------------------------------------------------------------------------------------
    // Escrow accounts
    // -------------------------------------------------------------------------------------------------

    function deposit(uint256 actorSeed, uint256 amount) external observed {
        address actor = _actor(actorSeed);
        amount = _bound(amount, 1, MAX_AMOUNT);
        vm.prank(actor);
        market.deposit(address(token), amount);
        ++successes["deposit"];
    }

    function withdraw(uint256 actorSeed, uint256 amount) external observed {
        address actor = _actor(actorSeed);
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
        _accept(_pending.length - 1, seed >> 8, price, collateral);
    }

    function acceptPending(uint256 index, uint256 seed, uint256 price, uint256 collateral) external observed {
        if (_pending.length == 0) return;
        _accept(index % _pending.length, seed, price, collateral);
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
            ++successes["cancelRequest"];
        } catch { }
    }

    // -------------------------------------------------------------------------------------------------
    // Deal lifecycle
    // -------------------------------------------------------------------------------------------------

    function fund(uint256 seed) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _mask(Status.AwaitingCollateral) | _mask(Status.AwaitingPayment));
        if (found) _fund(dealId);
    }

    function collateralMissing(uint256 seed, bool byWaitingParty) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _mask(Status.AwaitingCollateral) | _mask(Status.AwaitingPayment));
        if (!found) return;
        Ghost storage g = _ghosts[dealId];
        address waiting = _status(dealId) == Status.AwaitingCollateral ? g.client : g.provider;
        // Half the keeper's attempts wait one second past the deadline: funding otherwise wins most races.
        if (!byWaitingParty && seed & 1 == 1 && g.deadline + 1 > currentTime) {
            currentTime = uint256(g.deadline) + 1;
            vm.warp(currentTime);
        }
        _call(dealId, byWaitingParty ? waiting : keeper, abi.encodeCall(IComputeMarket.collateralMissing, (dealId)));
    }

    function commence(uint256 seed) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _mask(Status.Agreed));
        if (found) _commence(dealId);
    }

    function complete(uint256 seed, bytes32 resultHash) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _mask(Status.Commenced));
        if (found) _complete(dealId, resultHash == 0 ? keccak256(abi.encode(seed)) : resultHash);
    }

    function validate(uint256 seed, bool approved, bool byClient) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _mask(Status.Completed));
        if (found) _validate(dealId, approved, byClient);
    }

    /// @dev Moves a random open deal one step along its natural path, so that runs reach the late states.
    function advance(uint256 seed, bool approved) external observed {
        uint256 open = _mask(Status.AwaitingCollateral) | _mask(Status.AwaitingPayment) | _mask(Status.Agreed)
            | _mask(Status.Commenced) | _mask(Status.Completed);
        (bool found, bytes32 dealId) = _pick(seed, open);
        if (!found) return;
        Deal memory d = market.getDeal(dealId);
        Status s = d.status;
        // Past its deadline a deal can only be moved on by a keeper.
        if (currentTime > d.deadline) {
            bytes memory call_;
            if (s == Status.Completed) {
                call_ = abi.encodeCall(IComputeMarket.settle, (dealId));
            } else if (s == Status.Agreed || s == Status.Commenced) {
                call_ = abi.encodeCall(IComputeMarket.claimTimeout, (dealId));
            } else {
                call_ = abi.encodeCall(IComputeMarket.collateralMissing, (dealId));
            }
            _call(dealId, keeper, call_);
        } else if (s == Status.Agreed) {
            _commence(dealId);
        } else if (s == Status.Commenced) {
            _complete(dealId, keccak256(abi.encode(seed)));
        } else if (s == Status.Completed && seed % 3 == 0) {
            _validate(dealId, approved, seed & 4 == 0);
        } else if (s == Status.Completed) {
            return; // silence: the window runs out and a keeper settles
        } else if (seed % 4 == 0) {
            // The waiting party gives up on the other side's funds.
            address waiting = s == Status.AwaitingCollateral ? d.client : d.provider;
            _call(dealId, waiting, abi.encodeCall(IComputeMarket.collateralMissing, (dealId)));
        } else {
            _fund(dealId);
        }
    }

    function settle(uint256 seed) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _mask(Status.Completed));
        if (!found) return;
        _call(dealId, keeper, abi.encodeCall(IComputeMarket.settle, (dealId)));
    }

    function claimTimeout(uint256 seed) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _mask(Status.Agreed) | _mask(Status.Commenced));
        if (!found) return;
        _call(dealId, keeper, abi.encodeCall(IComputeMarket.claimTimeout, (dealId)));
    }

    function abort(uint256 seed) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _mask(Status.Agreed) | _mask(Status.Commenced));
        if (!found) return;
        _call(dealId, _ghosts[dealId].provider, abi.encodeCall(IComputeMarket.abort, (dealId)));
    }

    function warp(uint256 secs) external {
        currentTime += _bound(secs, 1, 1 days); // short steps: most deals meet some deadlines, miss others
        vm.warp(currentTime);
    }

    /// @dev Stands exactly on an open deal's deadline, or one second past it, where off-by-ones live.
    function warpToDeadline(uint256 seed, bool past) external {
        (bool found, bytes32 dealId) = _pick(seed, _openAgreed());
        if (!found) return;
        uint256 target = uint256(_ghosts[dealId].deadline) + (past ? 1 : 0);
        if (target > currentTime) currentTime = target;
        vm.warp(currentTime);
    }

    /// @dev The deal's time-bound move, made right at its deadline (which must be refused for the permissionless
    /// time-outs and accepted for the parties' moves) or one second later (the reverse).
    function atDeadline(uint256 seed, bool past, bool approved) external observed {
        (bool found, bytes32 dealId) = _pick(seed, _openAgreed());
        if (!found) return;
        Ghost storage g = _ghosts[dealId];
        uint256 target = uint256(g.deadline) + (past ? 1 : 0);
        if (target < currentTime) return; // time only moves forward
        currentTime = target;
        vm.warp(currentTime);
        if (past) ++callsPastDeadline;
        else ++callsAtDeadline;
        Status s = _status(dealId);
        bool party = seed & 2 == 0; // the party's own move, or the keeper's time-out
        if (s == Status.Completed) {
            if (party) _validate(dealId, approved, false);
            else _call(dealId, keeper, abi.encodeCall(IComputeMarket.settle, (dealId)));
        } else if (s == Status.Agreed || s == Status.Commenced) {
            if (!party) _call(dealId, keeper, abi.encodeCall(IComputeMarket.claimTimeout, (dealId)));
            else if (s == Status.Agreed) _commence(dealId);
            else _complete(dealId, keccak256(abi.encode(seed)));
        } else if (party) {
            _fund(dealId);
        } else {
            _call(dealId, keeper, abi.encodeCall(IComputeMarket.collateralMissing, (dealId)));
        }
    }

    /// @dev A move made by someone the rules do not allow to make it; it must always be refused.
    function wrongParty(uint256 seed, uint8 op) external observed {
        op %= 5;
        uint256 mask = op == 0 || op == 2
            ? _mask(Status.Agreed) | _mask(Status.Commenced)
            : op == 4 ? _mask(Status.Completed) : _mask(Status.AwaitingCollateral) | _mask(Status.AwaitingPayment);
        (bool found, bytes32 dealId) = _pick(seed, mask);
        if (!found) return;
        Ghost storage g = _ghosts[dealId];
        Status s = _status(dealId);
        address outsider = _outsider(dealId, seed);
        address notProvider = seed & 4 == 0 ? g.client : outsider;
        if (op == 0) {
            _call(dealId, notProvider, abi.encodeCall(IComputeMarket.abort, (dealId)));
        } else if (op == 1) {
            // The waiting party, or an outsider, tries to fund the other side's share.
            address funder = s == Status.AwaitingCollateral ? g.provider : g.client;
            address wrong = seed & 4 == 0 ? (funder == g.client ? g.provider : g.client) : outsider;
            _call(dealId, wrong, abi.encodeCall(IComputeMarket.fund, (dealId)));
        } else if (op == 2) {
            // Commencement or completion by the client or an outsider.
            bool ok;
            if (s == Status.Agreed) {
                (ok,) = _attest(notProvider, commencementSchema, g.client, 0, abi.encode(dealId));
            } else {
                bytes memory data = abi.encode(dealId, keccak256("forged"), "ipfs://forged");
                (ok,) = _attest(notProvider, completionSchema, g.client, g.lastUid, data);
            }
            if (ok) wrongPartyMoved = true;
        } else if (op == 3) {
            // Before the deadline only the waiting party may give up on the other side's funds.
            address funder = s == Status.AwaitingCollateral ? g.provider : g.client;
            _call(dealId, seed & 4 == 0 ? funder : outsider, abi.encodeCall(IComputeMarket.collateralMissing, (dealId)));
        } else {
            _wrongVerdict(dealId, seed & 4 == 0 ? g.provider : outsider, seed & 8 == 0);
        }
    }

    // -------------------------------------------------------------------------------------------------
    // Attempts that must always fail
    // -------------------------------------------------------------------------------------------------

    /// @dev Any call that would move a terminal deal, by the party most likely to profit from it.
    function pokeTerminal(uint256 seed, uint8 op) external observed {
        uint256 terminals =
            _mask(Status.Cancelled) | _mask(Status.Settled) | _mask(Status.Slashed) | _mask(Status.Unfunded);
        (bool found, bytes32 dealId) = _pick(seed, terminals);
        if (!found) return;
        Ghost storage g = _ghosts[dealId];
        op %= 6;
        bool ok;
        if (op == 5) {
            (ok,) = _attest(g.provider, commencementSchema, g.client, 0, abi.encode(dealId));
        } else {
            bytes memory data;
            address caller = g.client;
            if (op == 0) data = abi.encodeCall(IComputeMarket.settle, (dealId));
            if (op == 1) data = abi.encodeCall(IComputeMarket.claimTimeout, (dealId));
            if (op == 2) data = abi.encodeCall(IComputeMarket.collateralMissing, (dealId));
            if (op == 3) (data, caller) = (abi.encodeCall(IComputeMarket.abort, (dealId)), g.provider);
            if (op == 4) data = abi.encodeCall(IComputeMarket.fund, (dealId));
            vm.prank(caller);
            (ok,) = address(market).call(data);
        }
        if (ok) terminalMoved = true;
    }

    /// @dev A second commencement, or a completion/validation pointing at a stale attestation.
    function replayAttestation(uint256 seed, uint8 kind) external observed {
        uint256 past = _mask(Status.Commenced) | _mask(Status.Completed) | _mask(Status.Settled) | _mask(Status.Slashed);
        (bool found, bytes32 dealId) = _pick(seed, past);
        if (!found) return;
        Ghost storage g = _ghosts[dealId];
        bytes32 stale = _otherUid(dealId, seed);
        kind %= 3;
        if (kind != 0 && stale == g.lastUid) return; // only this deal has attestations: nothing stale to use
        bool ok;
        if (kind == 0) {
            (ok,) = _attest(g.provider, commencementSchema, g.client, 0, abi.encode(dealId));
        } else if (kind == 1) {
            bytes memory data = abi.encode(dealId, keccak256("replay"), "ipfs://replay");
            (ok,) = _attest(g.provider, completionSchema, g.client, stale, data);
        } else {
            (ok,) = _attest(g.client, validationSchema, g.provider, stale, abi.encode(dealId, false));
        }
        if (ok) replayAccepted = true;
    }

    // -------------------------------------------------------------------------------------------------
    // Views for the invariants
    // -------------------------------------------------------------------------------------------------

    function actors() external view returns (address[] memory) {
        return _actors;
    }

    function dealCount() external view returns (uint256) {
        return _dealIds.length;
    }

    function dealIdAt(uint256 i) external view returns (bytes32) {
        return _dealIds[i];
    }

    function ghost(bytes32 dealId) external view returns (Ghost memory) {
        return _ghosts[dealId];
    }

    function pendingCount() external view returns (uint256) {
        return _pending.length;
    }

    /// @dev Every address that can hold an unlocked balance.
    function holders() public view returns (address[] memory all) {
        all = new address[](_actors.length + 2);
        for (uint256 i; i < _actors.length; ++i) {
            all[i] = _actors[i];
        }
        all[_actors.length] = validator;
        all[_actors.length + 1] = keeper;
    }

    // -------------------------------------------------------------------------------------------------
    // Internals
    // -------------------------------------------------------------------------------------------------

    function _actor(uint256 seed) private view returns (address) {
        return _actors[seed % _actors.length];
    }

    /// @dev Random but valid terms: the offer that follows fits inside the request's limits.
    function _request(uint256 seed, uint256 price, uint256 collateral) private returns (Request memory req, bool ok) {
        price = _bound(price, 1, MAX_AMOUNT);
        collateral = _bound(collateral, 0, MAX_AMOUNT);
        uint256 r = uint256(keccak256(abi.encode(seed)));
        req.client = _actor(seed);
        req.token = address(token);
        req.maxPrice = uint96(price + _bound(r >> 8, 0, 100e18));
        req.minCollateral = uint96(_bound(r >> 72, 0, collateral));
        req.offerDeadline = uint40(currentTime + _bound(r >> 136, 1 hours, 1 days));
        req.commenceWithin = uint24(_bound(r >> 160, 1 hours, 2 days));
        req.jobDuration = uint24(_bound(r >> 184, 1 hours, 3 days));
        req.validationWindow = uint24(_bound(r >> 208, 1 hours, 1 days));
        if (r & 1 == 1) (req.scheme, req.validator) = (ValidationScheme.Validator, validator);
        req.specHash = keccak256(abi.encode("spec", seed));
        req.nonce = uint64(r >> 192);
        vm.prank(req.client);
        try market.request(req, "ipfs://spec", new address[](0)) {
            ok = true;
        } catch { }
    }

    /// @dev The client accepts a provider's offer, or the provider a client's counter-offer (seed bit 0).
    function _accept(uint256 index, uint256 seed, uint256 price, uint256 collateral) private {
        Request memory req = _pending[index];
        uint256 clientIndex = _indexOf(req.client);
        uint256 providerIndex = (clientIndex + 1 + (seed >> 1) % (_actors.length - 1)) % _actors.length;
        Offer memory terms;
        terms.dealId = market.hashRequest(req);
        terms.provider = _actors[providerIndex];
        terms.price = uint96(_bound(price, 1, req.maxPrice));
        terms.collateral = uint96(_bound(collateral, req.minCollateral, MAX_AMOUNT));
        terms.expiry = uint40(currentTime + _bound(seed >> 16, 0, 1 days));
        terms.round = uint32(seed >> 64);
        bool byProvider = seed & 1 == 1;
        bytes memory sig = _sign(_keys[byProvider ? clientIndex : providerIndex], terms);
        vm.prank(byProvider ? terms.provider : req.client);
        try market.accept(req, terms, sig) {
            _removePending(index);
            Ghost storage g = _track(terms.dealId);
            g.client = req.client;
            g.provider = terms.provider;
            g.price = terms.price;
            g.collateral = terms.collateral;
            g.validatorScheme = req.validator != address(0);
            g.commenceWithin = req.commenceWithin;
            g.jobDuration = req.jobDuration;
            g.validationWindow = req.validationWindow;
            g.deadline = uint40(currentTime + req.commenceWithin);
            ++successes[byProvider ? bytes32("acceptCounter") : bytes32("accept")];
        } catch { }
    }

    /// @dev A verdict by someone who is neither the judge nor the client: the provider judging its own work,
    /// or an outsider (in the optimistic scheme the validator slot is empty, so no outsider is a judge).
    function _wrongVerdict(bytes32 dealId, address attester, bool approved) private {
        Ghost storage g = _ghosts[dealId];
        Books memory before = _books(dealId);
        (bool ok,) = _attest(attester, validationSchema, g.provider, g.lastUid, abi.encode(dealId, approved));
        _settleCredits(dealId, before);
        if (ok) wrongPartyMoved = true;
    }

    function _sign(uint256 key, Offer memory terms) private view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, market.hashOffer(terms));
        return abi.encodePacked(r, s, v);
    }

    function _fund(bytes32 dealId) private {
        Ghost storage g = _ghosts[dealId];
        address funder = _status(dealId) == Status.AwaitingCollateral ? g.provider : g.client;
        vm.prank(funder);
        try market.fund(dealId) {
            if (currentTime > g.deadline) lateFunding = true;
            // Funding restarts the commencement window.
            g.deadline = uint40(currentTime + g.commenceWithin);
            ++successes["fund"];
        } catch { }
    }

    function _commence(bytes32 dealId) private {
        Ghost storage g = _ghosts[dealId];
        (bool ok, bytes32 uid) = _attest(g.provider, commencementSchema, g.client, 0, abi.encode(dealId));
        if (ok) {
            if (currentTime > g.deadline) lateAttestation = true;
            g.deadline = uint40(currentTime + g.jobDuration);
            g.lastUid = uid;
            ++successes["commence"];
        }
    }

    function _complete(bytes32 dealId, bytes32 resultHash) private {
        Ghost storage g = _ghosts[dealId];
        bytes memory data = abi.encode(dealId, resultHash, "ipfs://result");
        (bool ok, bytes32 uid) = _attest(g.provider, completionSchema, g.client, g.lastUid, data);
        if (ok) {
            if (currentTime > g.deadline) lateAttestation = true;
            g.deadline = uint40(currentTime + g.validationWindow);
            g.lastUid = uid;
            ++successes["complete"];
        }
    }

    /// @dev The judge of the scheme, or the client (who may always approve, never reject for a validator).
    function _validate(bytes32 dealId, bool approved, bool byClient) private {
        Ghost storage g = _ghosts[dealId];
        address attester = g.validatorScheme && !byClient ? validator : g.client;
        Books memory before = _books(dealId);
        (bool ok,) = _attest(attester, validationSchema, g.provider, g.lastUid, abi.encode(dealId, approved));
        _settleCredits(dealId, before);
        if (!ok) return;
        if (currentTime > g.deadline) lateAttestation = true;
        if (!approved && g.validatorScheme && attester == g.client) clientRejectedForValidator = true;
        ++successes[approved ? bytes32("approve") : bytes32("reject")];
    }

    /// @dev Calls a function that can only credit (never debit) the deal's parties, books the credits, and
    /// checks the time and caller rules of the call that went through.
    function _call(bytes32 dealId, address caller, bytes memory data) private {
        Ghost storage g = _ghosts[dealId];
        Status s = _status(dealId);
        bool beforeDeadline = currentTime <= g.deadline;
        Books memory before = _books(dealId);
        vm.prank(caller);
        (bool ok,) = address(market).call(data);
        _settleCredits(dealId, before);
        if (!ok) return;
        bytes4 selector = bytes4(data);
        bytes32 path;
        if (selector == IComputeMarket.settle.selector) {
            if (beforeDeadline) earlySettle = true;
            path = "settle";
        } else if (selector == IComputeMarket.claimTimeout.selector) {
            if (beforeDeadline) earlyTimeout = true;
            path = "claimTimeout";
        } else if (selector == IComputeMarket.abort.selector) {
            if (caller != g.provider) wrongPartyMoved = true;
            path = "abort";
        } else if (selector == IComputeMarket.collateralMissing.selector) {
            address waiting = s == Status.AwaitingCollateral ? g.client : g.provider;
            if (caller != waiting && beforeDeadline) wrongPartyMoved = true;
            path = caller == waiting ? bytes32("collateralMissing") : bytes32("collateralTimeout");
        } else if (selector == IComputeMarket.fund.selector) {
            // Only `wrongParty` funds through here, always from the wrong account.
            wrongPartyMoved = true;
            path = "wrongFund";
        }
        ++successes[path];
    }

    /// @dev The deal's status and the unlocked balances around a call that may close it.
    struct Books {
        Status status;
        uint256 client;
        uint256 provider;
        uint256 all;
    }

    function _books(bytes32 dealId) private view returns (Books memory b) {
        Ghost storage g = _ghosts[dealId];
        b.status = _status(dealId);
        b.client = market.available(address(token), g.client);
        b.provider = market.available(address(token), g.provider);
        b.all = _sumAvailable();
    }

    function _settleCredits(bytes32 dealId, Books memory before) private {
        Books memory after_ = _books(dealId);
        if (after_.client < before.client || after_.provider < before.provider || after_.all < before.all) {
            unexpectedDebit = true;
            return;
        }
        Ghost storage g = _ghosts[dealId];
        uint256 dc = after_.client - before.client;
        uint256 dp = after_.provider - before.provider;
        if (after_.all - before.all != dc + dp) strayCredit = true;
        if (dc > uint256(g.price) + g.collateral) clientOverpaid = true;
        g.clientCredit += dc;
        g.providerCredit += dp;
        if (_isTerminal(after_.status) && !_isTerminal(before.status)) g.closedFrom = before.status;
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

    /// @dev Some attestation of another deal, or of this deal's past, to replay.
    function _otherUid(bytes32 dealId, uint256 seed) private view returns (bytes32) {
        uint256 n = _dealIds.length;
        for (uint256 k; k < n; ++k) {
            bytes32 id = _dealIds[(seed % n + k) % n];
            if (id != dealId && _ghosts[id].lastUid != 0) return _ghosts[id].lastUid;
        }
        return _ghosts[dealId].lastUid;
    }

    /// @dev The first deal, from a random start, whose status is in `mask`.
    function _pick(uint256 seed, uint256 mask) private view returns (bool, bytes32) {
        uint256 n = _dealIds.length;
        for (uint256 k; k < n; ++k) {
            bytes32 id = _dealIds[(seed % n + k) % n];
            if (mask & _mask(_status(id)) != 0) return (true, id);
        }
        return (false, 0);
    }

    /// @dev Accepted deals that are still open: they all have a deadline.
    function _openAgreed() private pure returns (uint256) {
        return _mask(Status.AwaitingCollateral) | _mask(Status.AwaitingPayment) | _mask(Status.Agreed)
            | _mask(Status.Commenced) | _mask(Status.Completed);
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

    function _mask(Status s) private pure returns (uint256) {
        return 1 << uint8(s);
    }

    function _status(bytes32 dealId) private view returns (Status) {
        return market.getDeal(dealId).status;
    }

    function _isTerminal(Status s) private pure returns (bool) {
        return s == Status.Cancelled || s == Status.Settled || s == Status.Slashed || s == Status.Unfunded;
    }

    function _track(bytes32 dealId) private returns (Ghost storage g) {
        _dealIds.push(dealId);
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

    function _recordTerminals() private {
        for (uint256 i; i < _dealIds.length; ++i) {
            Ghost storage g = _ghosts[_dealIds[i]];
            if (g.terminalSeen) continue;
            Status s = _status(_dealIds[i]);
            if (_isTerminal(s)) (g.terminalSeen, g.terminal) = (true, s);
        }
    }
}
