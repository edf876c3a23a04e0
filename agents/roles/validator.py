"""A validator: re-runs the jobs of the deals that name it and attests its verdict, for a fee. Each deal
locks its stake (the request's bond) from its escrow account at acceptance, so it keeps a stake deposited."""

from __future__ import annotations

from agents.chain.rpc import RPCError, RPCUnavailable
from agents.policy import Dialogue
from agents.protocol import Performative, Status
from agents.roles.judge import JudgeAgent


class ValidatorAgent(JudgeAgent):
    answer = Performative.VERDICT

    def __init__(self, *args, stake: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        # What it keeps in escrow for stakes, free or locked in deals: topped up from its wallet. Providers
        # decline requests naming a validator whose free balance does not cover the bond.
        self.stake = stake
        self._token_approved = False

    def takes_part(self, requested: dict) -> bool:
        return requested["request"]["validator"] == self.address  # the requests that name it

    def must_judge(self, dialogue: Dialogue) -> bool:
        return dialogue.status == Status.COMPLETED and dialogue.validator == self.address

    async def keep_obligations(self) -> None:
        await self._top_up_stake()
        await super().keep_obligations()

    async def _top_up_stake(self) -> None:
        """Deposit from the wallet what the escrow lacks of `stake` (stakes come back with fees when its
        verdicts stand; an overturned verdict's stake is gone and the wallet refills the escrow)."""
        committed = self.locks.funds + sum(d.my_locked for d in self.dialogues.open())
        if committed >= self.stake:
            return
        try:
            wallet = await self.wallet_balance()
            amount = min(wallet, self.stake - committed)
            if amount <= 0:
                return
            if not self._token_approved:
                await self.transactions.approve_token()
                self._token_approved = True
            await self.transactions.deposit(amount)
        except (RPCUnavailable, RPCError) as error:
            self.errors.append(f"depositing its stake: {error}")
            return
        self.locks.funds += amount  # the locks count what the agent is about to deposit
