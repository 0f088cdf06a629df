"""ONNX Runtime INT8 (QDQ, per-channel) and fp16: structure, quality, CPU-based kernel choice, loadability."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sropt.core.errors import InputError

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def espcn_onnx(shared_models: Path, tmp_path_factory: pytest.TempPathFactory):
    from sropt.convert.onnx_export import export_onnx

    return export_onnx(shared_models / "ESPCN_x3.pb", tmp_path_factory.mktemp("onnx") / "espcn.onnx")


def _config(mode: str, datasets: Path):
    from sropt.quantize.config import CalibrationConfig, QuantizeConfig

    return QuantizeConfig("onnx", mode, calibration=CalibrationConfig(datasets / "T91", count=8), budget_images=3)


def test_int8_is_per_channel_qdq_and_close_to_float(espcn_onnx, datasets: Path, tmp_path: Path) -> None:
    import onnx

    from sropt.quantize.cpu_features import choose_integer_kernel
    from sropt.quantize.onnx_quantize import quantize_onnx

    result = quantize_onnx(espcn_onnx.path, tmp_path / "q.onnx", _config("int8", datasets))
    model = onnx.load(str(tmp_path / "q.onnx"))
    ops = Counter(n.op_type for n in model.graph.node)
    assert ops["Conv"] == 3 and ops["QuantizeLinear"] >= 3 and ops["DequantizeLinear"] >= 6
    # Per-channel weights: each Conv weight's DequantizeLinear has a scale vector of out_channels.
    inits = {i.name: i for i in model.graph.initializer}
    weight_scales = [
        onnx.numpy_helper.to_array(inits[n.input[1]]) for n in model.graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in inits
        and onnx.numpy_helper.to_array(inits[n.input[0]]).ndim == 4
    ]
    assert sorted(s.size for s in weight_scales) == [9, 32, 64]
    # The choice follows this machine's CPU flags and is recorded.
    expected = choose_integer_kernel()
    step = result.artifact.provenance[-1]
    assert step["activation_type"] == expected.activation_type
    assert step["kernel_choice"]["flags"] == list(expected.flags)
    assert step["reduce_range"] == (expected.reduce_range or bool(result.notes))
    # Verified drop on calibration-folder images (no saturation: well under 1 dB).
    assert result.psnr_drop is not None and 0.0 <= result.psnr_drop < 0.6
    assert step["check"]["psnr_drop_db"] == round(result.psnr_drop, 4)
    assert result.artifact.precision == "int8" and result.artifact.size_bytes < 0.4 * espcn_onnx.size_bytes


def test_fp16_matches_float(espcn_onnx, datasets: Path, tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    from sropt.quantize.onnx_quantize import quantize_onnx

    result = quantize_onnx(espcn_onnx.path, tmp_path / "h.onnx", _config("fp16", datasets))
    model = onnx.load(str(result.artifact.path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # keep_io_types
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)
    x = np.random.default_rng(0).random((1, 1, 12, 17), dtype=np.float32)

    def run(path: Path) -> np.ndarray:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return sess.run(None, {sess.get_inputs()[0].name: x})[0]

    assert np.abs(run(result.artifact.path) - run(espcn_onnx.path)).max() < 5e-3
    assert result.artifact.provenance[-1]["mode"] == "fp16"


def test_opencv_loads_the_int8_model(espcn_onnx, datasets: Path, tmp_path: Path) -> None:
    import cv2

    from sropt.quantize.onnx_quantize import quantize_onnx

    quantize_onnx(espcn_onnx.path, tmp_path / "q.onnx", _config("int8", datasets))
    net = cv2.dnn.readNetFromONNX(str(tmp_path / "q.onnx"))
    net.setInput(np.random.default_rng(1).random((1, 1, 10, 14), dtype=np.float32))
    assert net.forward().shape == (1, 1, 30, 42)


def test_tiny_edsr_from_pb_exports_then_quantizes(tmp_path: Path, datasets: Path) -> None:
    """A .pb given to --to onnx is exported first; the export step stays in provenance."""
    from sropt.models.synth import write_synthetic_edsr
    from sropt.quantize.onnx_quantize import quantize_onnx

    src = write_synthetic_edsr(tmp_path / "edsr.pb", blocks=2, filters=16, scale=3, seed=0).path
    result = quantize_onnx(src, tmp_path / "q.onnx", _config("int8", datasets))
    stages = [s["stage"] for s in result.artifact.provenance]
    assert stages == ["synth", "export", "quantize"]
    assert result.artifact.family.value == "edsr"


def test_bad_onnx_inputs(espcn_onnx, tmp_path: Path, datasets: Path) -> None:
    from sropt.quantize.onnx_quantize import quantize_onnx

    bare = tmp_path / "bare.onnx"
    bare.write_bytes(espcn_onnx.path.read_bytes())
    with pytest.raises(InputError, match="has no sidecar bare.onnx.sropt.json"):
        quantize_onnx(bare, tmp_path / "q.onnx", _config("int8", datasets))
    with pytest.raises(InputError, match="no such ONNX file"):
        quantize_onnx(tmp_path / "missing.onnx", tmp_path / "q.onnx", _config("int8", datasets))
    with pytest.raises(InputError, match=r"name the ONNX output \*\.onnx"):
        quantize_onnx(espcn_onnx.path, tmp_path / "q.tflite", _config("int8", datasets))
    with pytest.raises(InputError, match="output would overwrite the input model"):
        quantize_onnx(espcn_onnx.path, espcn_onnx.path, _config("fp16", datasets))
