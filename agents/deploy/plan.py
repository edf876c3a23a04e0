"""Deploying the marketplace to a live chain (an L2 testnet, or any node that outlives the command):
plan, execute and record, resumable at any point.

The deployments file, `deployments/<network>.json`, is the record of one chain. It names every contract
the market uses (address, transaction, block, constructor arguments, a hash of the compiled runtime code,
`version()` where the contract has one), the schema UIDs the market registered, and a `deployment` object
with exactly what `agents.runtime.connection.Deployment` needs, so that agents and simulations load it directly.

Every step is idempotent. A recorded contract is reused only if its compiled code is unchanged, its
constructor arguments still hold and the chain really has that code at that address; otherwise it is
deployed again (and so is everything built on it). A transaction is signed first and written to the file
as `pending` (its hash, nonce, predicted address and signed bytes) before it is broadcast, and the
receipt is recorded as soon as it arrives: a run killed or cut off at any point is resumed by running
again, which confirms, or re-sends byte for byte, the pending transaction instead of sending a new one.
The same nonce can only be mined once, so a resume never duplicates a contract.

Where the EAS npm package lists a deployment for the chain id (OP-stack predeploys at 0x4200..0020/21 on
Base and OP, regular contracts on Arbitrum and others) those canonical EAS and SchemaRegistry are used;
elsewhere both are deployed from the package's compiled artifacts.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any, Callable

import rlp
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from agents.chain.abi import EAS_PACKAGE, REPO_ROOT
from agents.deploy.system import eas_artifact
from agents.runtime.connection import Deployment

FORMAT = 1
DEPLOYMENTS_DIR = REPO_ROOT / "deployments"
# Tests (and anyone keeping records elsewhere) point this at another folder.
DEPLOYMENTS_DIR_ENV = "COMPUTE_MARKET_DEPLOYMENTS_DIR"
# Test hook: SIGKILL this process right after its N-th broadcast, before the receipt is recorded.
KILL_AFTER_SEND_ENV = "COMPUTE_MARKET_DEPLOY_KILL_AFTER_SEND"

TEST_TOKEN_ARGS = ("Test USD", "tUSD", 18)
GAS_PRICE_ORACLE = "0x420000000000000000000000000000000000000F"  # OP-stack predeploy: L1 data fee
SCHEMA_GETTERS = {
    "commencement": "commencementSchemaUID()",
    "completion": "completionSchemaUID()",
    "validation": "validationSchemaUID()",
}
# How nodes say a re-sent transaction is already in their mempool.
IN_FLIGHT = ("already known", "already imported", "known transaction", "already exists", "alreadyknown")


class DeployError(Exception):
    """Bad input or an unexpected chain: reported as is, after changing nothing."""


# --- where records live -----------------------------------------------------------------------------


def deployments_dir() -> Path:
    return Path(os.environ.get(DEPLOYMENTS_DIR_ENV) or DEPLOYMENTS_DIR)


def network_file_name(ecosystem: str, network: str, chain_id: int) -> str:
    """`base-sepolia`, `optimism-sepolia`, `arbitrum-sepolia`, `sepolia`; local and ad-hoc networks carry
    their chain id, since many unrelated chains share those names."""
    name = network if ecosystem == "ethereum" else f"{ecosystem}-{network}"
    if network in ("local", "custom") or network.startswith("local"):
        name = f"{name}-{chain_id}"
    return name


def deployments_path(ecosystem: str, network: str, chain_id: int) -> Path:
    return deployments_dir() / f"{network_file_name(ecosystem, network, chain_id)}.json"


def deployments_path_for(provider) -> Path:
    """The deployments file of the network an Ape provider is connected to."""
    net = provider.network
    return deployments_path(net.ecosystem.name, net.name, node_chain_id(provider))


def node_chain_id(provider) -> int:
    """The chain id the node reports. Ape's own `provider.chain_id` is the configured one, which for
    `ethereum:local:<url>` is 1337 whatever the node is (anvil: 31337)."""
    return int(provider.make_request("eth_chainId", []), 16)


@cache
def canonical_eas() -> dict[int, dict[str, str]]:
    """chain id -> {"network", "EAS", "SchemaRegistry"} from the EAS package's deployments folder."""
    found: dict[int, dict[str, str]] = {}
    for folder in sorted((EAS_PACKAGE / "deployments").glob("*/")):
        chain_file = folder / ".chainId"
        if not chain_file.exists():
            continue
        try:
            entry = {"network": folder.name}
            for name in ("EAS", "SchemaRegistry"):
                entry[name] = to_checksum_address(json.loads((folder / f"{name}.json").read_text())["address"])
        except (OSError, KeyError, ValueError):
            continue  # a network without both contracts is not a usable EAS deployment
        found[int(chain_file.read_text().strip())] = entry
    return found


# --- contracts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    name: str
    contract_type: Any  # ethpm_types.ContractType
    source: str  # where the code comes from, recorded as the contract's provenance

    @property
    def runtime(self) -> bytes:
        return bytes.fromhex(self.contract_type.runtime_bytecode.bytecode.removeprefix("0x"))

    @property
    def code_hash(self) -> str:
        return "0x" + keccak(self.runtime).hex()


@cache
def _eas_package_version() -> str:
    return json.loads((EAS_PACKAGE / "package.json").read_text())["version"]


def artifact(name: str) -> Artifact:
    if name in ("EAS", "SchemaRegistry"):
        package = f"@ethereum-attestation-service/eas-contracts@{_eas_package_version()}"
        return Artifact(name, eas_artifact(name), package)
    from ape import project  # compiles contracts/ on first use

    return Artifact(name, getattr(project, name).contract_type, "contracts/")


def immutable_offsets(code: bytes) -> list[int]:
    """Where solc left a zero PUSH32 operand in runtime code: immutables, filled in at construction."""
    zero = bytes(32)
    return [i + 1 for i in range(len(code) - 32) if code[i] == 0x7F and code[i + 1 : i + 33] == zero]


def code_matches(onchain: bytes, compiled: bytes) -> bool:
    """Whether code read from the chain is this compiled runtime code, immutables aside."""
    if not onchain or len(onchain) != len(compiled):
        return False
    a, b = bytearray(onchain), bytearray(compiled)
    for offset in immutable_offsets(compiled):
        a[offset : offset + 32] = b[offset : offset + 32]
    return a == b


def create_address(sender: str, nonce: int) -> str:
    """The address a contract created by `sender`'s transaction with this nonce gets (CREATE)."""
    return to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


def _eas_stub(registry: str) -> str:
    """Runtime code answering every call with `registry`: enough of EAS for the market's constructor
    (it only asks for the registry) when estimating gas before EAS exists."""
    return "0x73" + registry[2:].lower() + "60005260206000f3"


# --- the chain, through any JSON-RPC request function -------------------------------------------------


class Chain:
    """The few JSON-RPC calls deployment needs, over `request(method, params) -> result` (Ape's
    `provider.make_request`, or any other client)."""

    def __init__(self, request: Callable[[str, list], Any], poll_interval: float = 0.2):
        self.request = request
        self.poll_interval = poll_interval

    def chain_id(self) -> int:
        return int(self.request("eth_chainId", []), 16)

    def code(self, address: str) -> bytes:
        return bytes.fromhex(_hex(self.request("eth_getCode", [address, "latest"])).removeprefix("0x"))

    def nonce(self, address: str, block: str = "latest") -> int:
        return int(_hex(self.request("eth_getTransactionCount", [address, block])), 16)

    def balance(self, address: str) -> int:
        return int(_hex(self.request("eth_getBalance", [address, "latest"])), 16)

    def gas_price(self) -> int:
        return int(_hex(self.request("eth_gasPrice", [])), 16)

    def base_fee(self) -> int | None:
        block = self.request("eth_getBlockByNumber", ["latest", False])
        fee = block.get("baseFeePerGas") if block else None
        return int(_hex(fee), 16) if fee is not None else None

    def block_number(self) -> int:
        return int(_hex(self.request("eth_blockNumber", [])), 16)

    def call(self, to: str, signature: str, types: list[str] | None = None, args: list | None = None,
             returns: list[str] | None = None):
        data = keccak(text=signature)[:4] + (abi_encode(types, args) if types else b"")
        raw = bytes.fromhex(_hex(self.request("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"]))[2:])
        return abi_decode(returns, raw) if returns else raw

    def estimate_gas(self, sender: str, data: bytes, overrides: dict | None = None) -> int:
        params: list = [{"from": sender, "data": "0x" + data.hex()}, "latest"]
        if overrides:
            params.append(overrides)
        return int(_hex(self.request("eth_estimateGas", params)), 16)

    def receipt(self, tx_hash: str) -> dict | None:
        return self.request("eth_getTransactionReceipt", [tx_hash]) or None

    def transaction(self, tx_hash: str) -> dict | None:
        return self.request("eth_getTransactionByHash", [tx_hash]) or None

    def send_raw(self, raw: str) -> None:
        self.request("eth_sendRawTransaction", [raw])

    def wait_receipt(self, tx_hash: str, timeout: float, confirmations: int = 0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            receipt = self.receipt(tx_hash)
            if receipt is not None and self.block_number() >= int(_hex(receipt["blockNumber"]), 16) + confirmations:
                return receipt
            if time.monotonic() > deadline:
                raise DeployError(f"transaction {tx_hash} not mined after {timeout:.0f} s; it stays recorded as "
                                  "pending: run the command again to keep waiting for it (or re-send it)")
            time.sleep(self.poll_interval)


def _hex(value) -> str:
    """JSON-RPC results arrive as hex strings, or as bytes/ints from some clients."""
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


# --- the record ---------------------------------------------------------------------------------------


@dataclass
class Record:
    """The deployments file of one chain, held in memory and written back after every change."""

    path: Path
    data: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, chain_id: int, network: str) -> "Record":
        path = Path(path)
        if not path.exists():
            return cls(path, {"format": FORMAT, "chain_id": chain_id, "network": network, "contracts": {},
                              "schemas": {}, "token": None, "pending": None, "deployment": None})
        try:
            data = json.loads(path.read_text())
        except ValueError as error:
            raise DeployError(f"{path} is not valid JSON ({error}); fix or move it away") from error
        if not isinstance(data, dict) or data.get("format") != FORMAT or "contracts" not in data:
            raise DeployError(f"{path} is not a deployments file of format {FORMAT}; fix or move it away")
        if data.get("chain_id") != chain_id:
            raise DeployError(f"{path} records chain id {data.get('chain_id')}, but the node is chain {chain_id}: "
                              "wrong --network or RPC URL?")
        return cls(path, data)

    @property
    def contracts(self) -> dict:
        return self.data["contracts"]

    def address(self, name: str) -> str | None:
        entry = self.contracts.get(name)
        return entry["address"] if entry else None

    def save(self) -> None:
        """Atomically: a kill mid-write leaves the previous complete file."""
        self.data["updated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        with open(temporary, "w") as handle:
            handle.write(json.dumps(self.data, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)


def to_deployment(data: dict) -> Deployment:
    """The `Deployment` agents use, from a deployments file's content (`Deployment.load(path)` reads the
    file itself)."""
    return Deployment.from_json(json.dumps(data))


# --- planning -----------------------------------------------------------------------------------------


@dataclass
class Step:
    name: str
    action: str  # canonical | reuse | deploy
    address: str  # the existing address, or the one a deployment will create
    reason: str = ""
    args: tuple = ()
    nonce: int | None = None
    version: str | None = None
    gas: int | None = None
    l1_fee: int | None = None
    estimate_note: str = ""


@dataclass
class Plan:
    chain_id: int
    deployer: str
    steps: list[Step]
    pending: dict | None
    token: str | None  # the payment token, when it is an external one

    @property
    def deploys(self) -> list[Step]:
        return [s for s in self.steps if s.action == "deploy"]


def _constructor_args(name: str, addresses: dict[str, str]) -> tuple:
    if name == "EAS":
        return (addresses["SchemaRegistry"],)
    if name == "ComputeMarket":
        return (addresses["EAS"],)
    if name == "TestToken":
        return TEST_TOKEN_ARGS
    return ()


def _version(chain: Chain, address: str) -> str | None:
    try:
        return chain.call(address, "version()", returns=["string"])[0]
    except Exception:  # noqa: BLE001 - a contract without version() simply has none to record
        return None


def uses_test_token(record: Record, with_test_token: bool, token: str | None) -> bool:
    """Asked for, or already the payment token: a test token once deployed stays part of the deployment
    until another token is named."""
    if with_test_token:
        return True
    recorded = record.data.get("token")
    return token is None and "TestToken" in record.contracts and recorded in (None, record.address("TestToken"))


def targets(record: Record, with_test_token: bool, token: str | None) -> list[str]:
    names = ["SchemaRegistry", "EAS", "ComputeMarket"]
    return names + ["TestToken"] if uses_test_token(record, with_test_token, token) else names


def plan(chain: Chain, record: Record, deployer: str, *, with_test_token: bool = False,
         token: str | None = None) -> Plan:
    """What a run would do, read from the chain and the record; changes nothing."""
    deployer = to_checksum_address(deployer)
    chain_id = chain.chain_id()
    canonical = canonical_eas().get(chain_id)
    nonce = chain.nonce(deployer)
    pending = record.data.get("pending")
    state = pending_state(chain, pending, lag_seconds=0) if pending else None
    if state == "waiting" and pending["sender"] == deployer:
        nonce = max(nonce, pending["nonce"] + 1)  # that nonce stays with the pending transaction
    addresses: dict[str, str] = {}
    steps: list[Step] = []
    redeployed: set[str] = set()
    for name in targets(record, with_test_token, token):
        args = _constructor_args(name, addresses)
        if canonical and name in ("EAS", "SchemaRegistry"):
            step = _canonical_step(chain, name, canonical)
        elif state in ("mined", "waiting") and pending["name"] == name and pending["args"] == _jsonable(args):
            step = Step(name, "pending", pending["address"], args=args,
                        reason=f"transaction {pending['tx_hash']} {state}: recorded, not sent again")
        else:
            step = _own_step(chain, record, name, args, redeployed)
            if step.action == "deploy":
                step.nonce, step.address = nonce, create_address(deployer, nonce)
                nonce += 1
                redeployed.add(name)
        addresses[name] = step.address
        steps.append(step)
    return Plan(chain_id, deployer, steps, pending, token)


def pending_state(chain: Chain, pending: dict, lag_seconds: float = 10.0) -> str:
    """mined | reverted | waiting (in the mempool, still being indexed, or lost and to be re-sent) |
    replaced (its nonce went to another transaction, which created nothing at the predicted address).

    Nodes (and load-balanced RPC endpoints above all) can show the new nonce before the receipt, so a
    consumed nonce alone never counts as replaced: only after `lag_seconds` without any trace of the
    transaction, and no contract at the address it would have created."""
    deadline = time.monotonic() + lag_seconds
    while True:
        receipt = chain.receipt(pending["tx_hash"])
        if receipt is not None:
            return "mined" if int(_hex(receipt["status"]), 16) == 1 else "reverted"
        if chain.nonce(pending["sender"]) <= pending["nonce"] or chain.transaction(pending["tx_hash"]) is not None:
            return "waiting"
        if code_matches(chain.code(pending["address"]), artifact(pending["name"]).runtime):
            return "waiting"  # created: the receipt is only lagging
        if time.monotonic() > deadline:
            return "replaced"
        time.sleep(chain.poll_interval)


def _canonical_step(chain: Chain, name: str, canonical: dict) -> Step:
    address = canonical[name]
    if not chain.code(address):
        raise DeployError(
            f"the EAS package lists {name} at {address} for chain {chain.chain_id()} ({canonical['network']}), but "
            "there is no code there: is this RPC really that network?")
    if name == "EAS":
        registry = to_checksum_address(chain.call(address, "getSchemaRegistry()", returns=["address"])[0])
        if registry != canonical["SchemaRegistry"]:
            raise DeployError(f"EAS at {address} uses SchemaRegistry {registry}, not the canonical "
                              f"{canonical['SchemaRegistry']}")
    return Step(name, "canonical", address, reason=f"EAS package: {canonical['network']}",
                version=_version(chain, address))


def _own_step(chain: Chain, record: Record, name: str, args: tuple, redeployed: set[str]) -> Step:
    art = artifact(name)
    entry = record.contracts.get(name)
    if entry is None or entry.get("source") == "canonical":
        return Step(name, "deploy", "", reason="not deployed yet", args=args)
    if entry.get("code_hash") != art.code_hash:
        return Step(name, "deploy", "", reason="its compiled code changed", args=args)
    if list(entry.get("args", [])) != _jsonable(args):
        changed = ", ".join(sorted(redeployed)) or "a dependency"
        return Step(name, "deploy", "", reason=f"{changed} changed", args=args)
    if not code_matches(chain.code(entry["address"]), art.runtime):
        return Step(name, "deploy", "", reason="the chain has no matching code at the recorded address", args=args)
    return Step(name, "reuse", entry["address"], args=args, version=entry.get("version"))


def _jsonable(args: tuple) -> list:
    return [a if isinstance(a, (int, str)) else str(a) for a in args]


# --- estimating -----------------------------------------------------------------------------------------


def initcode(name: str, args: tuple) -> bytes:
    ct = artifact(name).contract_type
    code = bytes.fromhex(ct.deployment_bytecode.bytecode.removeprefix("0x"))
    inputs = ct.constructor.inputs if ct.constructor else []
    if not inputs:
        return code
    return code + abi_encode([i.canonical_type for i in inputs], list(args))


def estimate(chain: Chain, the_plan: Plan) -> dict:
    """Gas of every planned deployment (eth_estimateGas; contracts this plan has yet to deploy are put in
    place with a state override) and its cost at the node's current gas price."""
    gas_price = chain.gas_price()
    oracle = bool(chain.code(GAS_PRICE_ORACLE))  # OP-stack chains also charge for L1 data
    planned = {s.name: s.address for s in the_plan.deploys}
    overrides = {}
    if "SchemaRegistry" in planned:
        overrides[planned["SchemaRegistry"]] = {"code": "0x" + artifact("SchemaRegistry").runtime.hex()}
    if "EAS" in planned:
        registry = next(s.address for s in the_plan.steps if s.name == "SchemaRegistry")
        overrides[planned["EAS"]] = {"code": _eas_stub(registry)}
    for step in the_plan.deploys:
        data = initcode(step.name, step.args)
        needs = {"ComputeMarket": ("EAS", "SchemaRegistry")}.get(step.name, ())
        wanted = {address: o for address, o in overrides.items() if address in {planned.get(n) for n in needs}}
        if wanted:  # created at its planned address, not on top of the contracts simulated before it
            wanted[the_plan.deployer] = {"nonce": hex(step.nonce)}
        try:
            step.gas = chain.estimate_gas(the_plan.deployer, data, wanted or None)
            if wanted:
                step.estimate_note = "with planned contracts simulated in place"
        except Exception as error:  # noqa: BLE001 - reported in the table; nothing is sent in a dry run
            step.estimate_note = f"estimate failed: {str(error)[:80]}"
        if oracle:
            try:
                step.l1_fee = chain.call(GAS_PRICE_ORACLE, "getL1Fee(bytes)", ["bytes"], [data], ["uint256"])[0]
            except Exception:  # noqa: BLE001 - an OP-stack oracle of another version: no L1 figure
                step.l1_fee = None
    gas = sum(s.gas or 0 for s in the_plan.deploys)
    l1 = sum(s.l1_fee or 0 for s in the_plan.deploys)
    return {"gas_price": gas_price, "base_fee": chain.base_fee(), "gas": gas, "l1_fee": l1,
            "cost": gas * gas_price + l1, "balance": chain.balance(the_plan.deployer)}


# --- executing ------------------------------------------------------------------------------------------


class _Lock:
    """One deployment run per records folder at a time: two concurrent runs would both deploy."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(folder, os.O_RDONLY)

    def __enter__(self):
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            os.close(self.fd)
            raise DeployError("another deployment is running against this deployments folder") from error
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


@dataclass
class Signer:
    """What execution needs from an account: its address and a way to turn (nonce, initcode) into a
    signed raw transaction and its hash."""

    address: str
    sign_deployment: Callable[[int, bytes], tuple[str, str]]  # (nonce, initcode) -> (raw hex, tx hash)


def execute(chain: Chain, record: Record, signer: Signer, *, with_test_token: bool = False,
            token: str | None = None, timeout: float = 600.0, confirmations: int = 0,
            log: Callable[[str], None] = print) -> list[Step]:
    """Carry out the plan one transaction at a time, recording after each. Returns the final steps, each
    with what this run did to it: deployed, resumed (a pending transaction of an earlier run), or the
    planned action (canonical, reuse)."""
    plan(chain, record, signer.address, with_test_token=with_test_token, token=token)  # refuses a bad chain first
    with _Lock(record.path.parent):
        done: dict[str, str] = {}
        if resumed := _settle_pending(chain, record, timeout, confirmations, log):
            done[resumed] = "resumed"
        sent = 0
        while True:
            # Planned again after every transaction: later constructor arguments come from earlier receipts.
            current = plan(chain, record, signer.address, with_test_token=with_test_token, token=token)
            for step in current.steps:
                if step.action != "deploy":
                    _record_existing(chain, record, step)
            todo = current.deploys
            if not todo:
                break
            step = todo[0]
            # The mined nonce, not the mempool's: a transaction of ours still in flight somewhere then
            # competes with this one for the same nonce and address, and only one of them can be mined.
            nonce = chain.nonce(signer.address)
            address = create_address(signer.address, nonce)
            log(f"deploying {step.name} ({step.reason}) at {address}")
            raw, tx_hash = signer.sign_deployment(nonce, initcode(step.name, step.args))
            record.data["pending"] = {"name": step.name, "sender": signer.address, "nonce": nonce, "address": address,
                                      "args": _jsonable(step.args), "tx_hash": tx_hash, "raw": raw}
            record.save()
            try:
                chain.send_raw(raw)
            except Exception as error:  # noqa: BLE001 - any failure: the record already holds the transaction
                raise DeployError(f"sending {step.name} failed ({error}); it is recorded as pending: run the command "
                                  "again to re-send it (or, if the node refuses it, to sign it anew with the same "
                                  "nonce)") from error
            sent += 1
            if os.environ.get(KILL_AFTER_SEND_ENV) == str(sent):
                os.kill(os.getpid(), signal.SIGKILL)
            done[_settle_pending(chain, record, timeout, confirmations, log, resend=False)] = "deployed"
        test_token = uses_test_token(record, with_test_token, token)
        _finish(chain, record, token if token else (record.address("TestToken") if test_token
                                                    else record.data.get("token")))
        for step in current.steps:
            step.action = done.get(step.name, step.action)
        return current.steps


def _settle_pending(chain: Chain, record: Record, timeout: float, confirmations: int, log,
                    resend: bool = True) -> str | None:
    """Bring a transaction recorded as pending (by this run or a killed one) to an end, and record it.
    Returns the name of the contract it deployed."""
    pending = record.data.get("pending")
    if not pending:
        return None
    # Just sent by this run: nothing to decide, only a receipt to wait for.
    state = pending_state(chain, pending) if resend else "waiting"
    if state == "replaced":
        log(f"pending {pending['name']} transaction {pending['tx_hash']} was replaced; deploying anew")
        record.data["pending"] = None
        record.save()
        return None
    if state == "waiting" and resend:
        try:
            chain.send_raw(pending["raw"])  # the same signed bytes: the same transaction, never a second one
        except Exception as error:  # noqa: BLE001 - the node's reason decides, below
            state = pending_state(chain, pending)
            if state == "waiting" and not any(m in str(error).lower() for m in IN_FLIGHT):
                # Refused (underpriced, say) and not mined: a new transaction takes its place with the same
                # nonce, so at most one of the two can ever be mined.
                log(f"the node refuses the recorded {pending['name']} transaction ({error}); signing a new one")
                record.data["pending"] = None
                record.save()
                return None
    if confirmations:
        log(f"waiting for {pending['name']} transaction {pending['tx_hash']} and {confirmations} confirmation(s)")
    receipt = chain.wait_receipt(pending["tx_hash"], timeout, confirmations)
    if int(_hex(receipt["status"]), 16) != 1:
        record.data["pending"] = None
        record.data.setdefault("failed", []).append({k: pending[k] for k in ("name", "tx_hash", "nonce")})
        record.save()
        raise DeployError(f"deploying {pending['name']} reverted (transaction {pending['tx_hash']}); recorded as "
                          "failed, nothing else was sent")
    art = artifact(pending["name"])
    address = to_checksum_address(receipt["contractAddress"])
    record.contracts[pending["name"]] = {
        "address": address, "source": art.source, "tx_hash": pending["tx_hash"],
        "block": int(_hex(receipt["blockNumber"]), 16), "deployer": pending["sender"], "nonce": pending["nonce"],
        "gas_used": int(_hex(receipt["gasUsed"]), 16), "args": pending["args"], "code_hash": art.code_hash,
        # Semver of EAS's own contracts; ours are identified by code_hash (the market's version() would
        # be that of its EAS resolver base).
        "version": _version(chain, address) if art.source != "contracts/" else None,
    }
    record.data["pending"] = None
    record.save()
    log(f"{pending['name']} at {address} (block {record.contracts[pending['name']]['block']})")
    return pending["name"]


def _record_existing(chain: Chain, record: Record, step: Step) -> None:
    if step.action == "canonical" and record.contracts.get(step.name, {}).get("address") != step.address:
        record.contracts[step.name] = {"address": step.address, "source": "canonical", "note": step.reason,
                                       "version": step.version}
        record.save()


def _finish(chain: Chain, record: Record, payment: str | None) -> None:
    """Schemas read back from the market and checked in the registry, and the `deployment` object (with
    `payment` as the market's token; none without one)."""
    market = record.address("ComputeMarket")
    registry = record.address("SchemaRegistry")
    schemas = {}
    for kind, getter in SCHEMA_GETTERS.items():
        uid = chain.call(market, getter, returns=["bytes32"])[0]
        found, resolver, revocable, text = chain.call(registry, "getSchema(bytes32)", ["bytes32"], [uid],
                                                      ["(bytes32,address,bool,string)"])[0]
        if found != uid or to_checksum_address(resolver) != market:
            raise DeployError(f"the {kind} schema {uid.hex()} is not registered with the market as resolver")
        schemas[kind] = {"uid": "0x" + uid.hex(), "schema": text, "revocable": revocable}
    payment = to_checksum_address(payment) if payment else None
    deployment = None
    if payment:
        deployment = Deployment(
            chain_id=record.data["chain_id"], market=market, eas=record.address("EAS"), registry=registry,
            token=payment, block=record.contracts["ComputeMarket"]["block"],
            commencement_schema=schemas["commencement"]["uid"], completion_schema=schemas["completion"]["uid"],
            validation_schema=schemas["validation"]["uid"],
        )
    new = {"schemas": schemas, "token": payment, "deployment": asdict(deployment) if deployment else None}
    if any(record.data.get(k) != v for k, v in new.items()):
        record.data.update(new)
        record.save()


# --- Ape adapters -----------------------------------------------------------------------------------------


def ape_chain(provider) -> Chain:
    return Chain(provider.make_request)


def ape_signer(account, provider) -> Signer:
    """Signs deployments with an Ape account (keyfile: unlocked once from APE_ACCOUNTS_<alias>_PASSPHRASE
    when set, otherwise Ape prompts as usual)."""
    alias = getattr(account, "alias", None)
    passphrase = os.environ.get(f"APE_ACCOUNTS_{alias}_PASSPHRASE") if alias else None
    if passphrase and hasattr(account, "set_autosign"):
        account.set_autosign(True, passphrase=passphrase)  # non-interactive: no prompt per transaction

    chain_id = node_chain_id(provider)

    def sign(nonce: int, data: bytes) -> tuple[str, str]:
        txn = provider.network.ecosystem.create_transaction(sender=account.address, nonce=nonce, data=data,
                                                            chain_id=chain_id)
        txn = account.prepare_transaction(txn)  # gas limit and fees from the node; refuses if underfunded
        txn.chain_id = chain_id  # Ape's preparation puts its configured id (1337 on `ethereum:local:<url>`)
        signed = account.sign_transaction(txn)
        if signed is None:
            raise DeployError("the transaction was not signed; nothing was sent")
        return "0x" + signed.serialize_transaction().hex(), "0x" + bytes(signed.txn_hash).hex()

    return Signer(to_checksum_address(account.address), sign)


def is_ephemeral(provider) -> bool:
    """A node Ape started for this command (the embedded local anvil, a `*-fork` network): it and whatever
    is deployed on it are gone when the command ends."""
    return getattr(provider, "process", None) is not None
