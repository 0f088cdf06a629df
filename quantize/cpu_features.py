"""ONNX Runtime's INT8 activation type and reduce_range for a named deployment CPU.

ORT's x86 QDQ kernels multiply uint8 activations by int8 weights. Without
VNNI (AVX2, AVX-512F/BW) the u8*s8 pair products go through ``vpmaddubsw``,
which saturates at int16: with full 8-bit weights the trained EDSR-layout
model lost 5.6 dB on an AMD EPYC (FACTS.md §5). ``reduce_range=True`` (7-bit
weights) keeps those sums in range at the same speed. With VNNI
(``avx512_vnni``, ``avx_vnni``) or AMX the products accumulate in int32
directly, so full-range QUInt8 is exact and fastest. ARM64 kernels widen
products to int32 as well; ORT recommends signed activations (S8S8) there.
ORT's own guidance says the same per CPU (``quantize_static`` docstring,
microsoft/onnxruntime#28415; ``reduce_range`` "for non-VNNI" in its API doc;
the saturation explanation in microsoft/onnxruntime#14642).

The settings follow the *target* (``sropt.core.cpu_targets.CpuTarget``), never
the CPU that runs sropt: a VNNI CI runner that picked full range for itself
wrote models that lose 5.6 dB on the AVX2 machines they were deployed to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sropt.core.cpu_targets import CpuTarget, parse_cpu_target

__all__ = ["ORT_INT8_SETTINGS", "IntegerKernelChoice", "choose_integer_kernel"]

_NO_VNNI = (
    "u8*s8 pair sums saturate int16 in the {isa} kernel (vpmaddubsw) with 8-bit weights "
    "(FACTS.md §5: -5.6 dB); 7-bit weights (reduce_range) avoid it at the same speed, as ORT recommends without VNNI"
)

#: target -> (activation type, reduce_range, why). Weights are always per-channel QInt8.
ORT_INT8_SETTINGS: dict[CpuTarget, tuple[str, bool, str]] = {
    CpuTarget.PORTABLE: (
        "QUInt8", True,
        "safe on every CPU: 7-bit weights keep non-VNNI x86's int16 pair sums from saturating; VNNI and ARM64 "
        "kernels accumulate in int32 and only lose the weights' 8th bit (EDSR-T91 on a VNNI CPU: -0.088 dB "
        "against -0.079 at full range, docs/quantize.md)",
    ),
    CpuTarget.X86_AVX2: ("QUInt8", True, "x86 AVX2 without VNNI: " + _NO_VNNI.format(isa="AVX2")),
    CpuTarget.X86_AVX512: ("QUInt8", True, "x86 AVX-512 without VNNI: " + _NO_VNNI.format(isa="AVX-512BW")),
    CpuTarget.X86_AVX512_VNNI: (
        "QUInt8", False,
        "x86 with VNNI: vpdpbusd accumulates u8*s8 in int32, so full-range weights are exact and fastest; "
        "this model saturates on x86 without VNNI",
    ),
    CpuTarget.ARM64: (
        "QInt8", False,
        "ARM64: products are widened to int32 (no int16 saturation), full-range weights; "
        "signed activations (S8S8), as ORT recommends on ARM",
    ),
}


@dataclass(frozen=True)
class IntegerKernelChoice:
    """The activation type / reduce_range used for ORT INT8, the target they are for, and why."""

    target: str  # a CpuTarget value
    activation_type: str  # "QUInt8" or "QInt8"
    weight_type: str  # always "QInt8" (per-channel)
    reduce_range: bool
    reason: str

    def to_json(self) -> dict:
        """JSON-safe form for provenance."""
        return asdict(self)


def choose_integer_kernel(target: CpuTarget | str = CpuTarget.PORTABLE) -> IntegerKernelChoice:
    """The ORT INT8 settings for deployment CPU ``target`` (an InputError listing the choices if unknown)."""
    target = parse_cpu_target(target)
    activation_type, reduce_range, reason = ORT_INT8_SETTINGS[target]
    return IntegerKernelChoice(target.value, activation_type, "QInt8", reduce_range, reason)
