"""`--target` (the deployment CPU of an ORT INT8 model): config validation and the CLI's exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from sropt.cli import main
from sropt.core.cpu_targets import CpuTarget
from sropt.core.errors import InputError
from sropt.quantize.config import QuantizeConfig

CHOICES = "portable, x86-avx2, x86-avx512, x86-avx512-vnni, arm64"


def test_onnx_int8_defaults_to_portable_and_other_modes_have_no_target() -> None:
    assert QuantizeConfig("onnx", "int8").cpu_target is CpuTarget.PORTABLE
    assert QuantizeConfig("onnx", "int8", cpu_target="x86-avx512-vnni").cpu_target is CpuTarget.X86_AVX512_VNNI
    assert QuantizeConfig("onnx", "fp16").cpu_target is None
    assert QuantizeConfig("tflite", "int8").cpu_target is None


def test_target_outside_ort_int8_is_refused() -> None:
    with pytest.raises(InputError, match=r"--target arm64 applies to --to onnx --mode int8 only \(got --to tflite --mode int8\)"):
        QuantizeConfig("tflite", "int8", cpu_target="arm64")


def test_cli_unknown_target_exits_2_with_the_choices(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not read: the option is checked first")
    code = main(["quantize", str(model), "--to", "onnx", "--mode", "int8", "--target", "x86-sse4", "-o", str(tmp_path / "q.onnx")])
    err = capsys.readouterr().err
    assert code == 2
    assert "'x86-sse4' is not one of " + ", ".join(f"'{c}'" for c in CHOICES.split(", ")) in " ".join(err.split())
    assert not (tmp_path / "q.onnx").exists()


def test_cli_help_lists_the_targets(capsys) -> None:
    assert main(["quantize", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for name in CHOICES.split(", "):
        assert name in out
    assert "--target x86-avx512-vnni" in out  # the example
