"""What CPU this is: model name, architecture, SIMD extensions, cores.

One reader of /proc/cpuinfo for every figure sropt records (validation
reports, baselines, stage cache keys). The model name alone is not enough:
VMs often report "Intel(R) Xeon(R) Processor", while INT8 speed and even INT8
quality depend on the SIMD extensions (VNNI, AMX), so those are recorded too.
"""

from __future__ import annotations

import os
import platform
import re
from functools import cache
from typing import Any

# SIMD extensions that select different kernels in the runtimes (x86 "flags",
# arm64 "Features"); other flags (bugs, virtualization) do not.
# sme(?!p): arm's SME, not x86's smep (a page-protection flag).
_ISA = re.compile(r"^(sse|ssse|avx|fma|f16c|amx|vnni|asimd|sve|sme(?!p)|i8mm|bf16|dotprod|fphp|neon)")


def parse_cpuinfo(text: str) -> tuple[str, list[str]]:
    """The CPU model name and the sorted SIMD extensions in /proc/cpuinfo ``text``."""
    model, isa = "", set()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        name = name.strip()
        if name == "model name" and not model:
            model = value.strip()
        elif name in ("flags", "Features"):
            isa.update(f for f in value.split() if _ISA.match(f))
    return model, sorted(isa)


#: The extensions that decide how fast INT8 and float kernels run (VNNI and AMX dot products,
#: AVX2 / AVX-512 widths, ARM dot product / matrix extensions): two machines with the same set
#: give comparable speed-ups, two with different sets do not (EDSR-T91's ORT INT8 ran at 0.21x
#: the float source with AMX, 0.66x on an AMD EPYC with VNNI and no AMX, same build).
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16", "asimd", "dotprod", "i8mm", "sve")


def speed_flags(flags: list[str] | None) -> list[str]:
    """The ``SPEED_FLAGS`` among ``flags``, in ``SPEED_FLAGS`` order."""
    return [f for f in SPEED_FLAGS if f in (flags or [])]


@cache
def machine() -> dict[str, Any]:
    """CPU model, architecture, SIMD extensions and core count of this machine."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            model, isa = parse_cpuinfo(fh.read())
    except OSError:  # not Linux
        model, isa = "", []
    return {
        "cpu": model or platform.processor() or platform.machine(),
        "machine": platform.machine(),
        "isa": isa,
        "cores": os.cpu_count(),
    }
