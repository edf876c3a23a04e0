// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import { ISchemaRegistry, SchemaRecord } from "@ethereum-attestation-service/eas-contracts/contracts/ISchemaRegistry.sol";
import { ISchemaResolver } from "@ethereum-attestation-service/eas-contracts/contracts/resolver/ISchemaResolver.sol";

import { MarketTestBase } from "./Base.t.sol";
import { ComputeMarket } from "../../contracts/ComputeMarket.sol";
import { Status } from "../../contracts/Types.sol";

/// @notice The constructor's schema registration: nobody can block a deployment by registering the market's
/// schemas first.
contract DeploymentTest is MarketTestBase {
    function _uid(string memory schema, address resolver) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(schema, resolver, false));
    }

    /// Anyone can register the schemas for the deployer's next contract address (the registry lets anyone
    /// name any resolver). Before the fix the constructor reverted with AlreadyExists.
    function test_constructor_schemasRegisteredBeforehandAreAdopted() public {
        address next = vm.computeCreateAddress(address(this), vm.getNonce(address(this)));
        string[3] memory schemas =
            [market.COMMENCEMENT_SCHEMA(), market.COMPLETION_SCHEMA(), market.VALIDATION_SCHEMA()];
        vm.startPrank(stranger);
        for (uint256 i; i < schemas.length; ++i) {
            registry.register(schemas[i], ISchemaResolver(next), false);
        }
        vm.stopPrank();

        ComputeMarket squatted = new ComputeMarket(eas, court, COURT_WINDOW);
        assertEq(address(squatted), next);
        assertEq(squatted.commencementSchemaUID(), _uid(schemas[0], next));
        assertEq(squatted.completionSchemaUID(), _uid(schemas[1], next));
        assertEq(squatted.validationSchemaUID(), _uid(schemas[2], next));

        // The adopted schemas work: a whole deal runs on the new market.
        market = squatted;
        commencementSchema = market.commencementSchemaUID();
        completionSchema = market.completionSchemaUID();
        validationSchema = market.validationSchemaUID();
        fundAccount(address(token), client, 0, DEPOSITED);
        fundAccount(address(token), provider, 0, DEPOSITED);
        (bytes32 dealId,, bytes32 completionUid) = completedDeal(newRequest());
        attestValidation(client, dealId, completionUid, true);
        assertEq(uint8(statusOf(dealId)), uint8(Status.Settled));
    }

    /// Only the missing schemas are registered: one squatted, two registered by the constructor.
    function test_constructor_registersOnlyMissingSchemas() public {
        address next = vm.computeCreateAddress(address(this), vm.getNonce(address(this)));
        string memory completion = market.COMPLETION_SCHEMA();
        vm.prank(stranger);
        registry.register(completion, ISchemaResolver(next), false);

        ComputeMarket squatted = new ComputeMarket(eas, court, COURT_WINDOW);
        assertEq(squatted.completionSchemaUID(), _uid(completion, next));
        SchemaRecord memory commencement = registry.getSchema(squatted.commencementSchemaUID());
        assertEq(commencement.uid, _uid(market.COMMENCEMENT_SCHEMA(), next));
        assertEq(address(commencement.resolver), next);
        assertFalse(commencement.revocable);
        assertEq(registry.getSchema(squatted.validationSchemaUID()).schema, market.VALIDATION_SCHEMA());
    }

    /// The UIDs the constructor computes are the registry's own.
    function test_constructor_uidsMatchTheRegistry() public view {
        ISchemaRegistry reg = registry;
        assertEq(reg.getSchema(commencementSchema).uid, _uid(market.COMMENCEMENT_SCHEMA(), address(market)));
        assertEq(reg.getSchema(completionSchema).uid, _uid(market.COMPLETION_SCHEMA(), address(market)));
        assertEq(reg.getSchema(validationSchema).uid, _uid(market.VALIDATION_SCHEMA(), address(market)));
    }
}
