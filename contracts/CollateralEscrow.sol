// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { IERC20 } from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import { SafeERC20 } from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import { ReentrancyGuardTransient } from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {
    FeeOnSendNotSupported,
    FeeOnTransferNotSupported,
    InsufficientBalance,
    NotAToken,
    NothingToSkim,
    SkimWouldMoveOwedFunds,
    ZeroAmount
} from "./Common.sol";
import { ICollateralEscrow } from "./interfaces/ICollateralEscrow.sol";

/// @title CollateralEscrow
/// @notice The accounts of the marketplace. Locking and releasing move value between an account and a
/// deal without moving tokens, so `totalOwed` changes only when tokens enter or leave, and the escrow's
/// token balance always equals it.
abstract contract CollateralEscrow is ICollateralEscrow, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev Unlocked balances: what each account can withdraw or lock into a deal.
    mapping(address token => mapping(address account => uint256 amount)) private _available;

    /// @dev Unlocked balances plus locked deal funds, per token.
    mapping(address token => uint256 amount) private _totalOwed;

    /// @dev Every token (every token address) the escrow has owed, in order of first deposit or lock: `skim`
    /// checks that none of their balances moves.
    address[] private _owedTokens;
    mapping(address token => bool listed) private _isOwedToken;

    /// @inheritdoc ICollateralEscrow
    function deposit(address token, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        _available[token][msg.sender] += amount;
        _pull(token, msg.sender, amount);
        emit Deposited(token, msg.sender, amount);
    }

    /// @inheritdoc ICollateralEscrow
    function withdraw(address token, uint256 amount) external nonReentrant {
        _withdraw(token, amount, msg.sender);
    }

    /// @inheritdoc ICollateralEscrow
    function withdrawTo(address token, uint256 amount, address to) external nonReentrant {
        _withdraw(token, amount, to);
    }

    /// @inheritdoc ICollateralEscrow
    function skim(address token, address to) external nonReentrant returns (uint256 amount) {
        uint256 balance = IERC20(token).balanceOf(address(this));
        uint256 owed = _totalOwed[token];
        if (balance <= owed) revert NothingToSkim(token);
        amount = balance - owed;

        // A token can be reachable through two addresses (legacy TrueUSD, Synthetix proxies) that share one
        // balance, which the books of either address cannot see. So, whatever the token: the transfer may
        // lower `token`'s balance by `amount` and must leave every other owed token's balance where it was.
        address[] storage owedTokens = _owedTokens;
        uint256 count = owedTokens.length;
        uint256[] memory held = new uint256[](count);
        for (uint256 i; i < count; ++i) {
            held[i] = IERC20(owedTokens[i]).balanceOf(address(this));
        }
        IERC20(token).safeTransfer(to, amount);
        for (uint256 i; i < count; ++i) {
            address owedToken = owedTokens[i];
            uint256 expected = owedToken == token ? held[i] - amount : held[i];
            if (IERC20(owedToken).balanceOf(address(this)) < expected) revert SkimWouldMoveOwedFunds(owedToken);
        }
        emit Skimmed(token, to, amount);
    }

    /// @inheritdoc ICollateralEscrow
    function available(address token, address account) external view returns (uint256) {
        return _available[token][account];
    }

    /// @inheritdoc ICollateralEscrow
    function totalOwed(address token) external view returns (uint256) {
        return _totalOwed[token];
    }

    /// @dev The unlocked balance of `account` in `token`.
    function _availableOf(address token, address account) internal view returns (uint256) {
        return _available[token][account];
    }

    /// @dev Moves `amount` from `account`'s unlocked balance into a deal if the balance covers it; otherwise
    /// changes nothing and returns false, so the deal can wait for the account to fund it. No external call.
    function _lockFromAccount(address token, address account, uint256 amount) internal returns (bool) {
        uint256 balance = _available[token][account];
        if (balance < amount) return false;
        if (amount != 0) _available[token][account] = balance - amount;
        return true;
    }

    /// @dev Moves `amount` into a deal from `account`'s unlocked balance, pulling what it lacks from the
    /// account's wallet (the account is the caller). Callers write their own state first: the pull calls the
    /// token, which may call back.
    function _lockOrPull(address token, address account, uint256 amount) internal {
        uint256 balance = _available[token][account];
        if (balance >= amount) {
            if (amount != 0) _available[token][account] = balance - amount;
            return;
        }
        if (balance != 0) _available[token][account] = 0;
        _pull(token, account, amount - balance);
    }

    /// @dev Pays `amount` out of the caller's unlocked balance to `to`.
    function _withdraw(address token, uint256 amount, address to) private {
        if (amount == 0) revert ZeroAmount();
        uint256 balance = _available[token][msg.sender];
        if (amount > balance) revert InsufficientBalance(balance, amount);
        _available[token][msg.sender] = balance - amount;
        _totalOwed[token] -= amount;
        uint256 balanceBefore = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransfer(to, amount);
        // A token that charges the sender on top of the amount would pay the fee out of other accounts.
        uint256 balanceAfter = IERC20(token).balanceOf(address(this));
        uint256 sent = balanceBefore > balanceAfter ? balanceBefore - balanceAfter : 0;
        if (sent != amount) revert FeeOnSendNotSupported(token, amount, sent);
        emit Withdrawn(token, msg.sender, to, amount);
    }

    /// @dev Returns deal funds to an account's unlocked balance.
    function _credit(address token, address account, uint256 amount) internal {
        if (amount != 0) _available[token][account] += amount;
    }

    /// @dev Transfers tokens in and checks that exactly `amount` arrived (the books are written first).
    function _pull(address token, address from, uint256 amount) private {
        if (token.code.length == 0) revert NotAToken(token);
        uint256 owed = _totalOwed[token];
        if (owed == 0 && !_isOwedToken[token]) {
            _isOwedToken[token] = true;
            _owedTokens.push(token);
        }
        _totalOwed[token] = owed + amount;
        uint256 balanceBefore = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(from, address(this), amount);
        uint256 balanceAfter = IERC20(token).balanceOf(address(this));
        // A token whose transfer shrinks the recipient's balance counts as having delivered nothing.
        uint256 received = balanceAfter > balanceBefore ? balanceAfter - balanceBefore : 0;
        if (received != amount) revert FeeOnTransferNotSupported(token, amount, received);
    }
}
