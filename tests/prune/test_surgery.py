"""Surgery: identity at ratio 0, exact params/MACs, quint8 re-store, sidecar, consumers accept the result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sropt.convert import load_frozen_graph
from sropt.core.artifacts import sidecar_path
from sropt.prune import PruneConfig, prune_model
from tests.graphs_tiny import frozen_graph_output


def _edsr_input(h: int = 12, w: int = 17) -> np.ndarray:
    # BGR minus the DIV2K mean, on the 0..255 scale; H != W to catch a swapped axis.
    return np.random.default_rng(0).uniform(-110, 140, (1, h, w, 3)).astype(np.float32)


@pytest.mark.parametrize("scope", ["inner", "all"])
def test_ratio_zero_reproduces_the_edsr_output(tiny_edsr_quint8: Path, tmp_path: Path, scope: str) -> None:
    out = tmp_path / "same.pb"
    prune_model(tiny_edsr_quint8, PruneConfig(ratio=0.0, scope=scope), out)
    x = _edsr_input()
    diff = np.abs(frozen_graph_output(out, x) - frozen_graph_output(tiny_edsr_quint8, x)).max()
    assert diff <= 1e-5  # output on the 0..255 scale; weights were folded exactly


@pytest.mark.parametrize("name", ["FSRCNN_x3", "ESPCN_x3"])
def test_ratio_zero_reproduces_the_zoo_output(shared_models: Path, tmp_path: Path, name: str) -> None:
    out = tmp_path / f"{name}.pb"
    prune_model(shared_models / f"{name}.pb", PruneConfig(ratio=0.0), out)
    x = np.random.default_rng(1).uniform(0, 1, (1, 14, 19, 1)).astype(np.float32)
    diff = np.abs(frozen_graph_output(out, x) - frozen_graph_output(shared_models / f"{name}.pb", x)).max() * 255.0
    assert diff <= 1e-5


def _edsr_cost(F: int, inner: int, trunk: int, scale: int = 3, blocks: int = 2) -> tuple[int, int]:
    """Params and MACs/pixel of the EDSR layout, written out from the kept channel counts."""
    out_ch = 3 * scale * scale
    convs = [(3, trunk)]  # head: 3 -> trunk
    for _ in range(blocks):
        convs += [(trunk, inner), (inner, trunk)]
    convs += [(trunk, trunk), (trunk, out_ch)]  # resFilter_two, resFilter_three
    macs = sum(9 * cin * cout for cin, cout in convs)
    params = macs + sum(cout for _, cout in convs)  # + biases (rank-0 scalars such as 0.1 are not params)
    return params, macs


@pytest.mark.parametrize(("scope", "ratio", "round_to", "inner", "trunk"), [
    ("inner", 0.25, 1, 12, 16),
    ("trunk", 0.5, 1, 16, 8),
    ("all", 0.3, 8, 8, 8),  # 16 * 0.7 = 11.2 -> 11 -> nearest multiple of 8 is 8
])
def test_pruned_cost_matches_kept_channel_counts(tiny_edsr: Path, tmp_path: Path, scope: str, ratio: float,
                                                  round_to: int, inner: int, trunk: int) -> None:
    out = tmp_path / "p.pb"
    result = prune_model(tiny_edsr, PruneConfig(ratio=ratio, scope=scope, round_to=round_to,
                                                 compensation="none"), out)
    params, macs = _edsr_cost(16, inner, trunk)
    assert (result.after.params, result.after.macs_per_pixel) == (params, macs)
    assert (result.before.params, result.before.macs_per_pixel) == _edsr_cost(16, 16, 16)
    kept = {g.name: g.kept for g in result.groups}
    assert kept["block0.inner"] == kept["block1.inner"] == inner and kept["trunk"] == trunk
    # The graph keeps its interface: same input/output names, x3 output of a non-square input.
    loaded = load_frozen_graph(out)
    assert (loaded.info.inputs, loaded.info.outputs) == (["IteratorGetNext"], ["NCHW_output"])
    assert loaded.predict(_edsr_input()).shape == (1, 36, 51, 3)


def test_quint8_store_matches_the_release_layout_and_shrinks_the_file(tiny_edsr_quint8: Path, tmp_path: Path) -> None:
    f32, q8 = tmp_path / "f32.pb", tmp_path / "q8.pb"
    cfg = dict(ratio=0.25, scope="inner", compensation="none")
    prune_model(tiny_edsr_quint8, PruneConfig(**cfg), f32)
    result = prune_model(tiny_edsr_quint8, PruneConfig(**cfg, store="quint8"), q8)
    info = load_frozen_graph(q8).info
    # Block filters 3x3x32x24 and 3x3x24x32 (6912 >= 1024), head 3x3x3x32 (864 < 1024) stays float,
    # resFilter_two 9216 and resFilter_three 3x3x32x27 = 7776: 4 + 2 = 6 Dequantize nodes.
    assert info.weight_storage == "quint8" and info.dequantize_nodes == 6
    assert result.artifact.precision == "quint8-weights"
    assert q8.stat().st_size < 0.4 * f32.stat().st_size
    x = _edsr_input()
    # 8-bit weights: outputs stay close to the float32 pruned graph (0..255 scale).
    assert np.abs(frozen_graph_output(q8, x) - frozen_graph_output(f32, x)).mean() < 1.0


def test_sidecar_records_provenance(tiny_edsr: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.pb"
    prune_model(tiny_edsr, PruneConfig(ratio=0.5, compensation="none"), out)
    meta = json.loads(sidecar_path(out).read_text())
    step = meta["provenance"][-1]
    assert meta["family"] == "edsr" and meta["scale"] == 3
    assert step["stage"] == "prune" and step["ratio"] == 0.5 and step["scope"] == "inner"
    assert step["kept_channels"] == {"block0.inner": 8, "block1.inner": 8}
    assert meta["provenance"][0]["stage"] == "synth"


def test_pruned_graph_runs_in_opencv_tf2onnx_and_tflite(tiny_edsr: Path, tmp_path: Path) -> None:
    """OpenCV dnn_superres, ONNX Runtime (via tf2onnx) and LiteRT match TF on the pruned graph."""
    import cv2
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    from tests.validate.exports import export_onnx, export_tflite

    out = tmp_path / "p.pb"
    prune_model(tiny_edsr, PruneConfig(ratio=0.5, scope="all", compensation="none"), out)
    x = _edsr_input(10, 13)
    ref = frozen_graph_output(out, x)  # NHWC

    sr = cv2.dnn_superres.DnnSuperResImpl_create()
    sr.readModel(str(out))
    sr.setModel("edsr", 3)
    net = cv2.dnn.readNetFromTensorflow(str(out))
    net.setInput(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    ocv = net.forward().transpose(0, 2, 3, 1)
    assert np.abs(ocv - ref).max() < 1e-2

    onnx_path = export_onnx(out, tmp_path / "p.onnx", sidecar=False)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (onnx_out,) = sess.run(None, {sess.get_inputs()[0].name: x})
    assert np.abs(onnx_out.transpose(0, 2, 3, 1) - ref).max() < 1e-2

    tfl = Interpreter(model_path=str(export_tflite(out, tmp_path / "p.tflite", sidecar=False)))
    tfl.resize_tensor_input(tfl.get_input_details()[0]["index"], list(x.shape))
    tfl.allocate_tensors()
    tfl.set_tensor(tfl.get_input_details()[0]["index"], x)
    tfl.invoke()
    lite = tfl.get_tensor(tfl.get_output_details()[0]["index"])
    assert np.abs(lite.transpose(0, 2, 3, 1) - ref).max() < 1e-2
