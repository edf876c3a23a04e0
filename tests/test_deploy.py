"""`ape run deploy` against an offline stand-in for Base Sepolia (anvil with chain id 84532, `--optimism`
and the EAS predeploys populated as OP-stack genesis has them), through Ape's real network path
(`--network base:sepolia:<url>`) with a keystore account whose passphrase comes from the environment:
it uses the canonical EAS, records everything, deploys nothing the second time, resumes a run killed
between broadcast and receipt without duplicates, redeploys a contract whose code changed, refuses bad
input without touching anything, deploys a new market for a new court (and keeps the recorded court on
reruns), and a simulation then runs on what it deployed; the same on a fork.

Every anvil here is a subprocess of a fixture that kills it when the module ends."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from agents.chain.sync import SyncClient
from agents.deploy.addresses import Deployment
from agents.deploy.contracts import artifact, code_matches, create_address, immutable_offsets
from agents.deploy.execute import KILL_AFTER_SEND_ENV
from agents.deploy.plan import Court, choose_court, pending_state
from agents.deploy.record import Record
from agents.deploy.system import DEFAULT_COURT_WINDOW
from l2_standin import (
    BASE_SEPOLIA,
    EAS,
    REGISTRY,
    ROOT,
    Anvil,
    ape_environment,
    base_sepolia_standin,
    producing_blocks,
)

PASSPHRASE = "stand-in only"
KEYS = {alias: "0x" + keccak(text=f"compute-market {alias}").hex() for alias in ("deployer", "forker")}
ADDRESSES = {alias: Account.from_key(key).address for alias, key in KEYS.items()}
TINY = ROOT / "tests" / "data" / "tiny.yaml"


@pytest.fixture(scope="module")
def ape_data(tmp_path_factory):
    """A private Ape data folder holding keystore accounts, as `ape accounts import` writes them."""
    folder = tmp_path_factory.mktemp("ape-data")
    (folder / "accounts").mkdir()
    for alias, key in KEYS.items():
        # pbkdf2 with few iterations: the default scrypt costs a second per unlock
        keystore = Account.encrypt(key, PASSPHRASE, kdf="pbkdf2", iterations=1000)
        (folder / "accounts" / f"{alias}.json").write_text(json.dumps(keystore))
    return folder


@pytest.fixture(scope="module")
def standin():
    node = base_sepolia_standin()
    try:
        for address in ADDRESSES.values():
            node.rpc("anvil_setBalance", [address, hex(10**20)])
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def fork(standin):
    node = Anvil("--fork-url", standin.url, "--optimism", "--silent")
    try:
        yield node
    finally:
        node.stop()


def ape(args: list[str], ape_data: Path, deployments: Path, **extra_env) -> subprocess.CompletedProcess:
    env = ape_environment(ape_data, deployments, COLUMNS="160",
                          **{f"APE_ACCOUNTS_{alias}_PASSPHRASE": PASSPHRASE for alias in KEYS}, **extra_env)
    return subprocess.run([str(ROOT / ".venv" / "bin" / "ape"), "run", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)


def deploy(node: Anvil, ape_data: Path, deployments: Path, *options: str, account: str = "deployer",
           **extra_env) -> subprocess.CompletedProcess:
    with producing_blocks(node):  # Ape waits for 2 confirmations on base:sepolia
        return ape(["deploy", "--network", f"base:sepolia:{node.url}", "--account", account, *options],
                   ape_data, deployments, **extra_env)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def summary(out: Path) -> dict:
    return json.loads((out / "tiny-seed5" / "summary.json").read_text())


def check_market_settles_deals(out: Path) -> None:
    s = summary(out)
    assert s["deals_settled"] > 0 and s["deals_open"] == 0 and s["funds_conserved"] is True


def test_deploy_resume_rerun_and_simulate(standin, ape_data, tmp_path):
    deployments = tmp_path / "deployments"
    record_file = deployments / "base-sepolia.json"
    me = ADDRESSES["deployer"]

    # Dry run: the plan with gas and cost, nothing sent, nothing written.
    out = ok(deploy(standin, ape_data, deployments, "--with-test-token", "--dry-run"))
    assert "canonical" in out and "ComputeMarket" in out and "2 transaction(s)" in out
    assert f"court {me}, {DEFAULT_COURT_WINDOW} s to rule" in out  # the deployer, unless told otherwise
    assert standin.nonce(me) == 0 and not record_file.exists()

    # Killed right after broadcasting its first transaction, before recording the receipt.
    killed = deploy(standin, ape_data, deployments, "--with-test-token", **{KILL_AFTER_SEND_ENV: "1"})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    record = json.loads(record_file.read_text())
    assert record["pending"]["name"] == "ComputeMarket" and "ComputeMarket" not in record["contracts"]
    pending_tx = record["pending"]["tx_hash"]
    assert standin.nonce(me) == 1  # it did reach the chain

    # Run again: the pending deployment is recognised, not repeated; the rest follows.
    ok(deploy(standin, ape_data, deployments, "--with-test-token"))
    record = json.loads(record_file.read_text())
    contracts = record["contracts"]
    assert standin.nonce(me) == 2
    assert contracts["ComputeMarket"]["address"] == create_address(me, 0)
    assert contracts["ComputeMarket"]["tx_hash"] == pending_tx  # recognised, not sent again
    assert contracts["TestToken"]["address"] == create_address(me, 1)
    # The canonical EAS of Base Sepolia, not one of its own.
    assert contracts["EAS"] == contracts["EAS"] | {"address": EAS, "source": "canonical"}
    assert contracts["SchemaRegistry"]["address"] == REGISTRY and contracts["SchemaRegistry"]["source"] == "canonical"
    assert contracts["EAS"]["version"]
    assert record["pending"] is None and record["chain_id"] == BASE_SEPOLIA
    for entry in (contracts["ComputeMarket"], contracts["TestToken"]):
        assert entry["tx_hash"] and entry["block"] > 0 and entry["code_hash"].startswith("0x")
    deployment = Deployment.load(record_file)
    assert (deployment.market, deployment.eas, deployment.registry, deployment.token) == (
        contracts["ComputeMarket"]["address"], EAS, REGISTRY, contracts["TestToken"]["address"])
    assert deployment.block == contracts["ComputeMarket"]["block"]
    assert deployment.commencement_schema == record["schemas"]["commencement"]["uid"]
    # The court is a constructor argument, and the record says which (read back from the market).
    assert contracts["ComputeMarket"]["args"] == [EAS, me, DEFAULT_COURT_WINDOW]
    assert (deployment.court, deployment.court_window) == (me, DEFAULT_COURT_WINDOW)
    assert_schema_registered(standin, deployment)

    # Nothing changed: nothing deployed, nothing rewritten.
    before = record_file.read_bytes()
    out = ok(deploy(standin, ape_data, deployments))
    assert standin.nonce(me) == 2 and record_file.read_bytes() == before
    assert "reuse" in out and "deployed" not in out
    out = ok(deploy(standin, ape_data, deployments, "--dry-run"))
    assert "0 transaction(s)" in out and record_file.read_bytes() == before

    # A market whose compiled code no longer matches the record is deployed again (and only it).
    record["contracts"]["ComputeMarket"]["code_hash"] = "0x" + "00" * 32
    record_file.write_text(json.dumps(record))
    ok(deploy(standin, ape_data, deployments))
    record = json.loads(record_file.read_text())
    assert standin.nonce(me) == 3
    assert record["contracts"]["ComputeMarket"]["address"] == create_address(me, 2)
    assert record["contracts"]["TestToken"]["address"] == create_address(me, 1)
    assert record["deployment"]["market"] == create_address(me, 2)

    # The simulation finds the contracts of base:sepolia in the deployments folder by itself.
    out_dir = tmp_path / "runs"
    ok(ape(["simulate", "--network", f"base:sepolia:{standin.url}", "--scenario", str(TINY), "--out", str(out_dir),
            "-v", "WARNING"], ape_data, deployments))
    check_market_settles_deals(out_dir)

    # Another court is another market (and only that): its users must trust the new court.
    court = ADDRESSES["forker"]
    out = ok(deploy(standin, ape_data, deployments, "--court", court, "--court-window", "3600"))
    assert "its court or court window changed" in out
    record = json.loads(record_file.read_text())
    assert standin.nonce(me) == 4
    assert record["contracts"]["ComputeMarket"]["address"] == create_address(me, 3)
    assert record["contracts"]["ComputeMarket"]["args"] == [EAS, court, 3600]
    assert (record["deployment"]["court"], record["deployment"]["court_window"]) == (court, 3600)
    assert record["deployment"]["token"] == create_address(me, 1)
    # A rerun that names no court keeps the recorded one rather than replacing it by the deployer.
    out = ok(deploy(standin, ape_data, deployments, "--dry-run"))
    assert "0 transaction(s)" in out and f"court {court}, 3600 s to rule" in out


def assert_schema_registered(node: Anvil, deployment: Deployment) -> None:
    for uid in (deployment.commencement_schema, deployment.completion_schema, deployment.validation_schema):
        data = "0x" + (keccak(text="getSchema(bytes32)")[:4] + bytes.fromhex(uid[2:])).hex()
        raw = bytes.fromhex(node.rpc("eth_call", [{"to": REGISTRY, "data": data}, "latest"])[2:])
        assert raw[32:64] == bytes.fromhex(uid[2:])  # the record's uid (after the tuple's offset word)
        assert to_checksum_address(raw[76:96]) == deployment.market  # its resolver


def test_on_a_fork_of_the_standin(fork, ape_data, tmp_path):
    deployments = tmp_path / "deployments"
    record_file = deployments / "base-sepolia.json"
    me = ADDRESSES["forker"]
    start = fork.nonce(me)

    # A transaction lost on its way (killed before it was mined, then dropped by the node) is re-sent
    # byte for byte on the next run: the same hash, so never a second contract.
    fork.rpc("evm_setAutomine", [False])
    killed = ape(["deploy", "--network", f"base:sepolia:{fork.url}", "--account", "forker", "--with-test-token"],
                 ape_data, deployments, **{KILL_AFTER_SEND_ENV: "1"})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    lost = json.loads(record_file.read_text())["pending"]
    fork.rpc("anvil_dropTransaction", [lost["tx_hash"]])
    fork.rpc("evm_setAutomine", [True])
    assert fork.nonce(me) == start and not fork.rpc("eth_getTransactionByHash", [lost["tx_hash"]])

    ok(deploy(fork, ape_data, deployments, "--with-test-token", account="forker"))
    record = json.loads(record_file.read_text())
    assert record["contracts"]["ComputeMarket"]["tx_hash"] == lost["tx_hash"]
    assert record["contracts"]["ComputeMarket"]["address"] == lost["address"] == create_address(me, start)
    assert fork.nonce(me) == start + 2  # market and token; EAS is the forked predeploy
    assert record["contracts"]["EAS"]["source"] == "canonical" and record["deployment"]["eas"] == EAS

    ok(deploy(fork, ape_data, deployments, account="forker"))
    assert fork.nonce(me) == start + 2

    # A copy elsewhere, named explicitly this time.
    copy = tmp_path / "mine.json"
    shutil.copy(record_file, copy)
    out_dir = tmp_path / "runs"
    ok(ape(["simulate", "--network", f"base:sepolia:{fork.url}", "--deployment", str(copy), "--scenario", str(TINY),
            "--out", str(out_dir), "-v", "WARNING"], ape_data, tmp_path / "elsewhere"))
    check_market_settles_deals(out_dir)


def test_deploys_eas_from_the_package_where_the_chain_has_none(ape_data, tmp_path):
    node = Anvil("--silent")  # chain 31337: not in the EAS package's deployments
    try:
        me = ADDRESSES["deployer"]
        node.rpc("anvil_setBalance", [me, hex(10**20)])
        deployments = tmp_path / "deployments"
        args = ["deploy", "--network", f"ethereum:local:{node.url}", "--account", "deployer"]
        ok(ape([*args, "--with-test-token"], ape_data, deployments))
        record = json.loads((deployments / "local-31337.json").read_text())
        contracts = record["contracts"]
        assert [contracts[n]["address"] for n in ("SchemaRegistry", "EAS", "ComputeMarket", "TestToken")] == [
            create_address(me, n) for n in range(4)]
        assert contracts["EAS"]["args"] == [contracts["SchemaRegistry"]["address"]]
        assert contracts["EAS"]["source"].startswith("@ethereum-attestation-service/eas-contracts@")
        assert contracts["EAS"]["version"] and contracts["SchemaRegistry"]["version"]
        assert Deployment.load(deployments / "local-31337.json").eas == contracts["EAS"]["address"]
        ok(ape(args, ape_data, deployments))
        assert node.nonce(me) == 4
    finally:
        node.stop()


def test_bad_input_changes_nothing(standin, ape_data, tmp_path):
    me = ADDRESSES["deployer"]
    nonce = standin.nonce(me)
    plain = Anvil("--chain-id", str(BASE_SEPOLIA), "--optimism", "--silent")  # Base's chain id, but no EAS
    try:
        other_chain = tmp_path / "other-chain"
        other_chain.mkdir()
        foreign = json.dumps({"format": 1, "chain_id": 1, "network": "ethereum:mainnet", "contracts": {}})
        (other_chain / "base-sepolia.json").write_text(foreign)
        network = f"base:sepolia:{standin.url}"
        cases = {
            "no account": (["deploy", "--network", network], tmp_path / "a", "--account ALIAS is required"),
            "unknown account": (["deploy", "--network", network, "--account", "nobody"], tmp_path / "b", "nobody"),
            "unknown network": (["deploy", "--network", "base:nowhere:node", "--account", "deployer"], tmp_path / "c",
                                "nowhere"),
            "file of another chain": (["deploy", "--network", network, "--account", "deployer"], other_chain,
                                      "records chain id 1"),
            "no EAS where the package says": (["deploy", "--network", f"base:sepolia:{plain.url}", "--account",
                                               "deployer"], tmp_path / "e", "there is no code there"),
            "no court": (["deploy", "--network", network, "--account", "deployer", "--court", "0x" + "00" * 20],
                         tmp_path / "f", "--court takes the address"),
            "no court window": (["deploy", "--network", network, "--account", "deployer", "--court-window", "0"],
                                tmp_path / "g", "--court-window"),
        }
        env = ape_environment(ape_data, tmp_path, COLUMNS="160", APE_ACCOUNTS_deployer_PASSPHRASE=PASSPHRASE)
        running = {}
        for name, (args, folder, _) in cases.items():  # in parallel: each is mostly Ape's start-up
            env_case = dict(env, COMPUTE_MARKET_DEPLOYMENTS_DIR=str(folder))
            running[name] = subprocess.Popen([str(ROOT / ".venv" / "bin" / "ape"), "run", *args], cwd=ROOT,
                                             env=env_case, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for name, process in running.items():
            try:
                output, _ = process.communicate(timeout=180)
            finally:
                if process.poll() is None:
                    process.kill()
            args, folder, message = cases[name]
            assert process.returncode != 0, f"{name}: accepted\n{output}"
            assert message in output, f"{name}: {output}"
            assert "Traceback" not in output, f"{name}: {output}"
        assert standin.nonce(me) == nonce and plain.nonce(me) == 0
        assert (other_chain / "base-sepolia.json").read_text() == foreign
        assert not any((tmp_path / f).exists() for f in "abcefg")
    finally:
        plain.stop()


# --- the decisions behind resuming, without a node -----------------------------------------------------


def fake_chain(*, nonce: int, code: bytes = b"", receipt=None, transaction=None) -> SyncClient:
    answers = {
        "eth_getTransactionReceipt": receipt,
        "eth_getTransactionByHash": transaction,
        "eth_getTransactionCount": hex(nonce),
        "eth_getCode": "0x" + code.hex(),
    }
    return SyncClient(lambda method, params: answers[method], poll_interval=0.01)


PENDING = {"name": "SchemaRegistry", "sender": ADDRESSES["deployer"], "nonce": 4, "tx_hash": "0x" + "ab" * 32,
           "address": create_address(ADDRESSES["deployer"], 4)}


def test_a_pending_deployment_is_never_taken_for_replaced_while_its_receipt_lags():
    runtime = artifact("SchemaRegistry").runtime
    filled = bytearray(runtime)
    for offset in immutable_offsets(runtime):  # as the constructor would fill them
        filled[offset : offset + 32] = b"\x01" * 32
    assert pending_state(fake_chain(nonce=4), PENDING, lag_seconds=0) == "waiting"  # not mined: re-send
    assert pending_state(fake_chain(nonce=5, transaction={"hash": PENDING["tx_hash"]}), PENDING, 0) == "waiting"
    assert pending_state(fake_chain(nonce=5, code=bytes(filled)), PENDING, lag_seconds=0) == "waiting"
    assert pending_state(fake_chain(nonce=5), PENDING, lag_seconds=0.05) == "replaced"
    assert pending_state(fake_chain(nonce=5, receipt={"status": "0x0"}), PENDING, 0) == "reverted"


def test_code_matches_ignores_immutables_only():
    runtime = artifact("SchemaRegistry").runtime
    offsets = immutable_offsets(runtime)
    assert offsets, "SchemaRegistry keeps its version in immutables"
    filled = bytearray(runtime)
    for offset in offsets:
        filled[offset : offset + 32] = b"\x07" * 32
    assert code_matches(bytes(filled), runtime)
    other = bytearray(filled)
    other[10] ^= 0xFF
    assert not code_matches(bytes(other), runtime) and not code_matches(b"", runtime)


def test_the_court_of_a_rerun_is_the_recorded_one_unless_named(tmp_path):
    me, other = ADDRESSES["deployer"], ADDRESSES["forker"]
    record = Record.load(tmp_path / "chain.json", BASE_SEPOLIA, "base:sepolia")
    assert choose_court(record, me, None, None) == Court(me, DEFAULT_COURT_WINDOW)  # first deployment
    record.contracts["ComputeMarket"] = {"args": [EAS, other, 60]}
    assert choose_court(record, me, None, None) == Court(other, 60)
    assert choose_court(record, me, me, None) == Court(me, 60)
    assert choose_court(record, me, None, 120) == Court(other, 120)
