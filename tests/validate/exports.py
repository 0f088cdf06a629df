"""Test-only ONNX / TFLite exports of frozen SR graphs (independent of sropt.convert's exporters).

Made directly with tf2onnx and the TFLite converter so the runner parity
tests do not depend on the export stage they are meant to check.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sropt.core.artifacts import Artifact, ArtifactKind


def _folded(pb: Path):
    from sropt.convert.analysis import analyze_graph
    from sropt.convert.fold import fold_dequantize
    from sropt.convert.graph import read_graph_def

    gd = read_graph_def(pb)
    info = analyze_graph(gd, source=str(pb))
    return fold_dequantize(gd), info


def export_onnx(pb: Path, out: Path, *, sidecar: bool = True) -> Path:
    """tf2onnx of ``pb`` with input [1,-1,-1,C] NHWC; output = the graph's NCHW output."""
    import tf2onnx

    gd, info = _folded(pb)
    inp, outp = info.inputs[0], info.main_output
    tf2onnx.convert.from_graph_def(
        gd,
        input_names=[f"{inp}:0"],
        output_names=[f"{outp}:0"],
        shape_override={f"{inp}:0": [1, None, None, info.input_channels]},
        opset=13,
        output_path=str(out),
    )
    if sidecar:
        Artifact(out, ArtifactKind.ONNX, info.family, info.scale, input_name=f"{inp}:0", output_name=f"{outp}:0").write_sidecar()
    return out


def export_tflite(pb: Path, out: Path, *, sidecar: bool = True) -> Path:
    """Float TFLite of ``pb`` with a dynamic [1,None,None,C] input."""
    import tensorflow as tf

    gd, info = _folded(pb)
    with tempfile.TemporaryDirectory() as tmp:
        folded = Path(tmp) / "folded.pb"
        folded.write_bytes(gd.SerializeToString())
        conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
            str(folded), [info.inputs[0]], [info.main_output], input_shapes={info.inputs[0]: [1, None, None, info.input_channels]}
        )
        out.write_bytes(conv.convert())
    if sidecar:
        Artifact(out, ArtifactKind.TFLITE, info.family, info.scale).write_sidecar()
    return out


def export_tflite_int8(pb: Path, out: Path, calibration: list[Path]) -> Path:
    """Full-INT8 TFLite with int8 input and output tensors (calibrated on 48x48 crops of ``calibration``)."""
    import cv2
    import numpy as np
    import tensorflow as tf

    gd, info = _folded(pb)
    if info.input_channels != 1:
        raise ValueError("this helper calibrates Y-channel models only")

    def representative():
        for p in calibration:
            y = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2YCrCb)[:48, :48, 0].astype(np.float32) / 255
            yield [y[None, :, :, None]]

    with tempfile.TemporaryDirectory() as tmp:
        folded = Path(tmp) / "folded.pb"
        folded.write_bytes(gd.SerializeToString())
        conv = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
            str(folded), [info.inputs[0]], [info.main_output], input_shapes={info.inputs[0]: [1, None, None, 1]}
        )
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        out.write_bytes(conv.convert())
    Artifact(out, ArtifactKind.TFLITE, info.family, info.scale, precision="int8").write_sidecar()
    return out
