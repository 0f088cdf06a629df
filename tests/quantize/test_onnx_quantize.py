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

    return QuantizeConfig("onnx", mode, calibration=CalibrationConfig(datasets / "T91", calib_count=8), budget_images=3)


def _weights_and_activations(path: Path) -> tuple[list[np.ndarray], set[str]]:
    """The quantized conv weights (integers) and the dtypes of the activation zero points of a QDQ model."""
    import onnx

    model = onnx.load(str(path))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    weights = [inits[n.input[0]] for n in model.graph.node
               if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].ndim == 4]
    activations = {inits[n.input[2]].dtype.name for n in model.graph.node
                   if n.op_type == "QuantizeLinear" and n.input[0] not in inits and len(n.input) > 2}
    return weights, activations


def _fake_build_cpu(monkeypatch, machine: str, flags: set[str]) -> None:
    """Make this machine look like another CPU to everything that reads /proc/cpuinfo."""
    import sropt.core.cpu_targets as cpu_targets

    monkeypatch.setattr(cpu_targets, "machine", lambda: {"cpu": f"fake {machine}", "machine": machine, "isa": sorted(flags)})


VNNI = ("x86_64", {"avx2", "avx512bw", "avx512_vnni"})
AVX2 = ("x86_64", {"avx2", "fma"})


def test_int8_is_per_channel_qdq_and_close_to_float(espcn_onnx, datasets: Path, tmp_path: Path) -> None:
    import onnx

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
    # The default target is portable: QUInt8 activations, 7-bit weights, whatever this CPU is.
    step = result.artifact.provenance[-1]
    assert (step["cpu_target"], step["activation_type"], step["reduce_range"]) == ("portable", "QUInt8", True)
    assert "every CPU" in step["kernel_choice"]["reason"]
    # Verified drop on calibration-folder images (no saturation: well under 1 dB).
    assert result.psnr_drop is not None and 0.0 <= result.psnr_drop < 0.6
    assert step["check"]["psnr_drop_db"] == round(result.psnr_drop, 4)
    assert result.artifact.precision == "int8" and result.artifact.size_bytes < 0.4 * espcn_onnx.size_bytes


@pytest.mark.parametrize(
    ("target", "build", "activations", "max_weight"),
    [
        # A VNNI runner used to write full-range weights for itself; portable stays 7-bit.
        ("portable", VNNI, {"uint8"}, 64),
        ("x86-avx2", VNNI, {"uint8"}, 64),
        ("x86-avx512-vnni", AVX2, {"uint8"}, 127),
        ("arm64", VNNI, {"int8"}, 127),
    ],
)
def test_the_target_not_the_build_cpu_sets_the_model(espcn_onnx, datasets: Path, tmp_path: Path, monkeypatch,
                                                     target, build, activations, max_weight) -> None:
    """Read back from the written file: activation zero-point dtype and the weights' integer range."""
    from sropt.core.cpu_targets import cpu_class
    from sropt.quantize.config import CalibrationConfig, QuantizeConfig
    from sropt.quantize.onnx_quantize import quantize_onnx
    from sropt.validate.resolve import open_artifact

    _fake_build_cpu(monkeypatch, *build)
    config = QuantizeConfig("onnx", "int8", calibration=CalibrationConfig(datasets / "T91", calib_count=8),
                            budget_images=3, cpu_target=target)
    result = quantize_onnx(espcn_onnx.path, tmp_path / "q.onnx", config)
    weights, dtypes = _weights_and_activations(tmp_path / "q.onnx")
    # Symmetric per-channel weights: each channel's largest |w| lands on the top of the grid
    # (127 at 8 bits, 64 with ORT's 7-bit reduce_range).
    assert max(int(np.abs(w).max()) for w in weights) == max_weight
    assert dtypes == activations
    step = result.artifact.provenance[-1]
    host = cpu_class(*build).value
    assert step["cpu_target"] == target and step["build_cpu"] == {"cpu": f"fake {build[0]}", "class": host}
    assert step["kernel_choice"]["reason"] and "deviation" not in step["kernel_choice"]
    notes = open_artifact(result.artifact.path).notes  # what every report row of this artifact carries
    assert notes[0].startswith(f"ORT INT8 built for target {target}: activations {step['activation_type']}, "
                               f"reduce_range={step['reduce_range']} (")
    other = target not in ("portable", host)
    assert any(n.startswith(f"measured on fake x86_64 ({host}), not an {target} CPU") for n in notes) == other
    assert any(n.startswith(f"built for {target} on fake x86_64 ({host})") for n in result.notes) == other


@pytest.mark.parametrize(("build", "requantized"), [(VNNI, True), (AVX2, False)])
def test_saturation_fallback_only_where_the_drop_is_the_targets(espcn_onnx, datasets: Path, tmp_path: Path,
                                                                monkeypatch, build, requantized) -> None:
    """A large drop re-quantizes with reduce_range (recorded) only on a CPU of the target's class."""
    import sropt.quantize.onnx_quantize as oq
    from sropt.quantize.config import CalibrationConfig, QuantizeConfig

    _fake_build_cpu(monkeypatch, *build)
    monkeypatch.setattr(oq, "SATURATION_DROP_DB", -100.0)  # every drop counts as saturation
    config = QuantizeConfig("onnx", "int8", calibration=CalibrationConfig(datasets / "T91", calib_count=8),
                            budget_images=3, cpu_target="x86-avx512-vnni")
    result = oq.quantize_onnx(espcn_onnx.path, tmp_path / "q.onnx", config)
    kernel = result.artifact.provenance[-1]["kernel_choice"]
    weights, _ = _weights_and_activations(tmp_path / "q.onnx")
    if requantized:
        deviation = kernel["deviation"]
        assert "re-quantized with reduce_range=True" in deviation["note"] and deviation["note"] in result.notes
        # Whichever measured better was kept, and the file and the record agree.
        kept_reduced = deviation["reduce_range_psnr_db"] > deviation["full_range_psnr_db"]
        assert deviation["reduce_range"] is kept_reduced and kernel["reduce_range"] is kept_reduced
        assert max(int(np.abs(w).max()) for w in weights) == (64 if kept_reduced else 127)
    else:
        assert "deviation" not in kernel and kernel["reduce_range"] is False
        assert max(int(np.abs(w).max()) for w in weights) == 127
        assert any("kept the x86-avx512-vnni settings (no reduce_range fallback" in n for n in result.notes)


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
