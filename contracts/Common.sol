// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Every revert of the marketplace, in one place, named for what went wrong.

// --- Escrow ---
error ZeroAmount();
error NotAToken(address token);
error InsufficientBalance(uint256 available, uint256 requested);
error FeeOnTransferNotSupported(address token, uint256 expected, uint256 received);
error FeeOnSendNotSupported(address token, uint256 amount, uint256 sent);
error NothingToSkim(address token);
error SkimWouldMoveOwedFunds(address token);

// --- Requests and offers ---
error NotTheClient();
error NotAParty();
error SelfDeal();
error InvalidDeadline();
error InvalidDuration();
error InvalidValidationScheme();
error ZeroSpecHash();
error RequestExpired();
error OfferExpired();
error OfferForAnotherRequest();
error OfferIsCancelled();
error PriceAboveMaximum(uint256 price, uint256 maxPrice);
error CollateralBelowMinimum(uint256 collateral, uint256 minCollateral);
error InvalidSignature();
error UnfundedCounterparty(address party, uint256 required, uint256 available);

// --- Deal lifecycle ---
error UnexpectedStatus(bytes32 dealId, uint8 status);
error DeadlinePassed(bytes32 dealId, uint40 deadline);
error DeadlineNotReached(bytes32 dealId, uint40 deadline);
error NotTheProvider();
error NotTheFundingParty();
error NotTheWaitingParty();

// --- Judgement, disputes and the court ---
error InvalidCourt();
error RejectionNeedsDispute();
error NotTheAppellant(address expected, address actual);
error VerdictMissing(bytes32 dealId);

// --- Attestations (resolver) ---
error UnknownSchema(bytes32 schema);
error WrongAttester(address expected, address actual);
error WrongRecipient(address expected, address actual);
error WrongReference(bytes32 expected, bytes32 actual);
error AttestationMustNotExpire();
error ZeroResultHash();
