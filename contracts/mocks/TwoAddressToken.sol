// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { ERC20 } from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Test double: a token whose balances are reachable through two contract addresses, like legacy
/// TrueUSD or Synthetix's proxies. `secondAddress` reads and moves the same balances as this contract.
contract TwoAddressToken is ERC20 {
    SecondAddress public immutable secondAddress;

    constructor() ERC20("Two Address Token", "TWO") {
        secondAddress = new SecondAddress(this);
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    modifier onlySecondAddress() {
        require(msg.sender == address(secondAddress));
        _;
    }

    function transferThroughSecond(address from, address to, uint256 amount) external onlySecondAddress {
        _transfer(from, to, amount);
    }

    function transferFromThroughSecond(address spender, address from, address to, uint256 amount)
        external
        onlySecondAddress
    {
        _spendAllowance(from, spender, amount);
        _transfer(from, to, amount);
    }

    function approveThroughSecond(address owner, address spender, uint256 amount) external onlySecondAddress {
        _approve(owner, spender, amount);
    }
}

/// @notice The second entry point of a TwoAddressToken: an ERC20 facade over the same ledger.
contract SecondAddress {
    TwoAddressToken private immutable _token;

    constructor(TwoAddressToken token) {
        _token = token;
    }

    function balanceOf(address account) external view returns (uint256) {
        return _token.balanceOf(account);
    }

    function allowance(address owner, address spender) external view returns (uint256) {
        return _token.allowance(owner, spender);
    }

    function totalSupply() external view returns (uint256) {
        return _token.totalSupply();
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        _token.approveThroughSecond(msg.sender, spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _token.transferThroughSecond(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _token.transferFromThroughSecond(msg.sender, from, to, amount);
        return true;
    }
}
