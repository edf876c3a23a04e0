// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { ERC20 } from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Test double: charges the sender a 1% fee on top of every transfer, so the recipient receives the
/// full amount and the sender's balance falls by more than it sent.
contract FeeOnSendToken is ERC20 {
    constructor() ERC20("Fee On Send", "FOS") { }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0)) super._update(from, address(0), value / 100);
        super._update(from, to, value);
    }
}
