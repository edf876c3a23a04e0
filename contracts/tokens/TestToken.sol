// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { ERC20 } from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestToken
/// @notice A payment token for local chains and testnets: anyone can mint, and decimals are chosen at
/// deployment so that markets can be simulated with tokens like USDC (6) as well as 18-decimal ones.
contract TestToken is ERC20 {
    uint8 private immutable _decimals;

    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_) {
        _decimals = decimals_;
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mint `amount` to `to`. Unrestricted on purpose: this token has no value.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
