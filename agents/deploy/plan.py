"""Deploying the marketplace to a live chain (an L2 testnet, or any node that outlives the command):
plan, execute and record, resumable at any point.

The deployments file, `deployments/<network>.json`, is the record of one chain. It names every contract
the market uses (address, transaction, block, constructor arguments, a hash of the compiled runtime code,
`version()` where the contract has one), the schema UIDs the market registered, and a `deployment` object
with exactly what `agents.deploy.addresses.Deployment` needs (the market's court and court window included),
so that agents and simulations load it directly.

The market's court (the top of its appeal chain, which every user of the deployment must trust) and the
court's window are constructor arguments: naming another court deploys another market.

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

import time
from dataclasses import dataclass

from eth_utils import to_checksum_address

from agents.chain.sync import SyncClient, as_int
from agents.deploy.contracts import (
    TEST_TOKEN_ARGS,
    artifact,
    canonical_eas,
    code_matches,
    create_address,
    eas_stub,
    initcode,
)
from agents.deploy.record import DeployError, Record
from agents.deploy.system import DEFAULT_COURT_WINDOW

GAS_PRICE_ORACLE = "0x420000000000000000000000000000000000000F"  # OP-stack predeploy: L1 data fee


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


@dataclass(frozen=True)
class Court:
    """The market's court and the seconds it has to rule (constructor arguments of the market)."""

    address: str
    window: int


@dataclass
class Plan:
    chain_id: int
    deployer: str
    steps: list[Step]
    pending: dict | None
    token: str | None  # the payment token, when it is an external one
    court: Court

    @property
    def deploys(self) -> list[Step]:
        return [s for s in self.steps if s.action == "deploy"]


def _constructor_args(name: str, addresses: dict[str, str], court: Court) -> tuple:
    if name == "EAS":
        return (addresses["SchemaRegistry"],)
    if name == "ComputeMarket":
        return (addresses["EAS"], court.address, court.window)
    if name == "TestToken":
        return TEST_TOKEN_ARGS
    return ()


def contract_version(chain: SyncClient, address: str) -> str | None:
    try:
        return chain.call_function(address, "version()", returns=["string"])[0]
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


def choose_court(record: Record, deployer: str, court: str | None, court_window: int | None) -> Court:
    """The court asked for; what is not asked for stays as the recorded market has it (a rerun must not replace
    the court by accident), and a first deployment's court is the deployer, with the default window."""
    args = record.contracts.get("ComputeMarket", {}).get("args", [])
    _, recorded_court, recorded_window = args if len(args) == 3 else (None, None, None)
    address = court or recorded_court or deployer
    return Court(to_checksum_address(address), court_window or recorded_window or DEFAULT_COURT_WINDOW)


def plan(chain: SyncClient, record: Record, deployer: str, *, with_test_token: bool = False,
         token: str | None = None, court: str | None = None, court_window: int | None = None) -> Plan:
    """What a run would do, read from the chain and the record; changes nothing."""
    deployer = to_checksum_address(deployer)
    the_court = choose_court(record, deployer, court, court_window)
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
        args = _constructor_args(name, addresses, the_court)
        if canonical and name in ("EAS", "SchemaRegistry"):
            step = _canonical_step(chain, name, canonical)
        elif state in ("mined", "waiting") and pending["name"] == name and pending["args"] == jsonable_args(args):
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
    return Plan(chain_id, deployer, steps, pending, token, the_court)


def pending_state(chain: SyncClient, pending: dict, lag_seconds: float = 10.0) -> str:
    """mined | reverted | waiting (in the mempool, still being indexed, or lost and to be re-sent) |
    replaced (its nonce went to another transaction, which created nothing at the predicted address).

    Nodes (and load-balanced RPC endpoints above all) can show the new nonce before the receipt, so a
    consumed nonce alone never counts as replaced: only after `lag_seconds` without any trace of the
    transaction, and no contract at the address it would have created."""
    deadline = time.monotonic() + lag_seconds
    while True:
        receipt = chain.receipt(pending["tx_hash"])
        if receipt is not None:
            return "mined" if as_int(receipt["status"]) == 1 else "reverted"
        if chain.nonce(pending["sender"]) <= pending["nonce"] or chain.transaction(pending["tx_hash"]) is not None:
            return "waiting"
        if code_matches(chain.code(pending["address"]), artifact(pending["name"]).runtime):
            return "waiting"  # created: the receipt is only lagging
        if time.monotonic() > deadline:
            return "replaced"
        time.sleep(chain.poll_interval)


def _canonical_step(chain: SyncClient, name: str, canonical: dict) -> Step:
    address = canonical[name]
    if not chain.code(address):
        raise DeployError(
            f"the EAS package lists {name} at {address} for chain {chain.chain_id()} ({canonical['network']}), but "
            "there is no code there: is this RPC really that network?")
    if name == "EAS":
        registry = to_checksum_address(chain.call_function(address, "getSchemaRegistry()", returns=["address"])[0])
        if registry != canonical["SchemaRegistry"]:
            raise DeployError(f"EAS at {address} uses SchemaRegistry {registry}, not the canonical "
                              f"{canonical['SchemaRegistry']}")
    return Step(name, "canonical", address, reason=f"EAS package: {canonical['network']}",
                version=contract_version(chain, address))


def _own_step(chain: SyncClient, record: Record, name: str, args: tuple, redeployed: set[str]) -> Step:
    art = artifact(name)
    entry = record.contracts.get(name)
    if entry is None or entry.get("source") == "canonical":
        return Step(name, "deploy", "", reason="not deployed yet", args=args)
    if entry.get("code_hash") != art.code_hash:
        return Step(name, "deploy", "", reason="its compiled code changed", args=args)
    recorded = list(entry.get("args", []))
    if recorded != jsonable_args(args):
        if name == "ComputeMarket" and recorded[:1] == jsonable_args(args)[:1]:
            reason = "its court or court window changed"
        else:
            reason = f"{', '.join(sorted(redeployed)) or 'a dependency'} changed"
        return Step(name, "deploy", "", reason=reason, args=args)
    if not code_matches(chain.code(entry["address"]), art.runtime):
        return Step(name, "deploy", "", reason="the chain has no matching code at the recorded address", args=args)
    return Step(name, "reuse", entry["address"], args=args, version=entry.get("version"))


def jsonable_args(args: tuple) -> list:
    return [a if isinstance(a, (int, str)) else str(a) for a in args]


def estimate(chain: SyncClient, the_plan: Plan) -> dict:
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
        overrides[planned["EAS"]] = {"code": eas_stub(registry)}
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
                step.l1_fee = chain.call_function(GAS_PRICE_ORACLE, "getL1Fee(bytes)", ["bytes"], [data], ["uint256"])[0]
            except Exception:  # noqa: BLE001 - an OP-stack oracle of another version: no L1 figure
                step.l1_fee = None
    gas = sum(s.gas or 0 for s in the_plan.deploys)
    l1 = sum(s.l1_fee or 0 for s in the_plan.deploys)
    return {"gas_price": gas_price, "base_fee": chain.base_fee(), "gas": gas, "l1_fee": l1,
            "cost": gas * gas_price + l1, "balance": chain.balance(the_plan.deployer)}
