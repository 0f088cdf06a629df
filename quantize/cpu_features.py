"""Pick ONNX Runtime's INT8 activation type and reduce_range from the CPU.

ORT's x86 QDQ kernels multiply uint8 activations by int8 weights. Without
VNNI (AVX2, AVX-512F/BW) the u8*s8 pair products go through ``vpmaddubsw``,
which saturates at int16: with full 8-bit weights the trained EDSR-layout
model lost 5.6 dB on an AMD EPYC (FACTS.md §5). ``reduce_range=True`` (7-bit
weights) keeps those sums in range at the same speed. With VNNI
(``avx512_vnni``, ``avx_vnni``) or AMX the products accumulate in int32
directly, so full-range QUInt8 is exact and fastest. Other CPUs (ARM) use
signed activations (S8S8), ORT's recommendation there.

The decision is made at run time from the CPU flags and recorded in the
artifact's provenance; the quantizer still measures the drop and switches to
reduce_range if it turns out large (see ``sropt.quantize.onnx_quantize``).
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from pathlib import Path

VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@dataclass(frozen=True)
class IntegerKernelChoice:
    """The activation type / reduce_range used for ORT INT8, and why."""

    activation_type: str  # "QUInt8" or "QInt8"
    weight_type: str  # always "QInt8" (per-channel)
    reduce_range: bool
    cpu: str  # model name
    flags: tuple[str, ...]  # the relevant flags found
    reason: str

    def to_json(self) -> dict:
        """JSON-safe form for provenance."""
        d = asdict(self)
        d["flags"] = list(self.flags)
        return d


def read_cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, set[str]]:
    """(CPU model name, set of flags) from /proc/cpuinfo; empty when unreadable (non-Linux)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return platform.processor() or platform.machine(), set()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model or platform.machine(), flags


def choose_integer_kernel(machine: str | None = None, flags: set[str] | None = None, cpu: str = "") -> IntegerKernelChoice:
    """The ORT INT8 settings for this CPU (or for the given ``machine``/``flags``, for tests)."""
    if flags is None:
        cpu, flags = read_cpu_flags()
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64", "i686", "x86"):
        return IntegerKernelChoice(
            "QInt8", "QInt8", False, cpu, (), f"{machine}: non-x86 CPU; signed activations (S8S8) as ORT recommends"
        )
    vnni = tuple(f for f in VNNI_FLAGS if f in flags)
    if vnni:
        return IntegerKernelChoice(
            "QUInt8", "QInt8", False, cpu, vnni,
            f"x86 with {', '.join(vnni)}: u8*s8 products accumulate in int32, full-range weights are exact",
        )
    present = tuple(f for f in ("avx512bw", "avx2") if f in flags)
    return IntegerKernelChoice(
        "QUInt8", "QInt8", True, cpu, present,
        "x86 without VNNI: u8*s8 pair sums saturate int16 in the AVX2/AVX-512BW kernel; "
        "7-bit weights (reduce_range) avoid it at the same speed (FACTS.md §5: -5.6 dB without)",
    )
