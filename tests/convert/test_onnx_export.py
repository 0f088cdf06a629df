"""ONNX export: TF parity at the stated tolerances, dynamic H/W, Transpose count, loadability, bad input."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sropt.core.errors import InputError, StageError

pytestmark = pytest.mark.shared

# Issue 5: 1e-3 on the 0..255 scale (EDSR), 1e-5 on the 0..1 scale (Y models).
TOLERANCE = {3: 1e-3, 1: 1e-5}
Y_MODELS = ["ESPCN_x3", "FSRCNN_x3", "FSRCNN-small_x3", "LapSRN_x2"]
SIZES = [(11, 11), (13, 19)]  # square and H != W (catches a dim swap)


@pytest.fixture(scope="module")
def tiny_edsr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """EDSR layout at B=2/F=16, x3, with quint8 Dequantize weights (exercises folding)."""
    from sropt.models.synth import write_synthetic_edsr

    path = tmp_path_factory.mktemp("edsr") / "edsr_b2f16_x3.pb"
    write_synthetic_edsr(path, blocks=2, filters=16, scale=3, seed=1)
    return path


def _model_path(name: str, shared: Path, tiny: Path) -> Path:
    return tiny if name == "tiny-EDSR" else shared / f"{name}.pb"


def _ort_run(path: Path, x_nhwc: np.ndarray, nchw_io: bool) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = x_nhwc.transpose(0, 3, 1, 2).copy() if nchw_io else x_nhwc
    y = sess.run(None, {sess.get_inputs()[0].name: feed})[0]
    return y.transpose(0, 2, 3, 1) if nchw_io else y


@pytest.mark.parametrize("name", [*Y_MODELS, "tiny-EDSR"])
def test_onnx_matches_tf_at_two_sizes(name: str, shared_models: Path, tiny_edsr: Path, tmp_path: Path) -> None:
    import onnx

    from sropt.convert import load_frozen_graph
    from sropt.convert.onnx_export import export_onnx

    src = _model_path(name, shared_models, tiny_edsr)
    artifact = export_onnx(src, tmp_path / "m.onnx")
    model = onnx.load(str(artifact.path))
    onnx.checker.check_model(model, full_check=True)
    ops = Counter(n.op_type for n in model.graph.node)
    # NCHW layout: every Transpose of the TF graph cancels out.
    assert ops["Transpose"] == 0, ops
    assert ops["DepthToSpace"] >= 1
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_value == 1 and dims[2].dim_param and dims[3].dim_param  # H, W symbolic
    frozen = load_frozen_graph(src)
    channels = frozen.info.input_channels
    assert dims[1].dim_value == channels
    rng = np.random.default_rng(0)
    for h, w in SIZES:
        x = rng.random((1, h, w, channels), dtype=np.float32)
        if channels == 3:  # mean-subtracted BGR on the 0..255 scale
            x = x * 255.0 - 114.0
        ref = frozen.predict(x)
        got = _ort_run(artifact.path, x, nchw_io=True)
        assert got.shape == (1, h * frozen.info.scale, w * frozen.info.scale, channels)
        assert np.abs(got - ref).max() <= TOLERANCE[channels]
    assert artifact.output_layout == "NCHW"
    assert artifact.provenance[-1]["layout"] == "nchw"


def test_nhwc_layout_keeps_one_transpose_each_side(tiny_edsr: Path, tmp_path: Path) -> None:
    """NHWC I/O: exactly the input and output Transposes, none left between convolutions."""
    import onnx

    from sropt.convert import load_frozen_graph
    from sropt.convert.onnx_export import export_onnx

    artifact = export_onnx(tiny_edsr, tmp_path / "m.onnx", layout="nhwc")
    model = onnx.load(str(artifact.path))
    transposes = [n for n in model.graph.node if n.op_type == "Transpose"]
    assert len(transposes) == 2
    assert transposes[0].input[0] == model.graph.input[0].name  # at the input
    assert transposes[1].output[0] == model.graph.output[0].name  # at the output
    assert artifact.output_layout == "NHWC" and artifact.output_name == "sr_image"
    x = np.random.default_rng(1).random((1, 9, 14, 3), dtype=np.float32) * 255 - 114
    ref = load_frozen_graph(tiny_edsr).predict(x)
    assert np.abs(_ort_run(artifact.path, x, nchw_io=False) - ref).max() <= 1e-3


def test_opencv_runs_the_export(shared_models: Path, tmp_path: Path) -> None:
    """cv2.dnn reads the ONNX (DepthToSpace is a standard op there) and matches TF."""
    import cv2

    from sropt.convert import load_frozen_graph
    from sropt.convert.onnx_export import export_onnx

    src = shared_models / "ESPCN_x3.pb"
    artifact = export_onnx(src, tmp_path / "m.onnx")
    net = cv2.dnn.readNetFromONNX(str(artifact.path))
    x = np.random.default_rng(2).random((1, 10, 15, 1), dtype=np.float32)
    net.setInput(x.transpose(0, 3, 1, 2).copy())
    got = np.asarray(net.forward()).transpose(0, 2, 3, 1)
    ref = load_frozen_graph(src).predict(x)
    assert np.abs(got - ref).max() <= 1e-5


def test_sidecar_records_layout_and_folding(tiny_edsr: Path, tmp_path: Path) -> None:
    from sropt.convert.onnx_export import export_onnx
    from sropt.core.artifacts import Artifact

    export_onnx(tiny_edsr, tmp_path / "m.onnx", opset=13)
    side = Artifact.from_sidecar(tmp_path / "m.onnx")
    assert side is not None and side.family.value == "edsr" and side.scale == 3
    step = side.provenance[-1]
    assert step["opset"] == 13 and step["input_layout"] == "NCHW" and step["output_layout"] == "NCHW"
    assert step["steps"] == [{"stage": "fold-dequantize", "nodes": 6}]  # 4 block filters + resFilter_two + resFilter_three (>= 1024 elements)
    assert side.provenance[0]["stage"] == "synth"
    assert (side.input_name, side.output_name) == ("lr_image", "sr_image")


@pytest.mark.parametrize("opset", [9, 10, 19])
def test_opset_out_of_range_is_input_error(opset: int, tiny_edsr: Path, tmp_path: Path) -> None:
    from sropt.convert.onnx_export import export_onnx

    with pytest.raises(InputError, match=rf"--opset {opset}:.*use --opset 11\.\.18"):
        export_onnx(tiny_edsr, tmp_path / "m.onnx", opset=opset)
    assert not (tmp_path / "m.onnx").exists()


def test_bad_layout_and_suffix_and_overwrite(tiny_edsr: Path, tmp_path: Path) -> None:
    from sropt.convert.onnx_export import export_onnx

    with pytest.raises(InputError, match="--layout 'nchwc': choose one of nchw, nhwc"):
        export_onnx(tiny_edsr, tmp_path / "m.onnx", layout="nchwc")
    with pytest.raises(InputError, match=r"name the ONNX output \*\.onnx"):
        export_onnx(tiny_edsr, tmp_path / "m.tflite")
    before = tiny_edsr.read_bytes()
    renamed = tmp_path / "edsr.onnx"
    renamed.write_bytes(before)
    with pytest.raises(InputError, match="needs a frozen TensorFlow graph"):
        export_onnx(renamed, renamed)  # input named as the output: refused, input untouched
    assert renamed.read_bytes() == before


def _graph_with_unsupported_ops(src: Path, out: Path) -> Path:
    """The tiny EDSR with Lgamma and Digamma (TF ops no converter maps) before DepthToSpace."""
    from sropt.convert.graph import read_graph_def

    gd = read_graph_def(src)
    d2s = next(n for n in gd.node if n.op == "DepthToSpace")
    feed = d2s.input[0]
    lg = gd.node.add(name="odd/Lgamma", op="Lgamma", input=[feed])
    lg.attr["T"].type = 1
    dg = gd.node.add(name="odd/Digamma", op="Digamma", input=[lg.name])
    dg.attr["T"].type = 1
    d2s.input[0] = dg.name
    out.write_bytes(gd.SerializeToString())
    return out


def test_unsupported_ops_are_all_named_at_once(tiny_edsr: Path, tmp_path: Path) -> None:
    from sropt.convert.onnx_export import export_onnx

    bad = _graph_with_unsupported_ops(tiny_edsr, tmp_path / "odd.pb")
    with pytest.raises(StageError) as info:
        export_onnx(bad, tmp_path / "m.onnx")
    text = str(info.value)
    assert "odd/Lgamma: Lgamma" in text and "odd/Digamma: Digamma" in text
    assert not (tmp_path / "m.onnx").exists()
    assert not list(tmp_path.glob(".m.onnx*"))  # no temp file left behind
