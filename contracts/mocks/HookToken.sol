// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { ERC20 } from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice The sender-side hook of an ERC-777-style token: called on the payer before its tokens move.
interface ITokensSender {
    function tokensToSend(address operator, address from, address to, uint256 amount) external;
}

/// @notice Test double: an ERC20 that, like ERC-777, calls the payer back (when it is a contract) before
/// every transfer out of its balance, handing control to the payer in the middle of the caller's transaction.
contract HookToken is ERC20 {
    constructor() ERC20("Hook Token", "HOOK") { }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && from.code.length != 0) {
            ITokensSender(from).tokensToSend(msg.sender, from, to, value);
        }
        super._update(from, to, value);
    }
}
