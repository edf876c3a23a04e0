// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title ICollateralEscrow
/// @notice Accounts that hold payments and collateral. Agents keep a float here: accepting a deal locks
/// part of it, closing a deal credits it, and only the account's owner can withdraw it (pull payments).
interface ICollateralEscrow {
    /// @notice Tokens entered an account.
    event Deposited(address indexed token, address indexed account, uint256 amount);

    /// @notice Tokens left an account, sent to `to`.
    event Withdrawn(address indexed token, address indexed account, address to, uint256 amount);

    /// @notice Tokens that belonged to no account (sent to the escrow outside `deposit`) were sent out.
    event Skimmed(address indexed token, address indexed to, uint256 amount);

    /// @notice Deposit `amount` of `token` into the caller's account. Tokens that deliver less than the
    /// amount transferred (fee on transfer) are refused.
    function deposit(address token, uint256 amount) external;

    /// @notice Withdraw `amount` of unlocked `token` from the caller's account to the caller.
    function withdraw(address token, uint256 amount) external;

    /// @notice Withdraw `amount` of unlocked `token` from the caller's account to `to` (another wallet, or one
    /// that can receive when the caller's own address cannot, e.g. a blacklisted one).
    function withdrawTo(address token, uint256 amount, address to) external;

    /// @notice Send whatever the escrow holds of `token` beyond what it owes (tokens transferred to it
    /// directly, which no account owns) to `to`. Anyone may call it; it can never touch owed funds: it
    /// reverts if the transfer moves the balance of any token the escrow owes other than by exactly that
    /// surplus, so a token reachable through two addresses (one balance, two sets of books) is refused.
    function skim(address token, address to) external returns (uint256 amount);

    /// @notice The unlocked balance of `account` in `token`.
    function available(address token, address account) external view returns (uint256);

    /// @notice Everything the escrow owes in `token`: unlocked balances plus the funds locked in open deals.
    /// The escrow's balance of `token` equals it, unless someone transferred tokens to the escrow directly
    /// (outside `deposit`): those belong to no account, only ever make the balance larger, and `skim`
    /// sends them out.
    function totalOwed(address token) external view returns (uint256);
}
