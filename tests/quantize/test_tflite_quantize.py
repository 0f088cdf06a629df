"""TFLite quantization: every mode loads and runs in LiteRT, INT8 keeps quality, I/O types, sidecars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sropt.core.errors import InputError

pytestmark = pytest.mark.shared

CALIB_CROPS = 8  # few crops keep tests fast; the numbers in docs/quantize.md use 64


def _config(mode: str, datasets: Path, **kw):
    from sropt.quantize.config import CalibrationConfig, QuantizeConfig

    return QuantizeConfig("tflite", mode, calibration=CalibrationConfig(datasets / "T91", calib_count=CALIB_CROPS), **kw)


def _set5_psnr(artifact, datasets: Path, images: int = 2) -> float:
    """Mean Y-PSNR (FACTS.md §4 protocol) on 192px centre crops of the first Set5 images."""
    from sropt.quantize.quality import load_budget_pairs, predictor_mean_psnr
    from sropt.validate.runners import get_runner

    pairs = load_budget_pairs(sorted((datasets / "Set5").glob("*.png")), artifact.scale, images)
    runner = get_runner("tflite" if artifact.kind.value == "tflite" else "tf")().load(artifact, None)
    return predictor_mean_psnr(runner.predict, pairs, artifact.contract, artifact.scale)


@pytest.fixture(scope="module")
def espcn_float(shared_models: Path, tmp_path_factory: pytest.TempPathFactory):
    from sropt.convert.tflite_export import export_tflite

    return export_tflite(shared_models / "ESPCN_x3.pb", tmp_path_factory.mktemp("f") / "espcn.tflite")


def test_int8_espcn_quality_and_ops(shared_models: Path, datasets: Path, espcn_float, tmp_path: Path) -> None:
    from collections import Counter

    from ai_edge_litert.interpreter import Interpreter

    from sropt.quantize.tflite_quantize import quantize_tflite

    result = quantize_tflite(shared_models / "ESPCN_x3.pb", tmp_path / "q.tflite", _config("int8", datasets))
    ops = Counter(o["op_name"] for o in Interpreter(model_path=str(tmp_path / "q.tflite"))._get_ops_details())
    assert ops["CONV_2D"] == 3 and ops["QUANTIZE"] == 1 and ops["DEQUANTIZE"] == 1  # int8 inside, float I/O
    # Weights shrink about 4x (92 KB float -> ~28 KB).
    assert result.artifact.size_bytes < 0.35 * espcn_float.size_bytes
    float_psnr = _set5_psnr(espcn_float, datasets)
    drop = float_psnr - _set5_psnr(result.artifact, datasets)
    # Measured 34.44 dB float and a 0.30 dB drop on these two 192px crops with
    # 8 calibration crops (0.16 dB on full Set5 with the default 64 crops).
    assert 34.2 < float_psnr < 34.7
    assert 0.1 < drop < 0.5
    step = result.artifact.provenance[-1]
    assert step["mode"] == "int8" and step["calibration"]["crops"] == CALIB_CROPS
    assert step["calibration"]["dataset"] == "T91"


@pytest.mark.parametrize("mode,tolerance", [("fp16", 2e-3), ("dynamic", 0.05), ("int16x8", 0.05)])
def test_other_modes_stay_close_to_float(mode: str, tolerance: float, shared_models: Path, datasets: Path,
                                         espcn_float, tmp_path: Path) -> None:
    """Mean abs difference to float32 on a real LR image, 0..1 scale."""
    from sropt.core.artifacts import Artifact
    from sropt.quantize.tflite_quantize import quantize_tflite
    from sropt.validate.imageio import read_image
    from sropt.validate.runners import get_runner

    result = quantize_tflite(shared_models / "ESPCN_x3.pb", tmp_path / "q.tflite", _config(mode, datasets))
    assert result.artifact.precision == mode
    side = Artifact.from_sidecar(tmp_path / "q.tflite")
    assert side is not None and side.precision == mode and side.output_layout == "NHWC"
    lr = read_image(sorted((datasets / "Set5").glob("*.png"))[0]).bgr[:40, :56]
    x = result.artifact.contract.preprocess(lr)
    ref = get_runner("tflite")().load(espcn_float, None).predict(x)
    got = get_runner("tflite")().load(result.artifact, None).predict(x)
    assert got.shape == ref.shape == (1, 120, 168, 1)
    assert np.abs(got - ref).mean() < tolerance
    if mode == "int16x8":
        assert "TFLITE_BUILTINS" in result.artifact.provenance[-1]["fallback_ops"]


@pytest.mark.parametrize("io,dtype", [("uint8", np.uint8), ("int8", np.int8)])
def test_integer_io(io: str, dtype: type, shared_models: Path, datasets: Path, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from sropt.quantize.tflite_quantize import quantize_tflite

    quantize_tflite(shared_models / "FSRCNN-small_x3.pb", tmp_path / "q.tflite", _config("int8", datasets, io=io))
    interp = Interpreter(model_path=str(tmp_path / "q.tflite"))
    assert interp.get_input_details()[0]["dtype"] == dtype
    assert interp.get_output_details()[0]["dtype"] == dtype


def test_fsrcnn_int8_uses_prelu_and_records_rewrite(shared_models: Path, datasets: Path, tmp_path: Path) -> None:
    from collections import Counter

    from ai_edge_litert.interpreter import Interpreter

    from sropt.quantize.tflite_quantize import quantize_tflite

    result = quantize_tflite(shared_models / "FSRCNN-small_x3.pb", tmp_path / "q.tflite", _config("int8", datasets))
    ops = Counter(o["op_name"] for o in Interpreter(model_path=str(tmp_path / "q.tflite"))._get_ops_details())
    assert ops["PRELU"] == 4  # every PReLU of FSRCNN-small (see test_rewrite_prelu)
    assert {"stage": "rewrite", "rewrite": "prelu-relu-form", "count": 4} in result.artifact.provenance[-1]["steps"]


def test_tiny_edsr_int8_and_fixed_shape(tmp_path: Path, datasets: Path) -> None:
    """quint8 EDSR layout: folded, INT8, fixed 16x24 input recorded and honoured."""
    from ai_edge_litert.interpreter import Interpreter

    from sropt.models.synth import write_synthetic_edsr
    from sropt.quantize.tflite_quantize import quantize_tflite

    src = write_synthetic_edsr(tmp_path / "edsr.pb", blocks=2, filters=16, scale=2, seed=0).path
    result = quantize_tflite(src, tmp_path / "q.tflite", _config("int8", datasets, fixed_shape=(16, 24)))
    detail = Interpreter(model_path=str(result.artifact.path)).get_input_details()[0]
    assert list(detail["shape_signature"]) == [1, 16, 24, 3]
    step = result.artifact.provenance[-1]
    assert step["fixed_shape"] == [16, 24] and step["steps"][0]["stage"] == "fold-dequantize"
    assert result.artifact.provenance[0]["stage"] == "synth"


def test_calibration_problems_leave_nothing_behind(shared_models: Path, tmp_path: Path) -> None:
    from sropt.quantize.config import CalibrationConfig, QuantizeConfig
    from sropt.quantize.tflite_quantize import quantize_tflite

    (tmp_path / "calib").mkdir()
    cfg = QuantizeConfig("tflite", "int8", calibration=CalibrationConfig(tmp_path / "calib", calib_count=4))
    with pytest.raises(InputError, match="the folder holds no images"):
        quantize_tflite(shared_models / "ESPCN_x3.pb", tmp_path / "q.tflite", cfg)
    assert not list(tmp_path.glob("*q.tflite*"))


def test_onnx_input_is_refused(tmp_path: Path, datasets: Path) -> None:
    from sropt.quantize.tflite_quantize import quantize_tflite

    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"not used")
    with pytest.raises(InputError, match=r"needs a frozen TensorFlow graph \(.pb\)"):
        quantize_tflite(onnx_file, tmp_path / "q.tflite", _config("int8", datasets))
