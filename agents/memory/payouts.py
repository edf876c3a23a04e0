"""Who is credited what when a deal closes: ComputeMarket's payout functions, on the memory escrow.

Closing moves deal funds back to unlocked balances (`Escrow.credit`); no token moves. Every path credits exactly
what the deal holds: the client's side (price and validator fee), the collateral, the validator's stake, and a
bond posted to go to the court.
"""

from __future__ import annotations

from collections.abc import Callable

from agents.memory.deal import Deal
from agents.memory.escrow import Escrow
from agents.memory.evm import ZERO_ADDRESS
from agents.protocol import CloseReason, Status, Verdict


class Payouts:
    def __init__(self, escrow: Escrow, court: str, emit: Callable[..., None]):
        self._escrow = escrow
        self.court = court
        self._emit = emit

    def settle_unchallenged(self, deal_id: bytes, deal: Deal) -> None:
        """_settleUnchallenged: nobody objected to an optimistic deal's result within the window."""
        self._escrow.credit(deal.token, deal.provider, deal.price + deal.collateral)
        self.close(deal_id, deal, Status.SETTLED, CloseReason.VALIDATION_WINDOW_PASSED)

    def carry_out_verdict(self, deal_id: bytes, deal: Deal) -> None:
        """settle's Judged branch: the verdict stands, and the validator earned its fee and gets its stake back."""
        approved = deal.verdict == Verdict.APPROVED
        self._escrow.credit(deal.token, deal.provider if approved else deal.client, deal.price + deal.collateral)
        self._escrow.credit(deal.token, deal.validator, deal.validator_fee + deal.bond)
        if approved:
            self.close(deal_id, deal, Status.SETTLED, CloseReason.VERDICT_APPROVED)
        else:
            self.close(deal_id, deal, Status.SLASHED, CloseReason.VERDICT_REJECTED)

    def return_unfunded(self, deal_id: bytes, deal: Deal, waiting: str) -> None:
        """collateralMissing: only the waiting party's side and the validator's stake were locked; they go back."""
        side = deal.client_side if deal.status == Status.AWAITING_COLLATERAL else deal.collateral
        self._escrow.credit(deal.token, waiting, side)
        if deal.validator != ZERO_ADDRESS:
            self._escrow.credit(deal.token, deal.validator, deal.bond)
        self.close(deal_id, deal, Status.UNFUNDED, CloseReason.COLLATERAL_MISSING)


    def approve_by_client(self, deal_id: bytes, deal: Deal) -> None:
        """_approveByClient: the provider is paid, and a validator gets its fee and stake as for a verdict that
        stood: the client bought the check when it named the validator, and approving first must not be a way
        to take the fee back."""
        self._escrow.credit(deal.token, deal.provider, deal.price + deal.collateral)
        if deal.validator != ZERO_ADDRESS:
            self._escrow.credit(deal.token, deal.validator, deal.validator_fee + deal.bond)
        self.close(deal_id, deal, Status.SETTLED, CloseReason.APPROVED)

    def rule(self, deal_id: bytes, deal: Deal, approved: bool) -> None:
        """_rule: the winner takes price and collateral. A validator the court confirmed is paid its fee and gets
        its stake back, and the disputant's bond pays the court; a validator overruled or silent forfeits its
        stake to the court, its fee goes back to the client and the disputant (if any) gets its bond back.
        Without a validator the client's dispute bond pays the court, win or lose."""
        token, bond = deal.token, deal.bond
        self._escrow.credit(token, deal.provider if approved else deal.client, deal.price + deal.collateral)
        if deal.validator != ZERO_ADDRESS:
            if deal.verdict == (Verdict.APPROVED if approved else Verdict.REJECTED):
                self._escrow.credit(token, deal.validator, deal.validator_fee + bond)
            else:
                self._escrow.credit(token, deal.client, deal.validator_fee)
                disputant = deal.disputant()
                if disputant != ZERO_ADDRESS:
                    self._escrow.credit(token, disputant, bond)
        self._escrow.credit(token, self.court, bond)
        if approved:
            self.close(deal_id, deal, Status.SETTLED, CloseReason.COURT_APPROVED)
        else:
            self.close(deal_id, deal, Status.SLASHED, CloseReason.COURT_REJECTED)

    def slash_provider(self, deal_id: bytes, deal: Deal, reason: CloseReason) -> None:
        """_slashProvider: the client gets its payment back and the whole collateral; no verdict was needed, so
        a validator's fee goes back to the client and its stake to the validator (_returnValidation)."""
        self._escrow.credit(deal.token, deal.client, deal.price + deal.collateral)
        if deal.validator != ZERO_ADDRESS:
            self._escrow.credit(deal.token, deal.client, deal.validator_fee)
            self._escrow.credit(deal.token, deal.validator, deal.bond)
        self.close(deal_id, deal, Status.SLASHED, reason)

    def unwind(self, deal_id: bytes, deal: Deal) -> None:
        """_unwind: the court did not rule in time; every party gets back what it locked, nobody is paid."""
        token = deal.token
        self._escrow.credit(token, deal.client, deal.client_side)
        self._escrow.credit(token, deal.provider, deal.collateral)
        if deal.validator != ZERO_ADDRESS:
            self._escrow.credit(token, deal.validator, deal.bond)
        disputant = deal.disputant()
        if disputant != ZERO_ADDRESS:
            self._escrow.credit(token, disputant, deal.bond)
        self.close(deal_id, deal, Status.UNWOUND, CloseReason.COURT_TIMEOUT)

    def close(self, deal_id: bytes, deal: Deal, outcome: Status, reason: CloseReason) -> None:
        deal.status = outcome
        self._emit("Closed", dealId=deal_id, outcome=outcome, reason=reason)
