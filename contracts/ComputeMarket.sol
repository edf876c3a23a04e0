// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { IEAS, Attestation } from "@ethereum-attestation-service/eas-contracts/contracts/IEAS.sol";
import { ISchemaRegistry } from "@ethereum-attestation-service/eas-contracts/contracts/ISchemaRegistry.sol";
import { ISchemaResolver } from "@ethereum-attestation-service/eas-contracts/contracts/resolver/ISchemaResolver.sol";
import { SchemaResolver } from "@ethereum-attestation-service/eas-contracts/contracts/resolver/SchemaResolver.sol";
import { EIP712 } from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import { SignatureChecker } from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

import {
    AttestationMustNotExpire,
    CollateralBelowMinimum,
    DeadlineNotReached,
    DeadlinePassed,
    InvalidCourt,
    InvalidDeadline,
    InvalidDuration,
    InvalidSignature,
    InvalidValidationScheme,
    NotAParty,
    NotAToken,
    NotTheClient,
    NotTheFundingParty,
    NotTheProvider,
    NotTheAppellant,
    NotTheWaitingParty,
    OfferExpired,
    OfferForAnotherRequest,
    OfferIsCancelled,
    PriceAboveMaximum,
    RejectionNeedsDispute,
    RequestExpired,
    SelfDeal,
    UnexpectedStatus,
    UnfundedCounterparty,
    UnknownSchema,
    VerdictMissing,
    WrongAttester,
    WrongRecipient,
    WrongReference,
    ZeroAmount,
    ZeroResultHash,
    ZeroSpecHash
} from "./Common.sol";
import { CollateralEscrow } from "./CollateralEscrow.sol";
import { IComputeMarket } from "./interfaces/IComputeMarket.sol";
import { CloseReason, Deal, Offer, Request, Status, ValidationScheme, Verdict } from "./Types.sol";

/// @title ComputeMarket
/// @notice The scheme state machine of the compute marketplace, its collateral escrow, and the EAS schema
/// resolver that ties commencement, completion and validation attestations to deals.
///
/// Requests and offers cost no storage: a request is an event whose EIP-712 hash is the deal id, and an
/// offer is an EIP-712 message signed by its author and broadcast as an event. Storage is written once
/// an offer is accepted, and the accepted terms are what the escrow locks.
///
/// Attestations are made by the agents themselves on EAS; EAS calls this contract as the resolver of the
/// three schemas it registers at deployment (adopting any already registered for it), and the attestation
/// moves the deal along only if it comes from the right party, names the right recipient, and references
/// the deal's previous attestation.
/// The schemas are irrevocable and attestations must not expire, so a referenced attestation stays valid.
///
/// Judgement is bonded so that no party gains by lying (README: Incentives). A client rejects a result only by
/// disputing it with the deal's bond; a validator stakes the bond at acceptance and is paid its fee for a verdict
/// that stands; the party a verdict went against may appeal with the bond. Disputes and appeals go to the court,
/// the top of the appeal chain set at deployment and assumed honest: it is paid one bond per ruling, the
/// validator's if the validator was wrong or silent, otherwise the disputant's.
contract ComputeMarket is IComputeMarket, CollateralEscrow, SchemaResolver, EIP712 {
    /// @dev keccak256("Request(address client,address token,uint96 maxPrice,uint96 minCollateral,uint40 offerDeadline,uint24 commenceWithin,uint24 jobDuration,uint24 validationWindow,uint8 scheme,address validator,uint96 validatorFee,uint96 bond,bytes32 specHash,uint64 nonce)")
    bytes32 public constant REQUEST_TYPEHASH = keccak256(
        "Request(address client,address token,uint96 maxPrice,uint96 minCollateral,uint40 offerDeadline,uint24 commenceWithin,uint24 jobDuration,uint24 validationWindow,uint8 scheme,address validator,uint96 validatorFee,uint96 bond,bytes32 specHash,uint64 nonce)"
    );

    /// @dev keccak256("Offer(bytes32 dealId,address provider,uint96 price,uint96 collateral,uint40 expiry,uint32 round)")
    bytes32 public constant OFFER_TYPEHASH =
        keccak256("Offer(bytes32 dealId,address provider,uint96 price,uint96 collateral,uint40 expiry,uint32 round)");

    /// @notice EAS schema of the provider's commencement attestation (recipient: the client).
    string public constant COMMENCEMENT_SCHEMA = "bytes32 dealId";
    /// @notice EAS schema of the provider's completion attestation (recipient: the client; refUID: commencement).
    string public constant COMPLETION_SCHEMA = "bytes32 dealId,bytes32 resultHash,string resultURI";
    /// @notice EAS schema of a verdict on a result: the client's approval, the validator's verdict or the court's
    /// ruling (recipient: the provider; refUID: the deal's latest attestation).
    string public constant VALIDATION_SCHEMA = "bytes32 dealId,bool approved";

    /// @notice UIDs of the schemas above, registered with this contract as resolver.
    bytes32 public immutable commencementSchemaUID;
    bytes32 public immutable completionSchemaUID;
    bytes32 public immutable validationSchemaUID;

    /// @notice The top of the appeal chain: rules on disputed results and is paid one bond per ruling.
    address public immutable court;
    /// @notice Seconds the court has to rule once a deal is disputed; after that the deal unwinds.
    uint24 public immutable courtWindow;

    mapping(bytes32 dealId => Deal deal) private _deals;

    /// @dev Offers withdrawn by their signer before acceptance.
    mapping(address signer => mapping(bytes32 offerHash => bool cancelled)) private _offerCancelled;

    constructor(IEAS eas_, address court_, uint24 courtWindow_) SchemaResolver(eas_) EIP712("ComputeMarket", "1") {
        if (court_ == address(0)) revert InvalidCourt();
        if (courtWindow_ == 0) revert InvalidDuration();
        court = court_;
        courtWindow = courtWindow_;
        ISchemaRegistry registry = eas_.getSchemaRegistry();
        commencementSchemaUID = _registerSchema(registry, COMMENCEMENT_SCHEMA);
        completionSchemaUID = _registerSchema(registry, COMPLETION_SCHEMA);
        validationSchemaUID = _registerSchema(registry, VALIDATION_SCHEMA);
    }

    /// @dev Registers `schema` irrevocable with this contract as resolver, unless it already is: anyone can
    /// register a schema naming any resolver, so one registered for this address beforehand is adopted (its
    /// UID fixes schema, resolver and revocability, so it is exactly the schema this contract would register)
    /// rather than blocking the deployment.
    function _registerSchema(ISchemaRegistry registry, string memory schema) private returns (bytes32 uid) {
        uid = keccak256(abi.encodePacked(schema, address(this), false));
        if (registry.getSchema(uid).uid != uid) registry.register(schema, ISchemaResolver(address(this)), false);
    }

    // ---------------------------------------------------------------------------------------------------
    // Negotiation
    // ---------------------------------------------------------------------------------------------------

    /// @inheritdoc IComputeMarket
    function request(Request calldata req, string calldata specURI, address[] calldata invited)
        external
        returns (bytes32 dealId)
    {
        if (msg.sender != req.client) revert NotTheClient();
        _checkTerms(req);
        if (req.offerDeadline <= _time()) revert InvalidDeadline();
        dealId = hashRequest(req);
        _expectStatus(dealId, _deals[dealId].status, Status.None);
        emit Requested(dealId, msg.sender, req, specURI, invited);
    }

    /// @inheritdoc IComputeMarket
    function cancelRequest(Request calldata req) external nonReentrant {
        if (msg.sender != req.client) revert NotTheClient();
        bytes32 dealId = hashRequest(req);
        Deal storage deal = _deals[dealId];
        _expectStatus(dealId, deal.status, Status.None);
        deal.status = Status.Cancelled;
        emit Closed(dealId, Status.Cancelled, CloseReason.Cancelled);
    }

    /// @inheritdoc IComputeMarket
    function offer(Offer calldata terms, bytes calldata signature) external {
        if (terms.price == 0) revert ZeroAmount();
        if (terms.expiry < _time()) revert OfferExpired(); // the same boundary as accept
        _expectStatus(terms.dealId, _deals[terms.dealId].status, Status.None);
        if (!SignatureChecker.isValidSignatureNow(msg.sender, hashOffer(terms), signature)) {
            revert InvalidSignature();
        }
        emit Offered(terms.dealId, msg.sender, terms.provider, terms, signature);
    }

    /// @inheritdoc IComputeMarket
    function cancelOffer(Offer calldata terms) external nonReentrant {
        bytes32 offerHash = hashOffer(terms);
        _offerCancelled[msg.sender][offerHash] = true;
        emit OfferCancelled(offerHash, msg.sender);
    }

    /// @inheritdoc IComputeMarket
    function accept(Request calldata req, Offer calldata terms, bytes calldata signature) external nonReentrant {
        _accept(req, terms, signature, false);
    }

    /// @inheritdoc IComputeMarket
    function acceptFunded(Request calldata req, Offer calldata terms, bytes calldata signature)
        external
        nonReentrant
    {
        _accept(req, terms, signature, true);
    }

    /// @dev Checks the offer against its request, locks both sides (the signer's may be awaited unless
    /// `signerMustLock`) and the validator's stake, and writes the deal.
    function _accept(Request calldata req, Offer calldata terms, bytes calldata signature, bool signerMustLock)
        private
    {
        bytes32 dealId = hashRequest(req);
        if (terms.dealId != dealId) revert OfferForAnotherRequest();
        Deal storage deal = _deals[dealId];
        _expectStatus(dealId, deal.status, Status.None);
        _checkTerms(req);
        uint40 now_ = _time();
        if (now_ > req.offerDeadline) revert RequestExpired();
        if (now_ > terms.expiry) revert OfferExpired();
        if (terms.provider == req.client || terms.provider == req.validator || terms.provider == court) {
            revert SelfDeal();
        }
        if (terms.price == 0) revert ZeroAmount();
        if (terms.price > req.maxPrice) revert PriceAboveMaximum(terms.price, req.maxPrice);
        if (terms.collateral < req.minCollateral) revert CollateralBelowMinimum(terms.collateral, req.minCollateral);

        // The client accepts a provider's offer; a provider accepts the client's counter-offer.
        bool callerIsClient = msg.sender == req.client;
        if (!callerIsClient && msg.sender != terms.provider) revert NotAParty();
        bytes32 offerHash = _checkSignature(callerIsClient ? terms.provider : req.client, terms, signature);

        // The signer's side comes from its escrow account or is awaited; the caller's side cannot fail short (its
        // wallet covers what its account lacks, or the call reverts), so the deal is written before that pull.
        Status status = _lockSigner(req, terms, callerIsClient, signerMustLock);
        deal.client = req.client;
        deal.price = terms.price;
        deal.provider = terms.provider;
        deal.collateral = terms.collateral;
        deal.token = req.token;
        deal.status = status;
        deal.deadline = now_ + req.commenceWithin;
        deal.jobDuration = req.jobDuration;
        deal.validationWindow = req.validationWindow;
        if (req.validator != address(0)) {
            deal.validator = req.validator;
            deal.validatorFee = req.validatorFee;
            deal.bond = req.bond;
        }
        if (status != Status.Agreed) deal.commenceWithin = req.commenceWithin;

        if (callerIsClient) _lockOrPull(req.token, req.client, uint256(terms.price) + req.validatorFee);
        else _lockOrPull(req.token, terms.provider, terms.collateral);

        emit Accepted(dealId, req.client, terms.provider, offerHash, status);
    }

    /// @dev Checks that `signer` signed `terms` and has not withdrawn them; returns the offer's hash.
    function _checkSignature(address signer, Offer calldata terms, bytes calldata signature)
        private
        view
        returns (bytes32 offerHash)
    {
        offerHash = hashOffer(terms);
        if (_offerCancelled[signer][offerHash]) revert OfferIsCancelled();
        if (!SignatureChecker.isValidSignatureNow(signer, offerHash, signature)) revert InvalidSignature();
    }

    /// @dev Locks, from escrow accounts and with no external call, the signer's side (the collateral of a provider
    /// that signed an offer, or the price and the validator's fee of a client that signed a counter-offer) if its
    /// account covers it, and the validator's stake, which must be there. Returns the deal's first status.
    function _lockSigner(Request calldata req, Offer calldata terms, bool callerIsClient, bool signerMustLock)
        private
        returns (Status)
    {
        address signer = callerIsClient ? terms.provider : req.client;
        uint256 signerSide = callerIsClient ? terms.collateral : uint256(terms.price) + req.validatorFee;
        bool signerLocked = _lockFromAccount(req.token, signer, signerSide);
        if (!signerLocked && signerMustLock) {
            revert UnfundedCounterparty(signer, signerSide, _availableOf(req.token, signer));
        }
        if (req.validator != address(0) && !_lockFromAccount(req.token, req.validator, req.bond)) {
            revert UnfundedCounterparty(req.validator, req.bond, _availableOf(req.token, req.validator));
        }
        if (signerLocked) return Status.Agreed;
        return callerIsClient ? Status.AwaitingCollateral : Status.AwaitingPayment;
    }

    /// @inheritdoc IComputeMarket
    function fund(bytes32 dealId) external nonReentrant {
        Deal storage deal = _deals[dealId];
        Status status = deal.status;
        if (status == Status.AwaitingCollateral) {
            if (msg.sender != deal.provider) revert NotTheFundingParty();
        } else if (status == Status.AwaitingPayment) {
            if (msg.sender != deal.client) revert NotTheFundingParty();
        } else {
            revert UnexpectedStatus(dealId, uint8(status));
        }
        if (_time() > deal.deadline) revert DeadlinePassed(dealId, deal.deadline);
        // The provider gets its whole commencement window from now: a client that funds at the last moment
        // must not leave it no time to commence and then claim its collateral.
        deal.status = Status.Agreed;
        deal.deadline = _time() + deal.commenceWithin;
        _lockOrPull(deal.token, msg.sender, status == Status.AwaitingCollateral ? deal.collateral : _clientSide(deal));
        emit Funded(dealId, msg.sender);
    }

    /// @inheritdoc IComputeMarket
    function collateralMissing(bytes32 dealId) external nonReentrant {
        Deal storage deal = _deals[dealId];
        Status status = deal.status;
        address waitingParty;
        if (status == Status.AwaitingCollateral) waitingParty = deal.client;
        else if (status == Status.AwaitingPayment) waitingParty = deal.provider;
        else revert UnexpectedStatus(dealId, uint8(status));
        if (msg.sender != waitingParty && _time() <= deal.deadline) revert NotTheWaitingParty();
        // Only the waiting party's side (and the validator's stake) was ever locked: it goes back.
        _credit(deal.token, waitingParty, status == Status.AwaitingCollateral ? _clientSide(deal) : deal.collateral);
        address validator = deal.validator;
        if (validator != address(0)) _credit(deal.token, validator, deal.bond);
        _close(dealId, deal, Status.Unfunded, CloseReason.CollateralMissing);
    }

    // ---------------------------------------------------------------------------------------------------
    // Termination after agreement
    // ---------------------------------------------------------------------------------------------------

    /// @inheritdoc IComputeMarket
    function settle(bytes32 dealId) external nonReentrant {
        Deal storage deal = _deals[dealId];
        Status status = deal.status;
        if (status == Status.Completed) {
            if (deal.validator != address(0)) revert VerdictMissing(dealId);
            _afterDeadline(dealId, deal);
            _settleUnchallenged(dealId, deal);
        } else if (status == Status.Judged) {
            _afterDeadline(dealId, deal);
            bool approved = deal.verdict == Verdict.Approved;
            // The verdict stands: the validator earned its fee and gets its stake back.
            _credit(deal.token, approved ? deal.provider : deal.client, uint256(deal.price) + deal.collateral);
            _credit(deal.token, deal.validator, uint256(deal.validatorFee) + deal.bond);
            if (approved) _close(dealId, deal, Status.Settled, CloseReason.VerdictApproved);
            else _close(dealId, deal, Status.Slashed, CloseReason.VerdictRejected);
        } else {
            revert UnexpectedStatus(dealId, uint8(status));
        }
    }

    /// @inheritdoc IComputeMarket
    function claimTimeout(bytes32 dealId) external nonReentrant {
        Deal storage deal = _deals[dealId];
        Status status = deal.status;
        if (status == Status.Disputed) {
            _afterDeadline(dealId, deal);
            _unwind(dealId, deal);
            return;
        }
        CloseReason reason;
        if (status == Status.Agreed) reason = CloseReason.CommencementTimeout;
        else if (status == Status.Commenced) reason = CloseReason.CompletionTimeout;
        else revert UnexpectedStatus(dealId, uint8(status));
        _afterDeadline(dealId, deal);
        _slashProvider(dealId, deal, reason);
    }

    // ---------------------------------------------------------------------------------------------------
    // Disputes
    // ---------------------------------------------------------------------------------------------------

    /// @inheritdoc IComputeMarket
    function dispute(Request calldata req) external nonReentrant {
        bytes32 dealId = hashRequest(req);
        Deal storage deal = _deals[dealId];
        _expectStatus(dealId, deal.status, Status.Completed);
        if (deal.validator != address(0)) revert InvalidValidationScheme();
        if (msg.sender != deal.client) revert NotTheClient();
        _beforeDeadline(dealId, deal);
        deal.bond = req.bond;
        uint40 deadline = _toCourt(deal, req.bond);
        emit Disputed(dealId, msg.sender, req.bond, deadline);
    }

    /// @inheritdoc IComputeMarket
    function appeal(bytes32 dealId) external nonReentrant {
        Deal storage deal = _deals[dealId];
        _expectStatus(dealId, deal.status, Status.Judged);
        address appellant = _disputant(deal);
        if (msg.sender != appellant) revert NotTheAppellant(appellant, msg.sender);
        _beforeDeadline(dealId, deal);
        uint96 bond = deal.bond;
        uint40 deadline = _toCourt(deal, bond);
        emit Appealed(dealId, msg.sender, bond, deadline);
    }

    /// @inheritdoc IComputeMarket
    function escalate(bytes32 dealId) external nonReentrant {
        Deal storage deal = _deals[dealId];
        _expectStatus(dealId, deal.status, Status.Completed);
        if (deal.validator == address(0)) revert InvalidValidationScheme();
        _afterDeadline(dealId, deal);
        emit Escalated(dealId, _toCourt(deal, 0));
    }

    /// @dev Puts the deal before the court and returns the court's deadline; `bond` is what the caller posts
    /// (nothing when a silent validator's deal is escalated: its stake is at risk instead). State is written
    /// before the pull.
    function _toCourt(Deal storage deal, uint96 bond) private returns (uint40 deadline) {
        deadline = _time() + courtWindow;
        deal.status = Status.Disputed;
        deal.deadline = deadline;
        if (bond != 0) _lockOrPull(deal.token, msg.sender, bond);
    }

    /// @inheritdoc IComputeMarket
    function abort(bytes32 dealId) external nonReentrant {
        Deal storage deal = _deals[dealId];
        if (msg.sender != deal.provider) revert NotTheProvider();
        Status status = deal.status;
        if (status != Status.Agreed && status != Status.Commenced) revert UnexpectedStatus(dealId, uint8(status));
        _slashProvider(dealId, deal, CloseReason.ProviderAborted);
    }

    // ---------------------------------------------------------------------------------------------------
    // Attestations (called by EAS through SchemaResolver)
    // ---------------------------------------------------------------------------------------------------

    /// @dev Routes an attestation of one of the market's schemas to its transition.
    function onAttest(Attestation calldata attestation, uint256 /* value */ )
        internal
        override
        nonReentrant
        returns (bool)
    {
        if (attestation.expirationTime != 0) revert AttestationMustNotExpire();
        bytes32 schema = attestation.schema;
        if (schema == commencementSchemaUID) _onCommencement(attestation);
        else if (schema == completionSchemaUID) _onCompletion(attestation);
        else if (schema == validationSchemaUID) _onValidation(attestation);
        else revert UnknownSchema(schema);
        return true;
    }

    /// @dev The market's schemas are registered irrevocable, so EAS refuses revocations before asking;
    /// answering false makes EAS revert should it ever ask.
    function onRevoke(Attestation calldata, uint256) internal pure override returns (bool) {
        return false;
    }

    /// @dev Agreed -> Commenced: the provider attests that work began (no reference: it opens the chain).
    function _onCommencement(Attestation calldata attestation) private {
        bytes32 dealId = abi.decode(attestation.data, (bytes32));
        Deal storage deal = _deals[dealId];
        _expectStatus(dealId, deal.status, Status.Agreed);
        _expectParties(attestation, deal.provider, deal.client);
        if (attestation.refUID != bytes32(0)) revert WrongReference(bytes32(0), attestation.refUID);
        uint40 now_ = _beforeDeadline(dealId, deal);
        deal.status = Status.Commenced;
        deal.deadline = now_ + deal.jobDuration;
        deal.lastAttestation = attestation.uid;
        emit Commenced(dealId, attestation.uid);
    }

    /// @dev Commenced -> Completed: the provider attests the result, referencing its commencement.
    function _onCompletion(Attestation calldata attestation) private {
        (bytes32 dealId, bytes32 resultHash, string memory resultURI) =
            abi.decode(attestation.data, (bytes32, bytes32, string));
        Deal storage deal = _deals[dealId];
        _expectStatus(dealId, deal.status, Status.Commenced);
        _expectParties(attestation, deal.provider, deal.client);
        _expectReference(attestation, deal);
        if (resultHash == bytes32(0)) revert ZeroResultHash();
        uint40 now_ = _beforeDeadline(dealId, deal);
        deal.status = Status.Completed;
        deal.deadline = now_ + deal.validationWindow;
        deal.lastAttestation = attestation.uid;
        emit Completed(dealId, attestation.uid, resultHash, resultURI);
    }

    /// @dev A verdict on a result. Completed: the client approves (-> Settled; it rejects only by `dispute`), or
    /// the validator gives its verdict (-> Judged, appealable). Disputed: the court rules (-> Settled or Slashed).
    function _onValidation(Attestation calldata attestation) private {
        (bytes32 dealId, bool approved) = abi.decode(attestation.data, (bytes32, bool));
        Deal storage deal = _deals[dealId];
        Status status = deal.status;
        address attester = attestation.attester;
        address validator = deal.validator;
        if (status == Status.Completed) {
            if (attester == deal.client) {
                if (!approved) {
                    if (validator == address(0)) revert RejectionNeedsDispute();
                    revert WrongAttester(validator, attester);
                }
            } else if (attester != validator || validator == address(0)) {
                revert WrongAttester(validator == address(0) ? deal.client : validator, attester);
            }
        } else if (status == Status.Disputed) {
            if (attester != court) revert WrongAttester(court, attester);
        } else {
            revert UnexpectedStatus(dealId, uint8(status));
        }
        if (attestation.recipient != deal.provider) revert WrongRecipient(deal.provider, attestation.recipient);
        _expectReference(attestation, deal);
        uint40 now_ = _beforeDeadline(dealId, deal);

        if (status == Status.Disputed) {
            _rule(dealId, deal, approved);
        } else if (attester == deal.client) {
            _approveByClient(dealId, deal);
        } else {
            deal.status = Status.Judged;
            deal.deadline = now_ + deal.validationWindow; // the appeal window
            deal.verdict = approved ? Verdict.Approved : Verdict.Rejected;
            deal.lastAttestation = attestation.uid;
            emit Judged(dealId, attestation.uid, approved);
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------------

    /// @inheritdoc IComputeMarket
    function getDeal(bytes32 dealId) external view returns (Deal memory) {
        return _deals[dealId];
    }

    /// @inheritdoc IComputeMarket
    function hashRequest(Request calldata req) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(REQUEST_TYPEHASH, req)));
    }

    /// @inheritdoc IComputeMarket
    function hashOffer(Offer calldata terms) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(OFFER_TYPEHASH, terms)));
    }

    /// @notice The Ethereum Attestation Service this market resolves attestations for.
    function eas() external view returns (IEAS) {
        return _eas;
    }

    /// @notice Whether `signer` withdrew the offer with hash `offerHash`.
    function isOfferCancelled(address signer, bytes32 offerHash) external view returns (bool) {
        return _offerCancelled[signer][offerHash];
    }

    // ---------------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------------

    /// @dev The current time; virtual so that tests can move it.
    function _time() internal view virtual returns (uint40) {
        return uint40(block.timestamp);
    }

    /// @dev Checks the terms of a request that do not depend on time.
    function _checkTerms(Request calldata req) private view {
        if (req.token.code.length == 0) revert NotAToken(req.token);
        if (req.maxPrice == 0) revert ZeroAmount();
        if (req.commenceWithin == 0 || req.jobDuration == 0 || req.validationWindow == 0) revert InvalidDuration();
        if (req.bond == 0) revert ZeroAmount();
        bool hasValidator = req.validator != address(0);
        if ((req.scheme == ValidationScheme.Validator) != hasValidator) revert InvalidValidationScheme();
        if (!hasValidator && req.validatorFee != 0) revert InvalidValidationScheme();
        if (hasValidator && req.validator == req.client) revert InvalidValidationScheme();
        if (req.client == court || req.validator == court) revert SelfDeal();
        if (req.specHash == bytes32(0)) revert ZeroSpecHash();
    }

    function _expectStatus(bytes32 dealId, Status actual, Status expected) private pure {
        if (actual != expected) revert UnexpectedStatus(dealId, uint8(actual));
    }

    function _expectParties(Attestation calldata attestation, address attester, address recipient) private pure {
        if (attestation.attester != attester) revert WrongAttester(attester, attestation.attester);
        if (attestation.recipient != recipient) revert WrongRecipient(recipient, attestation.recipient);
    }

    function _expectReference(Attestation calldata attestation, Deal storage deal) private view {
        bytes32 expected = deal.lastAttestation;
        if (attestation.refUID != expected) revert WrongReference(expected, attestation.refUID);
    }

    /// @dev Reverts once the deal's current deadline has passed; returns the current time.
    function _beforeDeadline(bytes32 dealId, Deal storage deal) private view returns (uint40 now_) {
        now_ = _time();
        if (now_ > deal.deadline) revert DeadlinePassed(dealId, deal.deadline);
    }

    /// @dev Reverts until the deal's current deadline has passed.
    function _afterDeadline(bytes32 dealId, Deal storage deal) private view {
        if (_time() <= deal.deadline) revert DeadlineNotReached(dealId, deal.deadline);
    }

    /// @dev What the client locks: the price and the validator's fee.
    function _clientSide(Deal storage deal) private view returns (uint256) {
        return uint256(deal.price) + deal.validatorFee;
    }

    /// @dev Who took the deal to the court with a bond: the client in the optimistic scheme, otherwise the party
    /// the validator's verdict went against (nobody when a silent validator's deal was escalated).
    function _disputant(Deal storage deal) private view returns (address) {
        if (deal.validator == address(0)) return deal.client;
        Verdict verdict = deal.verdict;
        if (verdict == Verdict.Approved) return deal.client;
        if (verdict == Verdict.Rejected) return deal.provider;
        return address(0);
    }

    /// @dev The client approved the result: the provider is paid, and a validator gets its fee and stake as for a
    /// verdict that stood. The client bought the check when it named the validator, who may already have re-run
    /// the job: approving first must not be a way to take the fee back.
    function _approveByClient(bytes32 dealId, Deal storage deal) private {
        _credit(deal.token, deal.provider, uint256(deal.price) + deal.collateral);
        address validator = deal.validator;
        if (validator != address(0)) _credit(deal.token, validator, uint256(deal.validatorFee) + deal.bond);
        _close(dealId, deal, Status.Settled, CloseReason.Approved);
    }

    /// @dev Nobody objected to an optimistic deal's result within the window: the provider is paid.
    function _settleUnchallenged(bytes32 dealId, Deal storage deal) private {
        _credit(deal.token, deal.provider, uint256(deal.price) + deal.collateral);
        _close(dealId, deal, Status.Settled, CloseReason.ValidationWindowPassed);
    }

    /// @dev The provider failed: the client gets its payment back and the whole collateral, never an owner.
    function _slashProvider(bytes32 dealId, Deal storage deal, CloseReason reason) private {
        _credit(deal.token, deal.client, uint256(deal.price) + deal.collateral);
        _returnValidation(deal);
        _close(dealId, deal, Status.Slashed, reason);
    }

    /// @dev No verdict was needed: the validator's fee goes back to the client and its stake to the validator.
    function _returnValidation(Deal storage deal) private {
        address validator = deal.validator;
        if (validator == address(0)) return;
        _credit(deal.token, deal.client, deal.validatorFee);
        _credit(deal.token, validator, deal.bond);
    }

    /// @dev The court ruled. The winner takes price and collateral. A validator whose verdict the court confirmed
    /// is paid its fee and gets its stake back, and the disputant's bond pays the court; a validator that was
    /// overruled or silent forfeits its stake to the court, its fee goes back to the client and the disputant
    /// (if any) gets its bond back. Without a validator the client's dispute bond pays the court, win or lose.
    function _rule(bytes32 dealId, Deal storage deal, bool approved) private {
        address token = deal.token;
        uint256 bond = deal.bond;
        _credit(token, approved ? deal.provider : deal.client, uint256(deal.price) + deal.collateral);
        address validator = deal.validator;
        if (validator != address(0)) {
            if (deal.verdict == (approved ? Verdict.Approved : Verdict.Rejected)) {
                _credit(token, validator, uint256(deal.validatorFee) + bond);
            } else {
                _credit(token, deal.client, deal.validatorFee);
                address disputant = _disputant(deal);
                if (disputant != address(0)) _credit(token, disputant, bond);
            }
        }
        _credit(token, court, bond);
        if (approved) _close(dealId, deal, Status.Settled, CloseReason.CourtApproved);
        else _close(dealId, deal, Status.Slashed, CloseReason.CourtRejected);
    }

    /// @dev The court did not rule in time: every party gets back what it locked, and nobody is paid.
    function _unwind(bytes32 dealId, Deal storage deal) private {
        address token = deal.token;
        _credit(token, deal.client, _clientSide(deal));
        _credit(token, deal.provider, deal.collateral);
        if (deal.validator != address(0)) _credit(token, deal.validator, deal.bond);
        address disputant = _disputant(deal);
        if (disputant != address(0)) _credit(token, disputant, deal.bond);
        _close(dealId, deal, Status.Unwound, CloseReason.CourtTimeout);
    }

    function _close(bytes32 dealId, Deal storage deal, Status outcome, CloseReason reason) private {
        deal.status = outcome;
        emit Closed(dealId, outcome, reason);
    }
}
