// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { Test } from "forge-std/Test.sol";
import {
    IEAS,
    AttestationRequest,
    AttestationRequestData
} from "@ethereum-attestation-service/eas-contracts/contracts/IEAS.sol";
import { ISchemaRegistry } from "@ethereum-attestation-service/eas-contracts/contracts/ISchemaRegistry.sol";

import { ComputeMarket } from "../../contracts/ComputeMarket.sol";
import { TestToken } from "../../contracts/tokens/TestToken.sol";
import { Deal, Offer, Request, Status, ValidationScheme } from "../../contracts/Types.sol";

/// @notice Deploys the real EAS and SchemaRegistry from the npm package's compiled artifacts: the project's
/// compiler cannot build EAS.sol (pinned pragma), and the tests must run against the bytecode agents use.
abstract contract EASDeployer is Test {
    string internal constant EAS_ARTIFACTS =
        "node_modules/@ethereum-attestation-service/eas-contracts/artifacts/contracts/";

    function deployEAS() internal returns (ISchemaRegistry registry, IEAS eas) {
        registry = ISchemaRegistry(_deployArtifact("SchemaRegistry.sol/SchemaRegistry.json", ""));
        eas = IEAS(_deployArtifact("EAS.sol/EAS.json", abi.encode(address(registry))));
        vm.label(address(registry), "SchemaRegistry");
        vm.label(address(eas), "EAS");
    }

    function _deployArtifact(string memory artifact, bytes memory args) private returns (address addr) {
        string memory json = vm.readFile(string.concat(EAS_ARTIFACTS, artifact));
        bytes memory code = bytes.concat(vm.parseJsonBytes(json, ".bytecode"), args);
        assembly ("memory-safe") {
            addr := create(0, add(code, 0x20), mload(code))
        }
        require(addr != address(0) && addr.code.length != 0, "artifact deployment failed");
    }
}

/// @notice Shared fixture: EAS, the market and its court, an 18-decimal token, four funded actors (client, provider
/// and validator hold DEPOSITED in escrow: the validator stakes from its account) and helpers that walk a deal
/// through its lifecycle. Helpers that may be preceded by vm.expectRevert make exactly one external call
/// (everything they need is cached), so the expectation lands on the call under test.
abstract contract MarketTestBase is EASDeployer {
    uint256 internal constant START = 1_700_000_000;

    // Default terms: the offer sits strictly inside the request's limits.
    uint96 internal constant MAX_PRICE = 100e18;
    uint96 internal constant MIN_COLLATERAL = 40e18;
    uint96 internal constant PRICE = 80e18;
    uint96 internal constant COLLATERAL = 50e18;
    uint24 internal constant COMMENCE_WITHIN = 1 hours;
    uint24 internal constant JOB_DURATION = 1 days;
    uint24 internal constant VALIDATION_WINDOW = 12 hours;
    uint24 internal constant COURT_WINDOW = 3 days;
    uint96 internal constant VALIDATOR_FEE = 5e18;
    uint96 internal constant BOND = 10e18;
    uint256 internal constant MINTED = 1_000e18;
    uint256 internal constant DEPOSITED = 500e18;
    string internal constant SPEC_URI = "ipfs://spec";
    string internal constant RESULT_URI = "ipfs://result";

    ISchemaRegistry internal registry;
    IEAS internal eas;
    ComputeMarket internal market;
    TestToken internal token;

    bytes32 internal commencementSchema;
    bytes32 internal completionSchema;
    bytes32 internal validationSchema;

    uint256 internal clientKey = 0xC11E;
    uint256 internal providerKey = 0xB0B;
    uint256 internal validatorKey = 0xA11CE;
    uint256 internal strangerKey = 0x5712;
    uint256 internal courtKey = 0xC0C0;
    address internal client;
    address internal provider;
    address internal validator;
    address internal stranger;
    address internal court;

    uint64 private _nonce;

    function setUp() public virtual {
        vm.warp(START);
        (registry, eas) = deployEAS();
        court = vm.addr(courtKey);
        vm.label(court, "court");
        market = new ComputeMarket(eas, court, COURT_WINDOW);
        token = new TestToken("Test USD", "TUSD", 18);
        commencementSchema = market.commencementSchemaUID();
        completionSchema = market.completionSchemaUID();
        validationSchema = market.validationSchemaUID();

        client = vm.addr(clientKey);
        provider = vm.addr(providerKey);
        validator = vm.addr(validatorKey);
        stranger = vm.addr(strangerKey);
        vm.label(client, "client");
        vm.label(provider, "provider");
        vm.label(validator, "validator");
        vm.label(stranger, "stranger");
        vm.label(address(market), "ComputeMarket");

        fundAccount(address(token), client, MINTED, DEPOSITED);
        fundAccount(address(token), provider, MINTED, DEPOSITED);
        fundAccount(address(token), validator, MINTED, DEPOSITED);
        fundAccount(address(token), stranger, MINTED, 0);
    }

    /// @dev Mints `minted`, approves the market for everything and deposits `deposited`.
    function fundAccount(address tok, address account, uint256 minted, uint256 deposited) internal {
        TestToken(tok).mint(account, minted);
        vm.startPrank(account);
        TestToken(tok).approve(address(market), type(uint256).max);
        if (deposited != 0) market.deposit(tok, deposited);
        vm.stopPrank();
    }

    // -------------------------------------------------------------------------------------------------
    // Negotiation helpers
    // -------------------------------------------------------------------------------------------------

    function newRequest() internal returns (Request memory req) {
        req = Request({
            client: client,
            token: address(token),
            maxPrice: MAX_PRICE,
            minCollateral: MIN_COLLATERAL,
            offerDeadline: uint40(block.timestamp + 2 hours),
            commenceWithin: COMMENCE_WITHIN,
            jobDuration: JOB_DURATION,
            validationWindow: VALIDATION_WINDOW,
            scheme: ValidationScheme.Optimistic,
            validator: address(0),
            validatorFee: 0,
            bond: BOND,
            specHash: keccak256("spec"),
            nonce: ++_nonce // distinct deal ids for identical terms
        });
    }

    function newValidatorRequest() internal returns (Request memory req) {
        req = newRequest();
        req.scheme = ValidationScheme.Validator;
        req.validator = validator;
        req.validatorFee = VALIDATOR_FEE;
    }

    function makeRequest(Request memory req) internal returns (bytes32 dealId) {
        vm.prank(req.client);
        dealId = market.request(req, SPEC_URI, new address[](0));
    }

    function newOffer(bytes32 dealId) internal view returns (Offer memory) {
        return Offer({
            dealId: dealId,
            provider: provider,
            price: PRICE,
            collateral: COLLATERAL,
            expiry: uint40(block.timestamp + 1 hours),
            round: 0
        });
    }

    function signOffer(uint256 key, Offer memory terms) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, market.hashOffer(terms));
        return abi.encodePacked(r, s, v);
    }

    /// @dev Request + provider-signed offer accepted by the client; both sides are funded from escrow.
    function acceptDefault() internal returns (bytes32) {
        return acceptDefault(newRequest());
    }

    function acceptDefault(Request memory req) internal returns (bytes32 dealId) {
        dealId = makeRequest(req);
        Offer memory terms = newOffer(dealId);
        bytes memory sig = signOffer(providerKey, terms);
        vm.prank(req.client);
        market.accept(req, terms, sig);
    }

    // -------------------------------------------------------------------------------------------------
    // Attestation helpers
    // -------------------------------------------------------------------------------------------------

    /// @dev One eas.attest call and nothing else, so it can follow vm.expectRevert.
    function attest(
        address attester,
        bytes32 schema,
        address recipient,
        bytes32 refUID,
        uint64 expirationTime,
        bytes memory data
    ) internal returns (bytes32) {
        AttestationRequest memory req = AttestationRequest({
            schema: schema,
            data: AttestationRequestData({
                recipient: recipient,
                expirationTime: expirationTime,
                revocable: false,
                refUID: refUID,
                data: data,
                value: 0
            })
        });
        vm.prank(attester);
        return eas.attest(req);
    }

    function attestCommencement(bytes32 dealId) internal returns (bytes32) {
        Deal memory d = market.getDeal(dealId);
        return attest(d.provider, commencementSchema, d.client, bytes32(0), 0, abi.encode(dealId));
    }

    function attestCompletion(bytes32 dealId, bytes32 commencementUid) internal returns (bytes32) {
        Deal memory d = market.getDeal(dealId);
        return attest(
            d.provider, completionSchema, d.client, commencementUid, 0, completionData(dealId, keccak256("result"))
        );
    }

    function attestValidation(address attester, bytes32 dealId, bytes32 completionUid, bool approved)
        internal
        returns (bytes32)
    {
        Deal memory d = market.getDeal(dealId);
        return attest(attester, validationSchema, d.provider, completionUid, 0, abi.encode(dealId, approved));
    }

    /// @dev The court's ruling on a disputed deal, referencing the deal's latest attestation (the verdict if the
    /// validator gave one, else the completion).
    function attestRuling(bytes32 dealId, bool approved) internal returns (bytes32) {
        Deal memory d = market.getDeal(dealId);
        return attest(court, validationSchema, d.provider, d.lastAttestation, 0, abi.encode(dealId, approved));
    }

    function completionData(bytes32 dealId, bytes32 resultHash) internal pure returns (bytes memory) {
        return abi.encode(dealId, resultHash, RESULT_URI);
    }

    function commencedDeal(Request memory req) internal returns (bytes32 dealId, bytes32 commencementUid) {
        dealId = acceptDefault(req);
        commencementUid = attestCommencement(dealId);
    }

    function completedDeal(Request memory req)
        internal
        returns (bytes32 dealId, bytes32 commencementUid, bytes32 completionUid)
    {
        (dealId, commencementUid) = commencedDeal(req);
        completionUid = attestCompletion(dealId, commencementUid);
    }

    /// @dev A validator deal whose validator gave its verdict: Judged, appealable until the deal's deadline.
    function judgedDeal(Request memory req, bool approved)
        internal
        returns (bytes32 dealId, bytes32 completionUid, bytes32 verdictUid)
    {
        (dealId,, completionUid) = completedDeal(req);
        verdictUid = attestValidation(validator, dealId, completionUid, approved);
    }

    /// @dev An optimistic deal whose client disputed the result (posting the request's bond from its account).
    function disputedDeal(Request memory req) internal returns (bytes32 dealId, bytes32 completionUid) {
        (dealId,, completionUid) = completedDeal(req);
        vm.prank(req.client);
        market.dispute(req);
    }

    /// @dev A validator deal whose verdict the party it went against appealed.
    function appealedDeal(Request memory req, bool verdict)
        internal
        returns (bytes32 dealId, bytes32 completionUid, bytes32 verdictUid)
    {
        (dealId, completionUid, verdictUid) = judgedDeal(req, verdict);
        vm.prank(verdict ? req.client : provider);
        market.appeal(dealId);
    }

    /// @dev A validator deal whose validator stayed silent through the validation window, escalated to the court.
    function escalatedDeal(Request memory req) internal returns (bytes32 dealId, bytes32 completionUid) {
        (dealId,, completionUid) = completedDeal(req);
        vm.warp(market.getDeal(dealId).deadline + 1);
        market.escalate(dealId);
    }

    function availableOf(address account) internal view returns (uint256) {
        return market.available(address(token), account);
    }

    // -------------------------------------------------------------------------------------------------
    // "Nothing changed" snapshots
    // -------------------------------------------------------------------------------------------------

    struct Snapshot {
        bytes32 deal; // hash of the whole Deal struct
        uint256 clientAvailable;
        uint256 providerAvailable;
        uint256 strangerAvailable;
        uint256 validatorAvailable;
        uint256 courtAvailable;
        uint256 clientWallet;
        uint256 providerWallet;
        uint256 marketBalance;
        uint256 totalOwed;
    }

    function snapshot(bytes32 dealId) internal view returns (Snapshot memory s) {
        return snapshotOf(dealId, address(token));
    }

    function snapshotOf(bytes32 dealId, address tok) internal view returns (Snapshot memory s) {
        s.deal = keccak256(abi.encode(market.getDeal(dealId)));
        s.clientAvailable = market.available(tok, client);
        s.providerAvailable = market.available(tok, provider);
        s.strangerAvailable = market.available(tok, stranger);
        s.validatorAvailable = market.available(tok, validator);
        s.courtAvailable = market.available(tok, court);
        s.clientWallet = TestToken(tok).balanceOf(client);
        s.providerWallet = TestToken(tok).balanceOf(provider);
        s.marketBalance = TestToken(tok).balanceOf(address(market));
        s.totalOwed = market.totalOwed(tok);
    }

    function assertUnchanged(Snapshot memory before, bytes32 dealId) internal view {
        assertUnchangedOf(before, dealId, address(token));
    }

    function assertUnchangedOf(Snapshot memory before, bytes32 dealId, address tok) internal view {
        Snapshot memory nowS = snapshotOf(dealId, tok);
        assertEq(nowS.deal, before.deal, "deal changed");
        assertEq(nowS.clientAvailable, before.clientAvailable, "client available changed");
        assertEq(nowS.providerAvailable, before.providerAvailable, "provider available changed");
        assertEq(nowS.strangerAvailable, before.strangerAvailable, "stranger available changed");
        assertEq(nowS.validatorAvailable, before.validatorAvailable, "validator available changed");
        assertEq(nowS.courtAvailable, before.courtAvailable, "court available changed");
        assertEq(nowS.clientWallet, before.clientWallet, "client wallet changed");
        assertEq(nowS.providerWallet, before.providerWallet, "provider wallet changed");
        assertEq(nowS.marketBalance, before.marketBalance, "market balance changed");
        assertEq(nowS.totalOwed, before.totalOwed, "totalOwed changed");
    }

    function statusOf(bytes32 dealId) internal view returns (Status) {
        return market.getDeal(dealId).status;
    }

    /// @dev The escrow's books balance: what it holds equals what it owes.
    function assertSolvent(address tok) internal view {
        assertEq(TestToken(tok).balanceOf(address(market)), market.totalOwed(tok), "balance != totalOwed");
    }
}
