"""An offline stand-in for an OP-stack testnet: anvil with Base Sepolia's chain id and `--optimism`, with the
EAS predeploys populated the way OP-stack genesis has them (SchemaRegistry at 0x4200..0020, EAS at
0x4200..0021, EAS pointing at that registry).

The artifact's deployedBytecode cannot simply be copied there: EAS keeps the registry address (and its
EIP-712 and version data) in immutables, filled in at construction. So both are deployed normally, EAS
with the predeploy registry address as its constructor argument, and the resulting runtime code is
copied to the predeploy addresses.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path

from eth_abi import decode, encode
from eth_utils import keccak

from agents.deploy.system import eas_artifact
from agents.chain.anvil import Anvil

ROOT = Path(__file__).resolve().parent.parent
BASE_SEPOLIA = 84532
REGISTRY = "0x4200000000000000000000000000000000000020"
EAS = "0x4200000000000000000000000000000000000021"
ANVIL_KEYS = [  # anvil's first default accounts (the "test test ... junk" mnemonic)
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
]
HELPER = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"  # anvil account 9: deploys the originals


@contextmanager
def producing_blocks(node: Anvil, interval: float = 0.3):
    """Blocks keep coming, as on a live L2 (Base: every 2 s), while anvil itself only mines on demand: Ape
    waits for 2 confirmations on live networks, which an idle automining anvil would never give."""
    stop = threading.Event()

    def mine():
        while not stop.wait(interval):
            try:
                node.rpc("evm_mine")
            except OSError:
                return

    thread = threading.Thread(target=mine, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _initcode(name: str, *args) -> bytes:
    ct = eas_artifact(name)
    code = bytes.fromhex(ct.deployment_bytecode.bytecode[2:])
    types = [i.canonical_type for i in ct.constructor.inputs] if ct.constructor else []
    return code + (encode(types, list(args)) if types else b"")


def populate_eas_predeploys(node: Anvil) -> None:
    """Put SchemaRegistry and EAS at the OP-stack predeploy addresses, then prove they work there."""
    registry = node.transact(HELPER, _initcode("SchemaRegistry"))["contractAddress"]
    node.rpc("anvil_setCode", [REGISTRY, node.rpc("eth_getCode", [registry, "latest"])])
    eas = node.transact(HELPER, _initcode("EAS", REGISTRY))["contractAddress"]
    node.rpc("anvil_setCode", [EAS, node.rpc("eth_getCode", [eas, "latest"])])

    # register(string,address,bool) at the predeploy registry, then attest with it at the predeploy EAS
    schema = "uint256 probe"
    node.transact(HELPER, keccak(text="register(string,address,bool)")[:4]
                  + encode(["string", "address", "bool"], [schema, "0x" + "00" * 20, True]), to=REGISTRY)
    uid = keccak(encode_packed_schema(schema))
    request = (uid, ("0x" + "11" * 20, 0, True, b"\x00" * 32, encode(["uint256"], [7]), 0))
    receipt = node.transact(HELPER, keccak(text="attest((bytes32,(address,uint64,bool,bytes32,bytes,uint256)))")[:4]
                            + encode(["(bytes32,(address,uint64,bool,bytes32,bytes,uint256))"], [request]), to=EAS)
    attested = [log for log in receipt["logs"] if log["address"].lower() == EAS.lower()]
    assert attested, "EAS at the predeploy address emitted no Attested event"
    attestation_uid = bytes.fromhex(attested[0]["data"][2:66])
    call = keccak(text="getAttestation(bytes32)")[:4] + attestation_uid
    raw = bytes.fromhex(node.rpc("eth_call", [{"to": EAS, "data": "0x" + call.hex()}, "latest"])[2:])
    (record,) = decode(["(bytes32,bytes32,uint64,uint64,uint64,bytes32,address,address,bool,bytes)"], raw)
    assert record[1] == uid and record[9] == encode(["uint256"], [7])
    registry_of_eas = node.rpc("eth_call", [{"to": EAS, "data": "0x" + keccak(text="getSchemaRegistry()")[:4].hex()},
                                            "latest"])
    assert int(registry_of_eas, 16) == int(REGISTRY, 16)


def encode_packed_schema(schema: str, resolver: str = "0x" + "00" * 20, revocable: bool = True) -> bytes:
    """abi.encodePacked(schema, resolver, revocable): what SchemaRegistry hashes into a schema UID."""
    return schema.encode() + bytes.fromhex(resolver[2:]) + (b"\x01" if revocable else b"\x00")


def base_sepolia_standin() -> Anvil:
    node = Anvil("--chain-id", str(BASE_SEPOLIA), "--optimism", "--silent")
    try:
        populate_eas_predeploys(node)
    except BaseException:
        node.stop()
        raise
    return node


def ape_environment(data_folder: Path, deployments: Path, **extra: str) -> dict:
    """Environment for `ape run` subprocesses: the project's toolchain first on PATH, a private Ape data
    folder (its accounts) and a private deployments folder."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(ROOT / "tools" / "solc"), str(ROOT / "node_modules" / ".bin"),
                                   str(ROOT / ".venv" / "bin"), env.get("PATH", "")])
    env["SOLCX_BINARY_PATH"] = str(ROOT / "tools" / "solc" / "solcx")
    env["APE_DATA_FOLDER"] = str(data_folder)
    env["COMPUTE_MARKET_DEPLOYMENTS_DIR"] = str(deployments)
    env.update(extra)
    return env
