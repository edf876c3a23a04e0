// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice How a delivered result is judged before the provider is paid. Either way a contested judgement goes
/// to the market's court (set at deployment, the top of the appeal chain) and the party found wrong pays it.
enum ValidationScheme {
    // The client approves (paying at once) or disputes, posting the deal's bond, within the validation window;
    // silence pays the provider.
    Optimistic,
    // A validator named in the request, paid the request's fee and staking the deal's bond, re-runs the job
    // and attests its verdict; the party it went against may appeal to the court within the same window.
    Validator
}

/// @notice The validator's verdict on a result, kept while it can be appealed and through the court's ruling.
enum Verdict {
    None, // Not given (the optimistic scheme, or a silent validator).
    Approved,
    Rejected
}

/// @notice The state of a deal. Every non-terminal state has a deadline after which anyone can move it on.
enum Status {
    None, // No agreement: the request is open until its offer deadline (derived from time, nothing stored).
    Cancelled, // Terminal: the client cancelled the request before any agreement.
    AwaitingCollateral, // Accepted, the client's payment is locked; the provider must lock its collateral.
    AwaitingPayment, // Accepted, the provider's collateral is locked; the client must lock the payment.
    Agreed, // Both sides locked; the provider must attest commencement before the deadline.
    Commenced, // Commencement attested; the provider must attest completion before the deadline.
    Completed, // Completion attested; the result can be validated (or disputed) until the deadline.
    Settled, // Terminal: the provider was paid and its collateral returned.
    Slashed, // Terminal: the client was refunded and received the provider's collateral.
    Unfunded, // Terminal: one side never locked its funds; the side that did got them back.
    Judged, // The validator gave its verdict; the party it went against may appeal until the deadline.
    Disputed, // Before the court, which must rule by the deadline.
    Unwound // Terminal: the court did not rule in time; every party got back what it had locked.
}

/// @notice Why a deal reached its terminal state.
enum CloseReason {
    Cancelled, // The client cancelled the request.
    CollateralMissing, // A party did not lock its side in time, or the other party gave up waiting.
    Approved, // The client approved the result.
    ValidationWindowPassed, // Nobody objected within the validation window (optimistic settlement).
    CommencementTimeout, // The provider did not attest commencement in time.
    CompletionTimeout, // The provider did not attest completion in time.
    ProviderAborted, // The provider reported that it cannot complete the job.
    VerdictApproved, // The validator approved the result and nobody appealed.
    VerdictRejected, // The validator rejected the result and nobody appealed.
    CourtApproved, // The court ruled the result correct.
    CourtRejected, // The court ruled the result wrong.
    CourtTimeout // The court did not rule in time.
}

/// @notice A client's request for compute. Never stored: its EIP-712 hash is the deal id, and every later
/// call that needs the terms takes them as calldata and is checked against that id.
struct Request {
    address client;
    address token; // The ERC20 that pays for the job and holds the provider's collateral.
    uint96 maxPrice; // The most the client will pay, in token units.
    uint96 minCollateral; // The least collateral a provider must lock, in token units.
    uint40 offerDeadline; // The last moment an offer on this request can be accepted.
    uint24 commenceWithin; // Seconds from acceptance until commencement must be attested.
    uint24 jobDuration; // Seconds from commencement until completion must be attested.
    uint24 validationWindow; // Seconds after completion for the result to be approved or rejected.
    ValidationScheme scheme;
    address validator; // The validator for ValidationScheme.Validator, address(0) otherwise.
    uint96 validatorFee; // Paid by the client to the validator for a verdict that stands; 0 when optimistic.
    uint96 bond; // Posted by whoever takes a result to the court, and staked by the validator at acceptance.
    bytes32 specHash; // Hash of the job specification found at the request's spec URI.
    uint64 nonce; // Chosen by the client so that identical terms still make distinct requests.
}

/// @notice Terms proposed for a request: an offer signed by a provider, or a counter-offer signed by the
/// client and addressed to one provider. The other side accepts it on chain with the signature.
struct Offer {
    bytes32 dealId; // The request this offer answers.
    address provider; // The provider that would do the job.
    uint96 price; // In the request's token units; at most the request's maxPrice.
    uint96 collateral; // Locked by the provider, slashed to the client if the provider fails.
    uint40 expiry; // The offer cannot be accepted after this time.
    uint32 round; // Negotiation round, so that successive counter-offers are distinct messages.
}

/// @notice An agreed deal, packed into three slots (four with a validator or an awaited side, five once work has
/// begun, six with a validator or once disputed).
struct Deal {
    // slot 0
    address client;
    uint96 price;
    // slot 1
    address provider;
    uint96 collateral;
    // slot 2
    address token;
    Status status;
    uint40 deadline; // When the current status times out.
    uint24 jobDuration;
    uint24 validationWindow;
    // slot 3
    address validator; // address(0) for the optimistic scheme.
    uint24 commenceWithin; // kept only while one side is awaited: funding restarts the commencement window
    Verdict verdict; // the validator's, once given
    // slot 4
    bytes32 lastAttestation; // The deal's latest attestation: the next one must reference it.
    // slot 5: written with a validator (at acceptance) or by a dispute
    uint96 validatorFee;
    uint96 bond;
}
