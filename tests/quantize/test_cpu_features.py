"""ORT INT8 settings per deployment CPU target; the build CPU never decides (issue 14, item 6)."""

from __future__ import annotations

import pytest

import sropt.core.cpu_targets as cpu_targets
from sropt.core.cpu_targets import CpuTarget, cpu_class, measures_other_class, parse_cpu_target
from sropt.core.errors import InputError
from sropt.quantize.cpu_features import choose_integer_kernel

# The mapping docs/quantize.md states, written out by hand (not read from ORT_INT8_SETTINGS).
DOCUMENTED = {
    "portable": ("QUInt8", True),
    "x86-avx2": ("QUInt8", True),
    "x86-avx512": ("QUInt8", True),
    "x86-avx512-vnni": ("QUInt8", False),
    "arm64": ("QInt8", False),
}

BUILD_CPUS = {
    "vnni runner": ("x86_64", {"avx2", "avx512bw", "avx512_vnni"}),
    "avx2 epyc": ("x86_64", {"avx2", "fma"}),
    "graviton": ("aarch64", {"asimd", "asimddp"}),
}


@pytest.mark.parametrize("build", sorted(BUILD_CPUS))
@pytest.mark.parametrize("target", sorted(DOCUMENTED))
def test_each_target_gets_its_documented_settings_on_any_build_cpu(target: str, build: str, monkeypatch) -> None:
    machine, flags = BUILD_CPUS[build]
    monkeypatch.setattr(cpu_targets, "machine", lambda: {"cpu": "fake CPU", "machine": machine, "isa": sorted(flags)})
    assert cpu_targets.host_cpu()[1] is cpu_class(machine, flags)  # the fake is in effect
    activations, reduce_range = DOCUMENTED[target]
    c = choose_integer_kernel(target)
    assert (c.target, c.activation_type, c.weight_type, c.reduce_range) == (target, activations, "QInt8", reduce_range)
    assert c.reason and c.to_json()["target"] == target


def test_default_target_is_portable() -> None:
    assert choose_integer_kernel().target == "portable" and choose_integer_kernel().reduce_range is True


def test_reasons_name_the_mechanism() -> None:
    assert "saturat" in choose_integer_kernel("x86-avx2").reason
    assert "int32" in choose_integer_kernel("x86-avx512-vnni").reason
    assert "every CPU" in choose_integer_kernel("portable").reason


def test_unknown_target_lists_the_choices() -> None:
    with pytest.raises(InputError) as info:
        choose_integer_kernel("x86-sse4")
    assert str(info.value) == (
        "--target 'x86-sse4': unknown deployment CPU; choose one of portable, x86-avx2, x86-avx512, "
        "x86-avx512-vnni, arm64 (portable, the default, is safe on every CPU)."
    )
    assert parse_cpu_target(" ARM64 ") is CpuTarget.ARM64


@pytest.mark.parametrize(
    ("machine", "flags", "expected"),
    [
        ("x86_64", {"avx2", "avx512f", "avx512bw", "avx512_vnni"}, CpuTarget.X86_AVX512_VNNI),
        ("x86_64", {"avx2", "avx_vnni"}, CpuTarget.X86_AVX512_VNNI),  # Alder Lake: VNNI without AVX-512
        ("x86_64", {"avx2", "avx512f", "avx512bw"}, CpuTarget.X86_AVX512),  # Skylake-SP
        ("x86_64", {"avx2", "fma"}, CpuTarget.X86_AVX2),  # AMD EPYC (FACTS.md §5)
        ("x86_64", {"sse4_2"}, None),
        ("aarch64", {"asimd"}, CpuTarget.ARM64),
        ("riscv64", set(), None),
    ],
)
def test_cpu_class(machine: str, flags: set[str], expected: CpuTarget | None) -> None:
    assert cpu_class(machine, flags) is expected


def test_measures_other_class() -> None:
    assert not measures_other_class("portable", CpuTarget.X86_AVX2)  # meant for every CPU
    assert not measures_other_class("portable", None)
    assert not measures_other_class("x86-avx2", CpuTarget.X86_AVX2)
    assert measures_other_class("x86-avx512-vnni", CpuTarget.X86_AVX2)
    assert measures_other_class("arm64", None)
