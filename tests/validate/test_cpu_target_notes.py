"""Report notes for ORT INT8 artifacts: the target, its settings and reason, and a foreign-CPU warning."""

from __future__ import annotations

from sropt.core.cpu_targets import CpuTarget
from sropt.validate.cpu_target_notes import cpu_target_notes
from sropt.validate.report import render_markdown
from sropt.validate.results import ValidationReport, ValidationResult

STEP = {
    "stage": "quantize", "format": "onnx", "mode": "int8", "cpu_target": "x86-avx512-vnni",
    "activation_type": "QUInt8", "reduce_range": False,
    "kernel_choice": {"target": "x86-avx512-vnni", "reason": "VNNI accumulates in int32"},
}
PROVENANCE = ({"stage": "export", "format": "onnx"}, STEP)


def test_target_settings_and_reason_on_a_cpu_of_the_target_class() -> None:
    notes = cpu_target_notes(PROVENANCE, host=("Xeon 8480", CpuTarget.X86_AVX512_VNNI))
    assert notes == ["ORT INT8 built for target x86-avx512-vnni: activations QUInt8, reduce_range=False (VNNI accumulates in int32)"]


def test_another_cpu_class_says_whose_numbers_these_are() -> None:
    notes = cpu_target_notes(PROVENANCE, host=("AMD EPYC 7B13", CpuTarget.X86_AVX2))
    assert notes[1] == ("measured on AMD EPYC 7B13 (x86-avx2), not an x86-avx512-vnni CPU: these numbers are what "
                        "this CPU's ORT kernels do with the model, not what the target's will")


def test_portable_is_measured_as_deployed_anywhere_and_deviation_is_repeated() -> None:
    step = {**STEP, "cpu_target": "portable", "reduce_range": True,
            "kernel_choice": {"reason": "safe on every CPU", "deviation": {"note": "re-quantized"}}}
    assert cpu_target_notes([step], host=("riscv", None)) == [
        "ORT INT8 built for target portable: activations QUInt8, reduce_range=True (safe on every CPU)",
        "quantize: re-quantized",
    ]
    assert cpu_target_notes([{"stage": "quantize", "format": "tflite"}], host=("x", None)) == []


def test_report_md_lists_each_artifacts_notes_once() -> None:
    rows = [ValidationResult("q.onnx", rt, "Set5", 3, "matlab-bicubic", label="q.onnx", notes=["target x"]) for rt in ("ort", "opencv")]
    md = render_markdown(ValidationReport(environment={}, config={}, results=rows))
    assert md.count("- q.onnx: target x") == 1 and "## Notes" in md
