"""Token wallets: the ERC20 balances and allowances the escrow pulls from and pays out to.

The market's tokens are OpenZeppelin 5 ERC20s (contracts/tokens/TestToken.sol): the same errors (ERC-6093),
in the same order, and the same `Transfer` events. An allowance of 2**256 - 1 is never spent, as in OZ.
"""

from __future__ import annotations

from collections import defaultdict

from agents.memory.evm import MAX_UINT256, NO_DATA, ZERO_ADDRESS, CallContext, Revert
from agents.protocol import to_checksum_address


class TokenLedger:
    """Balances and allowances of every token the memory chain knows, by token address."""

    def __init__(self, calls: CallContext):
        self._calls = calls
        self._balances: dict[str, defaultdict[str, int]] = {}
        self._allowances: dict[str, defaultdict[tuple[str, str], int]] = {}

    def add_token(self, token: str) -> None:
        token = to_checksum_address(token)
        self._balances.setdefault(token, defaultdict(int))
        self._allowances.setdefault(token, defaultdict(int))

    def is_token(self, token: str) -> bool:
        return token in self._balances

    def balance_of(self, token: str, account: str) -> int:
        return self._token(token)[account]

    def allowance(self, token: str, owner: str, spender: str) -> int:
        self._token(token)
        return self._allowances[token][(owner, spender)]

    # The tokens' own functions, called by accounts.

    def mint(self, token: str, to: str, amount: int) -> list:
        """TestToken.mint (anyone may call it: the test token has no value, so the caller does not matter)."""
        with self._calls.call() as events:
            if to == ZERO_ADDRESS:
                raise Revert("ERC20InvalidReceiver", receiver=ZERO_ADDRESS)
            self._token(token)[to] += amount
            self._calls.emit(token, "Transfer", **{"from": ZERO_ADDRESS, "to": to, "value": amount})
        return events

    def approve(self, sender: str, token: str, spender: str, amount: int) -> list:
        """ERC20.approve by `sender`, the owner."""
        with self._calls.call() as events:
            self._token(token)
            if spender == ZERO_ADDRESS:
                raise Revert("ERC20InvalidSpender", spender=ZERO_ADDRESS)
            self._allowances[token][(sender, spender)] = amount
            self._calls.emit(token, "Approval", owner=sender, spender=spender, value=amount)
        return events

    def send(self, sender: str, token: str, to: str, amount: int) -> list:
        """ERC20.transfer by `sender` (its name here so as not to be taken for the escrow's internal moves)."""
        with self._calls.call() as events:
            self.transfer(token, sender, to, amount)
        return events

    # What the escrow does with them. Each check_ method raises what the transfer would, without moving
    # anything, so that a caller can check before it writes its own state.

    def check_transfer_from(self, token: str, spender: str, owner: str, to: str, amount: int) -> None:
        """ERC20.transferFrom's reverts, in OZ's order: allowance, then the sender's balance."""
        balances = self._token(token)
        allowance = self._allowances[token][(owner, spender)]
        if allowance < amount:  # (an infinite allowance is never below an amount)
            raise Revert("ERC20InsufficientAllowance", spender=spender, allowance=allowance, needed=amount)
        self._check_transfer(balances, owner, to, amount)

    def transfer_from(self, token: str, spender: str, owner: str, to: str, amount: int) -> None:
        self.check_transfer_from(token, spender, owner, to, amount)
        key = (owner, spender)
        if self._allowances[token][key] != MAX_UINT256:
            self._allowances[token][key] -= amount
        self._move(token, owner, to, amount)

    def check_transfer(self, token: str, sender: str, to: str, amount: int) -> None:
        self._check_transfer(self._token(token), sender, to, amount)

    def transfer(self, token: str, sender: str, to: str, amount: int) -> None:
        self.check_transfer(token, sender, to, amount)
        self._move(token, sender, to, amount)

    def _check_transfer(self, balances, sender: str, to: str, amount: int) -> None:
        if to == ZERO_ADDRESS:
            raise Revert("ERC20InvalidReceiver", receiver=ZERO_ADDRESS)
        if balances[sender] < amount:
            raise Revert("ERC20InsufficientBalance", sender=sender, balance=balances[sender], needed=amount)

    def _move(self, token: str, sender: str, to: str, amount: int) -> None:
        balances = self._balances[token]
        balances[sender] -= amount
        balances[to] += amount
        self._calls.emit(token, "Transfer", **{"from": sender, "to": to, "value": amount})

    def _token(self, token: str) -> defaultdict[str, int]:
        """The balances of `token`; calling an address that is no token reverts without data (no such function)."""
        balances = self._balances.get(token)
        if balances is None:
            raise Revert(NO_DATA)
        return balances
