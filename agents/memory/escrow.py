"""The market's accounts: contracts/CollateralEscrow.sol in memory.

Locking and releasing move value between an account and a deal without moving tokens, so `total_owed` changes
only when tokens enter (deposit, a pull) or leave (withdraw), and the market's token balance always equals it.
The tokens are the plain ERC20s of `TokenLedger`: the fee-on-transfer and two-address checks of the contract
cannot fail on them, and are not modelled.
"""

from __future__ import annotations

from collections import defaultdict

from agents.memory.evm import CallContext, Revert
from agents.memory.tokens import TokenLedger


class Escrow:
    """Unlocked balances per token and account; the market holds the tokens at `address`."""

    def __init__(self, address: str, ledger: TokenLedger, calls: CallContext, contracts: set[str]):
        self.address = address
        self._ledger = ledger
        self._calls = calls
        self._contracts = contracts  # addresses with code: a token must be one (NotAToken)
        self._available: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._total_owed: defaultdict[str, int] = defaultdict(int)

    # Views

    def available(self, token: str, account: str) -> int:
        """CollateralEscrow.available."""
        return self._available.get((token, account), 0)

    def total_owed(self, token: str) -> int:
        """CollateralEscrow.totalOwed."""
        return self._total_owed.get(token, 0)

    # External functions

    def deposit(self, sender: str, token: str, amount: int) -> list:
        """CollateralEscrow.deposit: the books first, then the pull (checked before anything is written)."""
        with self._calls.call() as events:
            if amount == 0:
                raise Revert("ZeroAmount")
            self._check_pull(token, sender, amount)
            self._available[(token, sender)] += amount
            self._pull(token, sender, amount)
            self._calls.emit(self.address, "Deposited", token=token, account=sender, amount=amount)
        return events

    def withdraw(self, sender: str, token: str, amount: int) -> list:
        """CollateralEscrow.withdraw."""
        return self.withdraw_to(sender, token, amount, sender)

    def withdraw_to(self, sender: str, token: str, amount: int, to: str) -> list:
        """CollateralEscrow.withdrawTo: pays out of the caller's unlocked balance to `to`."""
        with self._calls.call() as events:
            if amount == 0:
                raise Revert("ZeroAmount")
            balance = self.available(token, sender)
            if amount > balance:
                raise Revert("InsufficientBalance", available=balance, requested=amount)
            self._ledger.check_transfer(token, self.address, to, amount)
            self._available[(token, sender)] = balance - amount
            self._total_owed[token] -= amount
            self._ledger.transfer(token, self.address, to, amount)
            self._calls.emit(self.address, "Withdrawn", token=token, account=sender, to=to, amount=amount)
        return events

    def skim(self, sender: str, token: str, to: str) -> list:
        """CollateralEscrow.skim: pays out tokens sent to the market directly, which nobody is owed."""
        with self._calls.call() as events:
            balance = self._ledger.balance_of(token, self.address)
            owed = self.total_owed(token)
            if balance <= owed:
                raise Revert("NothingToSkim", token=token)
            self._ledger.transfer(token, self.address, to, balance - owed)
            self._calls.emit(self.address, "Skimmed", token=token, to=to, amount=balance - owed)
        return events

    # What the market does with the accounts (internal functions: no call of their own)

    def lock_from_account(self, token: str, account: str, amount: int) -> bool:
        """_lockFromAccount: locks `amount` if the unlocked balance covers it, else changes nothing."""
        balance = self.available(token, account)
        if balance < amount:
            return False
        if amount:
            self._available[(token, account)] = balance - amount
        return True

    def check_lock_or_pull(self, token: str, account: str, amount: int) -> None:
        """Raises what `lock_or_pull` would (the pull of the shortfall from the wallet), changing nothing."""
        shortfall = amount - self.available(token, account)
        if shortfall > 0:
            self._check_pull(token, account, shortfall)

    def lock_or_pull(self, token: str, account: str, amount: int) -> None:
        """_lockOrPull: locks from the unlocked balance, pulling what it lacks from the account's wallet.
        Callers check it first (`check_lock_or_pull`) and write their own state before it, as the contract does."""
        balance = self.available(token, account)
        if balance >= amount:
            if amount:
                self._available[(token, account)] = balance - amount
            return
        if balance:
            self._available[(token, account)] = 0
        self._pull(token, account, amount - balance)

    def credit(self, token: str, account: str, amount: int) -> None:
        """_credit: deal funds back to an account's unlocked balance."""
        if amount:
            self._available[(token, account)] += amount

    def _check_pull(self, token: str, account: str, amount: int) -> None:
        if token not in self._contracts:
            raise Revert("NotAToken", token=token)
        self._ledger.check_transfer_from(token, self.address, account, self.address, amount)

    def _pull(self, token: str, account: str, amount: int) -> None:
        """_pull: tokens in; what is owed grows by exactly what arrived."""
        self._total_owed[token] += amount
        self._ledger.transfer_from(token, self.address, account, self.address, amount)
