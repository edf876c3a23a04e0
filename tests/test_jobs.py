"""Job execution: deterministic workloads in real subprocesses, canonical spec hashes, enforced limits,
result stores (file and HTTP) and re-validation. No chain needed."""

import json
import os
import random
import sys
import time

import numpy as np
import psutil
import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.jobs import (
    WORKLOADS,
    FetchError,
    HashMismatch,
    HttpResultStore,
    InvalidJobSpec,
    JobSpec,
    JobStatus,
    Limits,
    Requirements,
    ResultStore,
    fetch,
    fetch_spec,
    fetch_verified,
    revalidate,
    run_job,
    runner,
    verify,
    worker,
)
from agents.jobs.workloads import MATMUL_MODULUS
from agents.policy import Capacity

SEED = 7
SMALL_PARAMS = {
    "sha256-chain": {"n": 1000},
    "matmul": {"n": 16, "repeat": 3},
    "monte-carlo-pi": {"samples": 10_000},
    "prime-sieve": {"n": 10_000},
    "sort": {"n": 1000},
}
# keccak256 of each workload's result for SMALL_PARAMS and SEED. Pinned: a change here changes every
# result hash, so providers and validators running different code would disagree.
GOLDEN_RESULT_HASHES = {
    "sha256-chain": "6c21661e92ba99fa5263b35b36febd7e947e588f0bf3c0b40343e09e4cb5c613",
    "matmul": "d1ee1e38d1fe3afb9c1626a9144f839dde2bd58d1a5e58d2b967d45ead2f837a",
    "monte-carlo-pi": "64e4083cd26a1c58ade32225305b97c7101d66819a71e7004f9deb933294172d",
    "prime-sieve": "d7417fbb2f78fbcd77a3a084f66d1fe650e194e5f4f5d11f6fc15520a7d5a3b4",
    "sort": "6b4f35004f95346d18f2873d1bad30ef70dbe910ce2acf21ceef0d37af5225e7",
}
PYTHON = sys.executable


def small_spec(name: str, seed: int = SEED, **limits) -> JobSpec:
    return JobSpec.for_workload(name, SMALL_PARAMS[name], seed, limits=Limits(**limits))


def command_spec(argv, **limits) -> JobSpec:
    return JobSpec.for_command(argv, limits=Limits(**limits))


# --- determinism ------------------------------------------------------------------------------------------


def test_catalogue_is_covered():
    assert set(SMALL_PARAMS) == set(WORKLOADS) == set(GOLDEN_RESULT_HASHES)


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_workload_gives_the_same_hash_in_two_subprocess_runs(name, tmp_path):
    spec = small_spec(name)
    first, second = run_job(spec, tmp_path / "first"), run_job(spec, tmp_path / "second")
    assert first.status is second.status is JobStatus.SUCCEEDED, (first.reason, first.stderr_tail)
    assert first.result_hash == second.result_hash == keccak(first.result_path.read_bytes())
    assert first.result_hash.hex() == GOLDEN_RESULT_HASHES[name]
    assert first.result_hash == keccak(WORKLOADS[name](SMALL_PARAMS[name], SEED))  # in-process agrees


@pytest.mark.parametrize("name", sorted(name for name, workload in WORKLOADS.items() if workload.seeded))
def test_a_different_seed_gives_a_different_hash(name, tmp_path):
    result = run_job(small_spec(name, seed=SEED + 1), tmp_path)
    assert result.succeeded, result.reason
    assert result.result_hash.hex() != GOLDEN_RESULT_HASHES[name]


def test_matmul_is_exact_integer_arithmetic():
    n, repeat = 64, 2
    result = np.frombuffer(WORKLOADS["matmul"]({"n": n, "repeat": repeat}, 3), dtype="<u2").reshape(n, n)
    rng = np.random.RandomState(np.array([3, 0], dtype=np.uint32))
    product = rng.randint(0, MATMUL_MODULUS, size=(n, n)).astype(np.int64)
    factor = rng.randint(0, MATMUL_MODULUS, size=(n, n)).astype(np.int64)
    for _ in range(repeat):
        product = (product @ factor) % MATMUL_MODULUS
    assert np.array_equal(result, product)


def test_prime_sieve_counts_primes():
    assert json.loads(WORKLOADS["prime-sieve"]({"n": 100}, 0)) | {"sha256": None} == {
        "count": 25,
        "largest": 97,
        "limit": 100,
        "sha256": None,
        "sum": 1060,
    }


def test_costs_scale_with_parameters_and_calibration_is_positive():
    for name, workload in WORKLOADS.items():
        params = SMALL_PARAMS[name]
        bigger = {key: value * 2 for key, value in params.items()}
        assert 0 < workload.estimated_cost(params) < workload.estimated_cost(bigger)
        assert workload.seconds_per_unit() > 0
        assert workload.estimated_seconds(params) < workload.estimated_seconds(bigger)


# --- spec hash and canonical form ----------------------------------------------------------------------


def test_spec_hash_is_keccak_of_canonical_json_and_pinned():
    spec = small_spec("sha256-chain")
    assert spec.canonical_json() == (
        b'{"limits":{"cpu_seconds":60,"memory_bytes":1073741824,"wall_seconds":60.0},"params":{"n":1000},'
        b'"requirements":{"min_cores":1,"min_ram_bytes":0,"needs_gpu":false},"seed":7,"version":1,'
        b'"workload":"sha256-chain"}'
    )
    assert spec.spec_hash == keccak(spec.canonical_json())
    assert spec.spec_hash.hex() == "3ca9022aaeb9a7ec057327e966bf6add7a999770d68b58d4d48a4f5c73837d8d"


def test_key_order_and_whitespace_do_not_change_the_spec_hash():
    spec = JobSpec.for_workload("matmul", {"n": 8, "repeat": 2}, 1)
    reordered = JobSpec.for_workload("matmul", {"repeat": 2, "n": 8}, 1)
    loose_json = json.dumps(dict(reversed(list(spec.as_dict().items()))), indent=3)
    assert reordered.spec_hash == spec.spec_hash == JobSpec.from_json(loose_json).spec_hash
    assert Limits(wall_seconds=2) == Limits(wall_seconds=2.0)  # ints and floats serialise alike
    assert JobSpec.for_command(["true"], limits=Limits(wall_seconds=2)).canonical_json() == JobSpec.for_command(
        ["true"], limits=Limits(wall_seconds=2.0)
    ).canonical_json()


@st.composite
def job_specs(draw):
    limits = Limits(
        wall_seconds=draw(st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)),
        memory_bytes=draw(st.integers(1, 2**40)),
        cpu_seconds=draw(st.integers(1, 10**6)),
    )
    requirements = Requirements(draw(st.integers(1, 256)), draw(st.integers(0, 2**40)), draw(st.booleans()))
    if draw(st.booleans()):
        argv = draw(st.lists(st.text(st.characters(blacklist_characters="\0"), max_size=8), min_size=1, max_size=4))
        return JobSpec.for_command(argv, limits=limits, requirements=requirements)
    name = draw(st.sampled_from(sorted(WORKLOADS)))
    params = {p.name: draw(st.integers(p.minimum, p.maximum)) for p in WORKLOADS[name].params}
    return JobSpec.for_workload(name, params, draw(st.integers(0, 2**64 - 1)), limits=limits, requirements=requirements)


def _shuffled(value, rng: random.Random):
    """The same JSON value with every object's keys in a random order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: _shuffled(item, rng) for key, item in items}
    return value


@settings(max_examples=150, deadline=None)
@given(spec=job_specs(), shuffle_seed=st.integers(), indent=st.sampled_from([None, 0, 2]))
def test_spec_hash_is_canonical_for_any_spec(spec, shuffle_seed, indent):
    shuffled = _shuffled(spec.as_dict(), random.Random(shuffle_seed))
    reparsed = JobSpec.from_json(json.dumps(shuffled, indent=indent, ensure_ascii=bool(shuffle_seed % 2)))
    assert reparsed == spec
    assert reparsed.canonical_json() == spec.canonical_json()
    assert reparsed.spec_hash == spec.spec_hash == keccak(spec.canonical_json())
    assert JobSpec.from_json(spec.canonical_json()).canonical_json() == spec.canonical_json()
    if spec.workload is not None:
        params_reordered = dict(reversed(list(spec.params.items())))
        same = JobSpec.for_workload(
            spec.workload, params_reordered, spec.seed, limits=spec.limits, requirements=spec.requirements
        )
        assert same.spec_hash == spec.spec_hash


# --- bad specs --------------------------------------------------------------------------------------------

BAD_SPECS = [
    (dict(workload="bogus", params={}), r"unknown workload 'bogus'; known workloads: matmul, "),
    (dict(workload="matmul", params={"n": 4}), r"missing parameter 'repeat'"),
    (dict(workload="sort", params={"n": 4, "size": 1}), r"unknown parameter 'size'"),
    (dict(workload="sort", params={"n": 0}), r"parameter 'n' must be in \[1, 1000000000\], got 0"),
    (dict(workload="sort", params={"n": True}), r"parameter 'n' must be an integer, got True"),
    (dict(workload="sort", params={"n": 2.5}), r"parameter 'n' must be an integer"),
    (dict(workload="sort", params=[1]), r"params must be an object"),
    (dict(workload="sort", params={"n": 4}, seed=-1), r"seed must be an integer in \[0, 2\*\*64\)"),
    (dict(workload="sort", params={"n": 4}, output_file="x"), r"output_file applies to commands only"),
    (dict(workload="sort", params={"n": 4}, command=["ls"]), r"exactly one of"),
    (dict(), r"exactly one of"),
    (dict(command=[]), r"command must be a non-empty list"),
    (dict(command="ls -l"), r"command must be a non-empty list"),
    (dict(command=["ls", 3]), r"command\[1\] must be a string"),
    (dict(command=["ls"], seed=3), r"params and seed apply to catalogue workloads only"),
    (dict(command=["ls"], output_file="/etc/passwd"), r"output_file must be a relative path"),
    (dict(command=["ls"], output_file="../up"), r"output_file must be a relative path"),
]


@pytest.mark.parametrize("fields, message", BAD_SPECS)
def test_bad_specs_raise_a_clear_error(fields, message):
    with pytest.raises(InvalidJobSpec, match=message):
        JobSpec(**fields)


@pytest.mark.parametrize(
    "limits, message",
    [
        (dict(wall_seconds=0), r"limits.wall_seconds must be a positive finite number, got 0"),
        (dict(wall_seconds=-1.5), r"limits.wall_seconds must be a positive finite number"),
        (dict(wall_seconds=float("inf")), r"limits.wall_seconds must be a positive finite number"),
        (dict(memory_bytes=0), r"limits.memory_bytes must be a positive integer, got 0"),
        (dict(cpu_seconds=-3), r"limits.cpu_seconds must be a positive integer, got -3"),
        (dict(cpu_seconds=1.5), r"limits.cpu_seconds must be a positive integer"),
    ],
)
def test_non_positive_limits_are_rejected(limits, message):
    with pytest.raises(InvalidJobSpec, match=message):
        Limits(**limits)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", r"not valid JSON"),
        ("[1, 2]", r"a job spec is a JSON object"),
        ('{"version": 2}', r"unsupported job spec version 2"),
        (json.dumps({**small_spec("sort").as_dict(), "extra": 1}), r"unknown job spec keys \['extra'\]"),
        (json.dumps({"version": 1, "workload": "sort", "params": {"n": 1}}), r"missing keys \['limits'"),
        (
            small_spec("sort").canonical_json().decode().replace('"wall_seconds":60.0', '"wall_seconds":NaN'),
            r"NaN is not a valid number",
        ),
        (
            small_spec("sort").canonical_json().decode().replace('"cpu_seconds":60,', ""),
            r"limits must have exactly the keys",
        ),
    ],
)
def test_bad_spec_json_raises_a_clear_error(text, message):
    with pytest.raises(InvalidJobSpec, match=message):
        JobSpec.from_json(text)


def test_requirements_decide_who_can_serve():
    needs = Requirements(min_cores=4, min_ram_bytes=8 << 30, needs_gpu=True)
    assert needs.capacity == Capacity(cores=4, ram_bytes=8 << 30, gpus=1)
    assert needs.capacity.fits_within(Capacity(cores=8, ram_bytes=16 << 30, gpus=1))
    assert not needs.capacity.fits_within(Capacity(cores=8, ram_bytes=16 << 30, gpus=0))
    assert not needs.capacity.fits_within(Capacity(cores=2, ram_bytes=16 << 30, gpus=1))
    with pytest.raises(InvalidJobSpec, match="min_cores must be an integer >= 1"):
        Requirements(min_cores=0)


# --- limits -----------------------------------------------------------------------------------------------


def test_wall_limit_kills_the_whole_process_group_in_time(tmp_path):
    # The shell prints its background child's pid, then waits for it: both would run for 30 s, far past the
    # limit. How soon after the limit the kill lands is the machine's business (a loaded one is slow): what
    # the runner promises is never before it, and that the group is gone long before it would have ended.
    spec = command_spec(["sh", "-c", "sleep 30 & echo $!; wait"], wall_seconds=0.5)
    started = time.monotonic()
    result = run_job(spec, tmp_path)
    elapsed = time.monotonic() - started
    assert result.status is JobStatus.TIMED_OUT
    assert "wall-clock limit of 0.5 s" in result.reason
    assert 0.5 <= result.wall_seconds <= elapsed
    orphan = int(result.stdout_tail.split()[0])
    while _is_running(orphan) and time.monotonic() < started + 25:
        time.sleep(0.01)
    assert not _is_running(orphan)  # killed with its group: on its own it would sleep until started + 30


def _is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_cpu_limit_ends_a_busy_loop(tmp_path):
    # A wall limit no machine reaches first, however loaded: one CPU second may take many wall seconds.
    result = run_job(command_spec([PYTHON, "-c", "while True: pass"], cpu_seconds=1, wall_seconds=3600), tmp_path)
    assert result.status is JobStatus.TIMED_OUT
    assert result.reason == "CPU limit of 1 s reached (killed by SIGXCPU)"
    # CPU time, not wall time: at least what the runner takes for the limit (rusage undercounts against the
    # kernel's limit accounting on some VMs), at most the hard limit a second later, where the kernel kills.
    assert 0.5 <= result.cpu_seconds <= 1 + 1


def test_command_allocating_past_the_memory_limit_is_memory_exceeded(tmp_path):
    spec = command_spec([PYTHON, "-c", "block = bytearray(2 * 10**9)"], memory_bytes=256 << 20)
    result = run_job(spec, tmp_path)
    assert result.status is JobStatus.MEMORY_EXCEEDED, (result.reason, result.stderr_tail)
    assert "MemoryError" in result.stderr_tail
    assert result.result_hash is None and result.result_path is None


def test_workload_past_the_memory_limit_is_memory_exceeded(tmp_path):
    spec = JobSpec.for_workload("sort", {"n": 50_000_000}, 1, limits=Limits(memory_bytes=256 << 20))
    result = run_job(spec, tmp_path)
    assert result.status is JobStatus.MEMORY_EXCEEDED, (result.reason, result.stderr_tail)
    assert result.exit_code == worker.EXIT_OUT_OF_MEMORY == runner.WORKER_EXIT_OUT_OF_MEMORY
    assert not (tmp_path / runner.WORKLOAD_RESULT_FILE).exists()


def test_failing_command_is_failed_with_stderr_captured(tmp_path):
    spec = command_spec([PYTHON, "-c", "import sys; print('partial'); sys.exit('boom: bad input')"])
    result = run_job(spec, tmp_path)
    assert result.status is JobStatus.FAILED
    assert result.exit_code == 1 and result.reason == "exit status 1"
    assert "boom: bad input" in result.stderr_tail and result.stdout_tail == "partial\n"
    assert result.result_hash is None


def test_command_that_cannot_start_is_failed(tmp_path):
    result = run_job(command_spec(["no-such-program-anywhere"]), tmp_path)
    assert result.status is JobStatus.FAILED and result.exit_code is None
    assert "cannot start 'no-such-program-anywhere'" in result.reason


# --- command results --------------------------------------------------------------------------------------


def test_command_result_is_its_stdout(tmp_path):
    result = run_job(command_spec([PYTHON, "-c", "print('hello')"]), tmp_path)
    assert result.succeeded and result.result_hash == keccak(b"hello\n")
    assert result.cpu_seconds > 0 and result.peak_rss_bytes > 1 << 20


def test_command_result_can_be_a_named_output_file(tmp_path):
    argv = ["sh", "-c", "mkdir out && printf result > out/r.bin && echo log"]
    spec = JobSpec.for_command(argv, output_file="out/r.bin")
    result = run_job(spec, tmp_path)
    assert result.succeeded and result.result_hash == keccak(b"result")
    assert result.result_path == tmp_path / "out" / "r.bin" and result.stdout_tail == "log\n"
    # Run again where the command writes nothing: the previous run's file must not count as this result.
    quiet = JobSpec.for_command(["true"], output_file="out/r.bin")
    again = run_job(quiet, tmp_path)
    assert again.status is JobStatus.FAILED and "wrote no result file" in again.reason


def test_commands_do_not_see_the_agents_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_PRIVATE_KEY", "0xsecret")
    result = run_job(command_spec(["env"]), tmp_path)
    assert result.succeeded and "0xsecret" not in result.stdout_tail
    assert f"HOME={tmp_path}" in result.stdout_tail


# --- stores -----------------------------------------------------------------------------------------------


def test_file_store_round_trip_and_tamper_detection(tmp_path):
    store = ResultStore(tmp_path / "store")
    content_hash, uri = store.publish(b"some result")
    assert content_hash == keccak(b"some result") and uri.startswith("file://") and uri.endswith(content_hash.hex())
    assert fetch(uri) == b"some result" and verify(uri, content_hash) and verify(uri, "0x" + content_hash.hex())
    assert content_hash in store and store.publish(b"some result") == (content_hash, uri)

    source = tmp_path / "result.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 5))  # larger than one hashing chunk
    file_hash, file_uri = store.publish(source)
    assert file_hash == keccak(source.read_bytes()) and fetch(file_uri) == source.read_bytes()

    store.path_for(content_hash).write_bytes(b"some resulT")
    assert not verify(uri, content_hash)
    with pytest.raises(HashMismatch, match="expected 0x" + content_hash.hex()):
        fetch_verified(uri, content_hash)
    assert not any(name.startswith(".publishing-") for name in os.listdir(store.root))


def test_publishing_what_is_stored_writes_nothing_unless_the_item_was_damaged(tmp_path):
    store = ResultStore(tmp_path / "store")
    source = tmp_path / "result.bin"
    source.write_bytes(b"a result")
    for content in (b"a spec", source):
        content_hash, _ = store.publish(content)
        item = store.path_for(content_hash)
        written = item.stat().st_ino
        assert store.publish(content)[0] == content_hash and item.stat().st_ino == written  # not replaced
        item.write_bytes(b"damaged")
        assert store.publish(content)[0] == content_hash and verify(item.as_uri(), content_hash)


def test_http_store_round_trip_and_tamper_detection(tmp_path):
    with HttpResultStore(tmp_path / "store") as store:
        content_hash, uri = store.publish(b"served result")
        assert uri == f"http://127.0.0.1:{store.port}/{content_hash.hex()}"
        assert fetch(uri) == b"served result" and verify(uri, content_hash)
        assert fetch_verified(uri, content_hash) == b"served result"

        store.path_for(content_hash).write_bytes(b"tampered")
        assert not verify(uri, content_hash)

        with pytest.raises(FetchError, match="HTTP 404"):
            fetch(store.uri_for(keccak(b"never published")))
        with pytest.raises(FetchError, match="HTTP 404"):
            fetch(f"http://127.0.0.1:{store.port}/../{content_hash.hex()}")
        with pytest.raises(FetchError, match="more than 3 bytes"):
            fetch(uri, max_bytes=3)


def test_fetch_rejects_unknown_schemes_and_missing_files(tmp_path):
    with pytest.raises(FetchError, match="unsupported URI scheme 'ipfs'"):
        fetch("ipfs://bafy")
    with pytest.raises(FetchError, match="cannot read"):
        fetch((tmp_path / "missing").as_uri())


def test_spec_is_published_by_its_spec_hash_and_fetched_back(tmp_path):
    spec = small_spec("monte-carlo-pi")
    with HttpResultStore(tmp_path / "store") as store:
        spec_hash, uri = store.publish_spec(spec)
        assert spec_hash == spec.spec_hash
        assert fetch_spec(uri, spec_hash) == spec
        with pytest.raises(HashMismatch):
            fetch_spec(uri, keccak(b"another spec"))
        # Bytes that hash right but are not canonical would give the parsed spec another spec_hash.
        loose = json.dumps(spec.as_dict(), indent=1).encode()
        loose_hash, loose_uri = store.publish(loose)
        with pytest.raises(InvalidJobSpec, match="not in canonical JSON form"):
            fetch_spec(loose_uri, loose_hash)


# --- the whole flow and validation ----------------------------------------------------------------------


def test_provider_publishes_client_verifies_validator_agrees(tmp_path):
    spec = small_spec("sha256-chain")
    result = run_job(spec, tmp_path / "provider")
    with HttpResultStore(tmp_path / "provider-store") as store:
        result_hash, result_uri = store.publish(result.result_path)
        assert result_hash == result.result_hash
        assert verify(result_uri, result_hash)  # the client's check
    verdict = revalidate(spec, result_hash, tmp_path / "validator")
    assert verdict.match and verdict.conclusive and verdict.recomputed_hash == result_hash


def test_revalidate_detects_a_wrong_claimed_hash(tmp_path):
    spec = small_spec("sort")
    wrong = keccak(b"made up")
    verdict = revalidate(spec, "0x" + wrong.hex(), tmp_path)
    assert not verdict.match and verdict.conclusive
    assert verdict.claimed_hash == wrong
    assert verdict.recomputed_hash.hex() == GOLDEN_RESULT_HASHES["sort"]
    assert "provider claimed 0x" + wrong.hex() in verdict.reason


def test_revalidate_is_inconclusive_when_the_rerun_fails(tmp_path):
    spec = JobSpec.for_command(["sleep", "600"], limits=Limits(wall_seconds=0.2))  # ends only by the limit
    verdict = revalidate(spec, keccak(b""), tmp_path)
    assert not verdict.match and not verdict.conclusive and verdict.recomputed_hash is None
    assert verdict.rerun.status is JobStatus.TIMED_OUT


def test_a_declared_duration_is_part_of_the_spec_and_its_estimate():
    plain = JobSpec.for_workload("sha256-chain", {"n": 10}, 1)
    sized = JobSpec.for_workload("sha256-chain", {"n": 10}, 1, duration_seconds=5400)
    assert "duration_seconds" not in plain.as_dict()  # undeclared: the spec (and its hash) as before
    assert JobSpec.from_json(sized.canonical_json()) == sized and sized.spec_hash != plain.spec_hash
    assert sized.estimated_seconds() == 5400.0
    with pytest.raises(InvalidJobSpec, match="duration_seconds"):
        JobSpec.for_workload("sha256-chain", {"n": 10}, 1, duration_seconds=0)
