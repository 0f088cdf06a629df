"""pipelines.yaml `quantize.onnx[].target`: the deployment CPU reaches the stage and its step name."""

from __future__ import annotations

import pytest

from sropt.core.errors import ConfigError
from sropt.pipeline.config import parse_pipelines
from sropt.pipeline.stage_calls import _quantize_config

PIPELINE = (
    "pipelines:\n"
    "  a:\n"
    "    model: FSRCNN_x3\n"
    "    export: {onnx: {}}\n"
    "    quantize:\n"
    "      onnx:\n"
    "{entries}"
)


def _pipeline(entries: str):
    return parse_pipelines(PIPELINE.replace("{entries}", entries), "p.yaml").file.pipelines["a"]


def test_unknown_target_names_file_line_and_choices() -> None:
    with pytest.raises(ConfigError) as info:
        _pipeline("        - {mode: int8}\n        - {mode: int8, target: x86-sse4}\n")
    assert ("p.yaml:8: pipeline 'a', stage 'quantize', field 'onnx[1].target': Input should be 'portable', "
            "'x86-avx2', 'x86-avx512', 'x86-avx512-vnni' or 'arm64' (got 'x86-sse4')") in str(info.value)


def test_target_on_fp16_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"p.yaml:7: .*target applies to mode int8 only"):
        _pipeline("        - {mode: fp16, target: arm64}\n")


def test_default_is_portable_and_a_named_target_gets_its_own_step() -> None:
    p = _pipeline("        - {mode: int8}\n        - {mode: int8, target: arm64}\n        - {mode: fp16}\n")
    onnx = p.quantize.onnx
    assert [o.step_name for o in onnx] == ["quantize.onnx.int8", "quantize.onnx.int8-arm64", "quantize.onnx.fp16"]
    # What the stage is called with: the target is passed on, never left for the build CPU to pick.
    assert [_quantize_config(o, "onnx").cpu_target for o in onnx] == ["portable", "arm64", None]
