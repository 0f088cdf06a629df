"""ORT INT8 kernel choice from CPU flags (FACTS.md §5: QUInt8 saturates without VNNI)."""

from __future__ import annotations

from pathlib import Path

from sropt.quantize.cpu_features import choose_integer_kernel, read_cpu_flags


def test_vnni_keeps_full_range() -> None:
    c = choose_integer_kernel("x86_64", {"avx2", "avx512f", "avx512_vnni"})
    assert (c.activation_type, c.weight_type, c.reduce_range) == ("QUInt8", "QInt8", False)
    assert c.flags == ("avx512_vnni",)


def test_avx2_without_vnni_reduces_range() -> None:
    """The AMD EPYC of FACTS.md §5: AVX2, no VNNI -> reduce_range=True."""
    c = choose_integer_kernel("x86_64", {"avx2", "fma"})
    assert c.reduce_range is True and c.activation_type == "QUInt8" and "saturate" in c.reason
    assert choose_integer_kernel("x86_64", {"avx2", "avx512f", "avx512bw"}).reduce_range is True


def test_arm_uses_signed_activations() -> None:
    c = choose_integer_kernel("aarch64", {"asimd", "asimddp"})
    assert (c.activation_type, c.reduce_range) == ("QInt8", False)


def test_read_cpu_flags(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 avx_vnni\n\nprocessor\t: 1\nflags\t: other\n")
    model, flags = read_cpu_flags(info)
    assert model == "Test CPU" and flags == {"fpu", "avx2", "avx_vnni"}
    assert read_cpu_flags(tmp_path / "missing")[1] == set()
