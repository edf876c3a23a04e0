"""A deal as the market stores it, and requests and offers in the shapes calldata and events give them."""

from __future__ import annotations

from dataclasses import dataclass, fields

from agents.memory.evm import ZERO_ADDRESS, ZERO_BYTES32, check_uint
from agents.protocol import Offer, Request, Status, ValidationScheme, Verdict


@dataclass
class Deal:
    """The contract's `Deal` struct (Types.sol); an unknown deal id reads as all zeros, as storage does."""

    client: str = ZERO_ADDRESS
    price: int = 0
    provider: str = ZERO_ADDRESS
    collateral: int = 0
    token: str = ZERO_ADDRESS
    status: Status = Status.NONE
    deadline: int = 0
    job_duration: int = 0
    validation_window: int = 0
    validator: str = ZERO_ADDRESS
    commence_within: int = 0  # kept only while one side is awaited: funding restarts the commencement window
    verdict: Verdict = Verdict.NONE
    last_attestation: bytes = ZERO_BYTES32  # the next attestation must reference it
    validator_fee: int = 0
    bond: int = 0

    def as_struct(self) -> dict:
        """The fields by their Solidity names, as `getDeal` decodes."""
        return {_SOLIDITY_NAMES[f.name]: getattr(self, f.name) for f in fields(self)}

    @property
    def client_side(self) -> int:
        """_clientSide: what the client locks, the price and the validator's fee."""
        return self.price + self.validator_fee

    def disputant(self) -> str:
        """_disputant: who took the deal to the court with a bond: the optimistic client, or the party the
        validator's verdict went against (nobody, the zero address, when a silent validator's deal was escalated)."""
        if self.validator == ZERO_ADDRESS or self.verdict == Verdict.APPROVED:
            return self.client
        if self.verdict == Verdict.REJECTED:
            return self.provider
        return ZERO_ADDRESS


_SOLIDITY_NAMES = {
    "client": "client", "price": "price", "provider": "provider", "collateral": "collateral", "token": "token",
    "status": "status", "deadline": "deadline", "job_duration": "jobDuration",
    "validation_window": "validationWindow", "validator": "validator", "commence_within": "commenceWithin",
    "verdict": "verdict", "last_attestation": "lastAttestation", "validator_fee": "validatorFee", "bond": "bond",
}
EMPTY_DEAL = Deal()


def check_request_calldata(req: Request) -> None:
    """What the ABI decoder rejects before `Request calldata` reaches the function."""
    for f, value in zip(Request.FIELDS, req.as_tuple()):
        if f.metadata_type.startswith("uint"):
            check_uint(value, int(f.metadata_type[4:]))


def check_offer_calldata(terms: Offer) -> None:
    for f, value in zip(Offer.FIELDS, terms.as_tuple()):
        if f.metadata_type.startswith("uint"):
            check_uint(value, int(f.metadata_type[4:]))


def event_struct(value: Request | Offer) -> dict:
    """A request's or an offer's terms as its event decodes them (Solidity names; the scheme as its integer)."""
    return {f.name: (int(v) if isinstance(v, ValidationScheme) else v) for f, v in zip(value.FIELDS, value.as_tuple())}
