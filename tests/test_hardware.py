"""The hardware profile: measured on this machine, and described in scenario files for synthetic ones."""


import psutil
import pytest

from agents.hardware import (
    GIB,
    Gpu,
    HardwareProfile,
    cpu_model_name,
    estimate_power,
    gpu_board_watts,
    profile_machine,
)
from agents.jobs.spec import Requirements
from agents.policy import Capacity


@pytest.fixture(scope="module")
def measured():
    return profile_machine(benchmark_seconds=0.2)


def test_profile_matches_psutil(measured):
    assert measured.logical_cores == psutil.cpu_count(logical=True) > 0
    assert measured.physical_cores == (psutil.cpu_count(logical=False) or measured.logical_cores) > 0
    assert measured.ram_bytes == psutil.virtual_memory().total > 0
    assert measured.cpu_model and measured.cpu_model == cpu_model_name()
    assert measured.benchmark_score > 0  # MiB/s of SHA-256: any working CPU hashes something in 0.2 s
    assert 0 < measured.power_idle_watts < measured.power_full_watts


def test_profile_round_trips_through_a_dict(measured):
    assert HardwareProfile.from_dict(measured.to_dict()) == measured


def test_cpu_model_is_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6338\n")
    assert cpu_model_name(cpuinfo) == "Intel(R) Xeon(R) Gold 6338"
    cpuinfo.write_text("processor\t: 0\nBogoMIPS\t: 108.00\nHardware\t: BCM2835\n")
    assert cpu_model_name(cpuinfo) == "BCM2835"  # ARM: the core index is not taken for a name


GPU_BOX = HardwareProfile.from_dict(
    {
        "cpu_model": "AMD EPYC 7443",
        "physical_cores": 24,
        "logical_cores": 48,
        "ram_gib": 256,
        "gpus": [{"model": "NVIDIA A100-SXM4-40GB", "memory_gib": 40}, ["NVIDIA T4", 16 * GIB]],
        "benchmark_score": 20000.0,
    }
)
LAPTOP = HardwareProfile.from_dict(
    {"cpu_model": "Intel Core i5", "physical_cores": 4, "logical_cores": 8, "ram_gib": 16, "benchmark_score": 3000.0}
)


def test_scenario_machines():
    assert GPU_BOX.ram_bytes == 256 * GIB
    assert GPU_BOX.gpus == (Gpu("NVIDIA A100-SXM4-40GB", 40 * GIB), Gpu("NVIDIA T4", 16 * GIB))
    # Power estimated when the scenario gives none: A100 400 W, T4 70 W (not A10's 150 W), CPU 24 * 8 W.
    idle, full = estimate_power(24, 256 * GIB, GPU_BOX.gpus)
    assert (GPU_BOX.power_idle_watts, GPU_BOX.power_full_watts) == (idle, full)
    assert full == pytest.approx((20 + 0.375 * 256 + 24 * 8 + 400 + 70) / 0.9)
    assert idle == pytest.approx((20 + 0.375 * 256 + 0.2 * 24 * 8 + 40 + 8) / 0.9)
    assert gpu_board_watts("NVIDIA A10") == 150.0 and gpu_board_watts("Mystery GPU") == 250.0
    assert LAPTOP.logical_cores == 8 and LAPTOP.gpus == ()
    assert LAPTOP.power_watts(0.5) == pytest.approx((LAPTOP.power_idle_watts + LAPTOP.power_full_watts) / 2)


def test_scenario_errors_are_explained():
    with pytest.raises(ValueError, match="unknown hardware field.*ram_gb"):
        HardwareProfile.from_dict({**LAPTOP.to_dict(), "ram_gb": 16})
    with pytest.raises(ValueError, match="missing hardware field.*benchmark_score"):
        HardwareProfile.from_dict({"cpu_model": "x", "physical_cores": 2, "ram_gib": 4})
    with pytest.raises(ValueError, match="logical_cores"):
        HardwareProfile.from_dict({**LAPTOP.to_dict(), "logical_cores": 2})


def test_can_serve():
    assert LAPTOP.capacity == Capacity(cores=8, ram_bytes=16 * GIB, gpus=0)  # logical cores count
    assert LAPTOP.can_serve(Capacity(cores=8, ram_bytes=16 * GIB))
    assert not LAPTOP.can_serve(Capacity(cores=9))
    assert not LAPTOP.can_serve(Capacity(ram_bytes=16 * GIB + 1))
    assert not LAPTOP.can_serve(Capacity(gpus=1))
    assert GPU_BOX.can_serve(Capacity(gpus=1))
    assert GPU_BOX.can_serve(Capacity(gpus=1), min_gpu_memory_bytes=40 * GIB)
    assert not GPU_BOX.can_serve(Capacity(), min_gpu_memory_bytes=40 * GIB + 1)  # implies a GPU; none is that large
    assert not LAPTOP.can_serve(Capacity(), min_gpu_memory_bytes=1)


def test_can_serve_a_job_spec():
    job = Requirements(min_cores=4, min_ram_bytes=8 * GIB, needs_gpu=True)
    assert GPU_BOX.can_serve(job.capacity) and not LAPTOP.can_serve(job.capacity)
    assert LAPTOP.can_serve(Requirements(min_cores=4, min_ram_bytes=8 * GIB).capacity)
