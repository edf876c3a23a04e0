// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { CloseReason, Deal, Offer, Request, Status } from "../Types.sol";
import { ICollateralEscrow } from "./ICollateralEscrow.sol";

/// @title IComputeMarket
/// @notice The negotiation scheme of the compute marketplace: request, offer and counter-offer, accept,
/// attestations of commencement, completion and validation (through EAS), and termination.
/// Every message is an event that carries its full terms, so an agent can rebuild any negotiation from
/// chain history alone.
interface IComputeMarket is ICollateralEscrow {
    /// @notice A client asked for compute. `dealId` is the EIP-712 hash of `request`. `invited` names the
    /// providers the client addressed (chosen from the directory, say); empty, the request is broadcast.
    event Requested(
        bytes32 indexed dealId, address indexed client, Request request, string specURI, address[] invited
    );

    /// @notice A signed offer (signer = provider) or counter-offer (signer = client) was broadcast.
    event Offered(bytes32 indexed dealId, address indexed signer, address indexed provider, Offer offer, bytes signature);

    /// @notice A signer withdrew an offer before it was accepted.
    event OfferCancelled(bytes32 indexed offerHash, address indexed signer);

    /// @notice An offer was accepted; `status` says whether both sides are locked or one is awaited.
    event Accepted(
        bytes32 indexed dealId, address indexed client, address indexed provider, bytes32 offerHash, Status status
    );

    /// @notice The awaited side locked its funds; the deal is now Agreed.
    event Funded(bytes32 indexed dealId, address indexed account);

    /// @notice The provider attested that work began.
    event Commenced(bytes32 indexed dealId, bytes32 attestation);

    /// @notice The provider attested that work finished, with the hash of the result and where to fetch it.
    event Completed(bytes32 indexed dealId, bytes32 attestation, bytes32 resultHash, string resultURI);

    /// @notice The validator gave its verdict; the party it went against may `appeal` until the deal's deadline.
    /// Without an appeal `settle` carries the verdict out once that window has passed.
    event Judged(bytes32 indexed dealId, bytes32 attestation, bool approved);

    /// @notice The client of an optimistic deal disputed its result, posting `bond`; the court must rule by
    /// `deadline`.
    event Disputed(bytes32 indexed dealId, address indexed client, uint96 bond, uint40 deadline);

    /// @notice The party the validator's verdict went against appealed, posting `bond`; the court must rule by
    /// `deadline`.
    event Appealed(bytes32 indexed dealId, address indexed appellant, uint96 bond, uint40 deadline);

    /// @notice The validator gave no verdict in time: the court must rule by `deadline`, paid from its stake.
    event Escalated(bytes32 indexed dealId, uint40 deadline);

    /// @notice The deal reached a terminal status.
    event Closed(bytes32 indexed dealId, Status indexed outcome, CloseReason reason);

    /// @notice Post a request for compute, to the providers in `invited` or, empty, to all. Nothing is
    /// stored: the request is open until its offer deadline, and the terms come back as calldata when an
    /// offer on it is accepted. Invitations guide providers; whose offer to accept stays the client's choice.
    function request(Request calldata req, string calldata specURI, address[] calldata invited)
        external
        returns (bytes32 dealId);

    /// @notice Cancel a request before any offer on it is accepted. Only the client can.
    function cancelRequest(Request calldata req) external;

    /// @notice Broadcast a signed offer or counter-offer. The caller must be its signer.
    function offer(Offer calldata terms, bytes calldata signature) external;

    /// @notice Withdraw a signed offer so that it can no longer be accepted.
    function cancelOffer(Offer calldata terms) external;

    /// @notice Accept the other party's signed offer: the client accepts a provider's offer, or a provider
    /// accepts the client's counter-offer. The caller's side is locked (from its escrow account, the
    /// shortfall pulled from its wallet); the signer's side is locked from its escrow account if it holds
    /// enough, otherwise the deal awaits it until the commencement deadline.
    function accept(Request calldata req, Offer calldata terms, bytes calldata signature) external;

    /// @notice Accept like `accept`, but only if the signer's side can be locked now from its escrow account:
    /// otherwise revert with `UnfundedCounterparty` and leave the request open, rather than agree a deal that
    /// waits for funds that may never come.
    function acceptFunded(Request calldata req, Offer calldata terms, bytes calldata signature) external;

    /// @notice Lock the awaited side of an accepted deal; the commencement window restarts from now.
    function fund(bytes32 dealId) external;

    /// @notice Give up on a deal whose other side never locked its funds (the waiting party at any time,
    /// anyone after the deadline). The locked side is returned.
    function collateralMissing(bytes32 dealId) external;

    /// @notice Once the window has passed, pay the provider of a completed optimistic deal nobody disputed, or carry
    /// out a validator's verdict nobody appealed (the validator is paid its fee). Anyone can call.
    function settle(bytes32 dealId) external;

    /// @notice Slash a provider that missed its commencement or completion deadline, or unwind a dispute the court
    /// did not rule on in time (everyone gets back what it locked). Anyone can call.
    function claimTimeout(bytes32 dealId) external;

    /// @notice The client of an optimistic deal rejects its result within the validation window, posting the
    /// request's bond, and the court rules. The bond pays the court whatever the ruling.
    function dispute(Request calldata req) external;

    /// @notice The party a validator's verdict went against appeals to the court within the appeal window, posting
    /// the deal's bond; it gets the bond back if the court overrules the validator, who then forfeits its stake.
    function appeal(bytes32 dealId) external;

    /// @notice A validator that gave no verdict within the validation window: the court rules instead and the
    /// validator's stake pays it. Anyone can call.
    function escalate(bytes32 dealId) external;

    /// @notice The provider reports that it cannot finish the job: the client is refunded and paid the
    /// collateral at once rather than waiting for the deadline.
    function abort(bytes32 dealId) external;

    /// @notice The deal agreed for `dealId` (all zero while none is).
    function getDeal(bytes32 dealId) external view returns (Deal memory);

    /// @notice The deal id of a request: its EIP-712 typed-data hash.
    function hashRequest(Request calldata req) external view returns (bytes32);

    /// @notice The EIP-712 hash an offer's signer signs.
    function hashOffer(Offer calldata terms) external view returns (bytes32);
}
