"""`sropt quantize --fixed-shape HxW --depth-to-space transpose_conv`: same numbers, GPU-sample op form (issue 18)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.shared


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def test_transpose_conv_form_gives_the_native_files_outputs(tmp_path: Path, datasets: Path) -> None:
    from ai_edge_litert.tools import flatbuffer_utils

    from sropt.models.synth import write_synthetic_edsr
    from sropt.quantize.config import CalibrationConfig, QuantizeConfig
    from sropt.quantize.tflite_quantize import quantize_tflite

    src = write_synthetic_edsr(tmp_path / "edsr.pb", blocks=2, filters=16, scale=3, seed=0).path
    common = dict(io="uint8", fixed_shape=(12, 18), weight_rounding="nearest", equalize="off",
                  calibration=CalibrationConfig(datasets / "T91", calib_count=8))
    native = quantize_tflite(src, tmp_path / "native.tflite", QuantizeConfig("tflite", "int8", **common)).artifact
    tconv = quantize_tflite(src, tmp_path / "tconv.tflite",
                            QuantizeConfig("tflite", "int8", depth_to_space="transpose_conv", **common)).artifact
    x = np.random.default_rng(0).integers(0, 256, (1, 12, 18, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_run(tconv.path, x), _run(native.path, x))  # measured: bit-identical
    model = flatbuffer_utils.read_model(str(tconv.path))
    ops = [flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) for op in model.subgraphs[0].operators]
    assert "DEPTH_TO_SPACE" not in ops and ops.count("TRANSPOSE_CONV") == 1
    step = tconv.provenance[-1]
    assert step["fixed_shape"] == [12, 18] and step["depth_to_space"]["form"] == "transpose_conv"
    assert "depth_to_space" not in native.provenance[-1]
