"""The CPU a quantized model is built for, and which of those CPUs this machine is.

ONNX Runtime's INT8 kernels differ by CPU in ways that change the numbers,
not only the speed: without VNNI, x86 multiplies u8 activations by s8
weights with ``vpmaddubsw``, whose pair sums saturate at int16, so a model
with full 8-bit weights that is exact on a VNNI CPU loses 5.6 dB on an AVX2
one (FACTS.md §5). The deployment CPU is therefore named by the user
(``sropt quantize --target``, ``quantize.onnx[].target`` in pipelines.yaml)
instead of being read off the build machine. The ORT settings per target
live with the quantizer (``sropt.quantize.cpu_features``); this module holds
the names, so validation can tell when it measures on a CPU of another class
than the one an artifact was made for.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from sropt.core.errors import InputError
from sropt.core.machine import machine


class CpuTarget(str, enum.Enum):
    """A deployment CPU class that selects ONNX Runtime's INT8 kernels."""

    PORTABLE = "portable"  # any CPU: the settings no kernel saturates with
    X86_AVX2 = "x86-avx2"  # x86-64 with AVX2, no VNNI (e.g. AMD Zen 1-3, Intel Haswell..Comet Lake)
    X86_AVX512 = "x86-avx512"  # AVX-512BW, no VNNI (e.g. Intel Skylake-SP)
    X86_AVX512_VNNI = "x86-avx512-vnni"  # AVX512-VNNI or AVX-VNNI (Cascade Lake+, Alder Lake+, Zen 4+)
    ARM64 = "arm64"  # aarch64 (Graviton, Apple silicon, Cortex-A)


DEFAULT_CPU_TARGET = CpuTarget.PORTABLE

#: x86 flags of an int32-accumulating u8*s8 dot product (no int16 saturation).
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")

_CHOICES = ", ".join(t.value for t in CpuTarget)


def parse_cpu_target(value: object, option: str = "--target") -> CpuTarget:
    """``value`` as a CpuTarget; an InputError listing the choices when it names none."""
    if isinstance(value, CpuTarget):
        return value
    try:
        return CpuTarget(str(value).strip().lower())
    except ValueError:
        raise InputError(
            f"{option} {value!r}: unknown deployment CPU; choose one of {_CHOICES} "
            f"({DEFAULT_CPU_TARGET.value}, the default, is safe on every CPU)."
        ) from None


def cpu_class(machine: str, flags: Iterable[str]) -> CpuTarget | None:
    """The named target a CPU with this architecture and these flags is; None when none fits."""
    machine, flags = machine.lower(), set(flags)
    if machine in ("aarch64", "arm64"):
        return CpuTarget.ARM64
    if machine not in ("x86_64", "amd64"):
        return None
    if flags & set(VNNI_FLAGS):
        return CpuTarget.X86_AVX512_VNNI
    if "avx512bw" in flags:
        return CpuTarget.X86_AVX512
    if "avx2" in flags:
        return CpuTarget.X86_AVX2
    return None  # pre-AVX2 x86: only portable is meant for it


def host_cpu() -> tuple[str, CpuTarget | None]:
    """This machine's CPU model name and its target class (None when no named target fits)."""
    m = machine()
    return m["cpu"], cpu_class(m["machine"], m["isa"])


def measures_other_class(target: CpuTarget | str, host: CpuTarget | None) -> bool:
    """True when numbers measured on a ``host``-class CPU are not what a ``target`` CPU does.

    ``portable`` is meant for every CPU, so any host measures it as deployed.
    """
    target = parse_cpu_target(target)
    return target is not CpuTarget.PORTABLE and target is not host


__all__ = [
    "DEFAULT_CPU_TARGET", "VNNI_FLAGS", "CpuTarget", "cpu_class", "host_cpu", "measures_other_class",
    "parse_cpu_target",
]
