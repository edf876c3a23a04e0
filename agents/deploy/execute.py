"""Carrying out a deployment plan: one transaction at a time, each signed and recorded as pending before
it is broadcast, its receipt recorded as soon as it arrives (see `agents.deploy.plan`); and the adapters
that run it with an Ape provider and account (`ape run deploy`)."""

from __future__ import annotations

import fcntl
import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from eth_utils import to_checksum_address

from agents.chain.sync import SyncClient, TransactionTimeout, as_int
from agents.deploy.addresses import Deployment
from agents.deploy.contracts import artifact, create_address, initcode
from agents.deploy.plan import Step, contract_version, jsonable_args, pending_state, plan, uses_test_token
from agents.deploy.record import DeployError, Record, node_chain_id

# Test hook: SIGKILL this process right after its N-th broadcast, before the receipt is recorded.
KILL_AFTER_SEND_ENV = "COMPUTE_MARKET_DEPLOY_KILL_AFTER_SEND"
SCHEMA_GETTERS = {
    "commencement": "commencementSchemaUID()",
    "completion": "completionSchemaUID()",
    "validation": "validationSchemaUID()",
}
# How nodes say a re-sent transaction is already in their mempool.
IN_FLIGHT = ("already known", "already imported", "known transaction", "already exists", "alreadyknown")


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
class DeploySigner:
    """What execution needs from an account: its address and a way to turn (nonce, initcode) into a
    signed raw transaction and its hash."""

    address: str
    sign_deployment: Callable[[int, bytes], tuple[str, str]]  # (nonce, initcode) -> (raw hex, tx hash)


def execute(chain: SyncClient, record: Record, signer: DeploySigner, *, with_test_token: bool = False,
            token: str | None = None, court: str | None = None, court_window: int | None = None,
            timeout: float = 600.0, confirmations: int = 0, log: Callable[[str], None] = print) -> list[Step]:
    """Carry out the plan one transaction at a time, recording after each. Returns the final steps, each
    with what this run did to it: deployed, resumed (a pending transaction of an earlier run), or the
    planned action (canonical, reuse). `court` and `court_window` as for `agents.deploy.plan.plan`."""
    terms = dict(with_test_token=with_test_token, token=token, court=court, court_window=court_window)
    plan(chain, record, signer.address, **terms)  # refuses a bad chain first
    with _Lock(record.path.parent):
        done: dict[str, str] = {}
        if resumed := _settle_pending(chain, record, timeout, confirmations, log):
            done[resumed] = "resumed"
        sent = 0
        while True:
            # Planned again after every transaction: later constructor arguments come from earlier receipts.
            current = plan(chain, record, signer.address, **terms)
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
                                      "args": jsonable_args(step.args), "tx_hash": tx_hash, "raw": raw}
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


def _settle_pending(chain: SyncClient, record: Record, timeout: float, confirmations: int, log,
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
    try:
        receipt = chain.wait_receipt(pending["tx_hash"], timeout, confirmations)
    except TransactionTimeout as error:
        raise DeployError(f"{error}; it stays recorded as pending: run the command again to keep waiting for it "
                          "(or re-send it)") from error
    if as_int(receipt["status"]) != 1:
        record.data["pending"] = None
        record.data.setdefault("failed", []).append({k: pending[k] for k in ("name", "tx_hash", "nonce")})
        record.save()
        raise DeployError(f"deploying {pending['name']} reverted (transaction {pending['tx_hash']}); recorded as "
                          "failed, nothing else was sent")
    art = artifact(pending["name"])
    address = to_checksum_address(receipt["contractAddress"])
    record.contracts[pending["name"]] = {
        "address": address, "source": art.source, "tx_hash": pending["tx_hash"],
        "block": as_int(receipt["blockNumber"]), "deployer": pending["sender"], "nonce": pending["nonce"],
        "gas_used": as_int(receipt["gasUsed"]), "args": pending["args"], "code_hash": art.code_hash,
        # Semver of EAS's own contracts; ours are identified by code_hash (the market's version() would
        # be that of its EAS resolver base).
        "version": contract_version(chain, address) if art.source != "contracts/" else None,
    }
    record.data["pending"] = None
    record.save()
    log(f"{pending['name']} at {address} (block {record.contracts[pending['name']]['block']})")
    return pending["name"]


def _record_existing(chain: SyncClient, record: Record, step: Step) -> None:
    if step.action == "canonical" and record.contracts.get(step.name, {}).get("address") != step.address:
        record.contracts[step.name] = {"address": step.address, "source": "canonical", "note": step.reason,
                                       "version": step.version}
        record.save()


def _finish(chain: SyncClient, record: Record, payment: str | None) -> None:
    """Schemas and the court read back from the market (the schemas checked in the registry), and the
    `deployment` object (with `payment` as the market's token; none without one)."""
    market = record.address("ComputeMarket")
    registry = record.address("SchemaRegistry")
    schemas = {}
    for kind, getter in SCHEMA_GETTERS.items():
        uid = chain.call_function(market, getter, returns=["bytes32"])[0]
        found, resolver, revocable, text = chain.call_function(registry, "getSchema(bytes32)", ["bytes32"], [uid],
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
        ).with_court(chain)
    new = {"schemas": schemas, "token": payment, "deployment": asdict(deployment) if deployment else None}
    if any(record.data.get(k) != v for k, v in new.items()):
        record.data.update(new)
        record.save()


def ape_chain(provider) -> SyncClient:
    return SyncClient(provider.make_request)


def ape_signer(account, provider) -> DeploySigner:
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

    return DeploySigner(to_checksum_address(account.address), sign)


def is_ephemeral(provider) -> bool:
    """A node Ape started for this command (the embedded local anvil, a `*-fork` network): it and whatever
    is deployed on it are gone when the command ends."""
    return getattr(provider, "process", None) is not None
