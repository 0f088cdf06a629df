"""Frozen SR graph -> ONNX with tf2onnx, and the load checks every .onnx gets.

Layouts (``--layout``):

* ``nchw`` (default): input ``[1,C,H,W]`` (tf2onnx ``inputs_as_nchw``) and the
  zoo's own ``NCHW_output``. Every Transpose cancels in tf2onnx's transpose
  optimizer, so the graph is plain NCHW convolutions: what ONNX Runtime and
  OpenCV run fastest.
* ``nhwc``: the .pb's own input ``[1,H,W,C]`` and the NHWC tensor before the
  zoo's final Transpose. For 3-channel models that leaves one Transpose at
  the input and one at the output (ONNX convolutions are NCHW).

H and W are always dynamic. ``IteratorGetNext`` of the Y models has unknown
rank, so the input shape is given explicitly as ``[1,?,?,C]`` (FACTS.md §3).
quint8 weights are folded first (tf2onnx cannot read MIN_FIRST Dequantize).
"""

from __future__ import annotations

import enum
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sropt.convert.graph import run_graph
from sropt.convert.onnx_tidy import name_canonically, remove_identity_reshapes
from sropt.convert.tflite_export import SMOKE_SIZE, PreparedGraph, prepare_graph
from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.atomic import atomic_path, check_writable
from sropt.core.errors import InputError, StageError

if TYPE_CHECKING:
    from sropt.convert.frozen import FrozenGraph

DEFAULT_OPSET = 17
# DepthToSpace exists since opset 1, but only opset 11 defines its element
# order explicitly (mode=DCR|CRD). TF's DepthToSpace is DCR; sropt does not
# emit models whose meaning rests on a consumer's default for an unnamed mode.
MIN_OPSET = 11


class Layout(str, enum.Enum):
    """Tensor layout of the exported model's input and output."""

    NCHW = "nchw"
    NHWC = "nhwc"


def max_opset() -> int:
    """The highest ONNX opset the installed tf2onnx can target."""
    from tf2onnx import constants

    return max(constants.OPSET_TO_IR_VERSION)


def check_opset(opset: int) -> None:
    """InputError unless ``opset`` is within what DepthToSpace and tf2onnx support."""
    top = max_opset()
    if opset < MIN_OPSET:
        raise InputError(
            f"--opset {opset}: too old for these models. DepthToSpace (every SR model's upsampler) "
            f"has a defined DCR/CRD mode only from opset {MIN_OPSET}; use --opset {MIN_OPSET}..{top} "
            f"(default {DEFAULT_OPSET})."
        )
    if opset > top:
        raise InputError(f"--opset {opset}: the installed tf2onnx supports at most opset {top}; use --opset {MIN_OPSET}..{top}.")


def parse_layout(layout: "Layout | str") -> Layout:
    """``layout`` as a Layout; InputError listing the choices otherwise."""
    try:
        return Layout(str(getattr(layout, "value", layout)).lower())
    except ValueError:
        raise InputError(f"--layout {layout!r}: choose one of {', '.join(x.value for x in Layout)}.") from None


class _UnsupportedOpCollector(logging.Handler):
    """Collects tf2onnx's "op [...] is not supported" log records (it logs them, then goes on)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.unsupported: list[str] = []
        self.failed: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if "is not supported" in msg and msg.startswith("Tensorflow op"):
            self.unsupported.append(msg[len("Tensorflow op "):].split(" is not supported")[0])
        elif msg.startswith("Failed to convert node"):
            self.failed.append(msg.splitlines()[0][len("Failed to convert node "):])


@contextmanager
def _collect_tf2onnx_errors():
    handler = _UnsupportedOpCollector()
    logger = logging.getLogger("tf2onnx")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def onnx_output(prepared: PreparedGraph, layout: Layout) -> tuple[str, str]:
    """The TF node the ONNX graph ends at for ``layout``, and that output's layout."""
    if layout is Layout.NCHW:
        return prepared.source.info.main_output, prepared.source.artifact.output_layout
    return prepared.output_nhwc, "NHWC"


def convert_to_onnx(prepared: PreparedGraph, opset: int, layout: Layout):
    """Run tf2onnx on ``prepared``; return (ModelProto, output tensor name, output layout)."""
    import tf2onnx

    inp = f"{prepared.input_name}:0"
    output, out_layout = onnx_output(prepared, layout)
    source = prepared.source.artifact.path
    with _collect_tf2onnx_errors() as errors:
        try:
            model, _ = tf2onnx.convert.from_graph_def(
                prepared.graph_def,
                input_names=[inp],
                output_names=[f"{output}:0"],
                opset=opset,
                shape_override={inp: [1, None, None, prepared.channels]},
                inputs_as_nchw=[inp] if layout is Layout.NCHW else None,
            )
        except Exception as exc:
            raise StageError(
                f"{source}: tf2onnx failed to convert the graph: {exc}",
                problems=[f"unsupported op {u}" for u in errors.unsupported]
                + [f"failed node {f}" for f in errors.failed],
            ) from exc
    if errors.unsupported or errors.failed:
        raise StageError(
            f"{source}: tf2onnx cannot convert {len(errors.unsupported) + len(errors.failed)} node(s) "
            f"at opset {opset}. Replace those ops, or try another --opset.",
            problems=[f"unsupported op {u}" for u in errors.unsupported] + [f"failed node {f}" for f in errors.failed],
        )
    return model, output, out_layout


# Stable I/O names an app developer can rely on (issue 18), instead of TF internals like IteratorGetNext:0.
INPUT_TENSOR_NAME = "lr_image"
OUTPUT_TENSOR_NAME = "sr_image"


def rename_io(proto, input_name: str = INPUT_TENSOR_NAME, output_name: str = OUTPUT_TENSOR_NAME) -> None:
    """Rename the graph's single input and output (and every node reference to them) in place."""
    renames = {proto.graph.input[0].name: input_name, proto.graph.output[0].name: output_name}
    for node in proto.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for value in list(proto.graph.input) + list(proto.graph.output) + list(proto.graph.value_info):
        value.name = renames.get(value.name, value.name)


# tf2onnx 1.17's graph optimizers are not deterministic, and now and then one
# of their variants computes something else. Measured on the tiny ESPCN of
# tests/graphs_tiny.py, 45 conversions in 3 processes: 3 came out with the
# final NCHW->NHWC Transpose rewritten as Reshape(x, [1,1,0,0,1]), a rank-5
# output ONNX Runtime runs without complaint. So every conversion is run in
# ONNX Runtime against TensorFlow on the smoke input, and a wrong one is
# converted again. At 1 in 15 wrong, four attempts all fail about 1 in 50,000.
CONVERSION_ATTEMPTS = 4
# |ORT - TF| of correct conversions on the smoke input, relative to max|TF|
# (both layouts, this Xeon): 6e-7 tiny ESPCN, 6e-7 FSRCNN_x3, 5e-7 ESPCN_x3,
# 1.0e-6 LapSRN_x4, 1.1e-6 EDSR-T91-b8f64_x3. A wrong variant differs in shape
# or by O(1); 1e-4 leaves two orders of magnitude for other CPUs' kernels.
PARITY_RTOL = 1e-4


def convert_checked(prepared: PreparedGraph, opset: int, layout: Layout):
    """tf2onnx's conversion, tidied and proved equal to TensorFlow on the smoke input; (ModelProto, output layout)."""
    x = smoke_input(prepared.channels)
    (reference,) = run_graph(prepared.graph_def, {prepared.input_name: x}, [onnx_output(prepared, layout)[0]])
    problems: list[str] = []
    for _ in range(CONVERSION_ATTEMPTS):
        proto, _, out_layout = convert_to_onnx(prepared, opset, layout)
        rename_io(proto)
        # Before the checks: OpenCV rejects one of tf2onnx's variants (see onnx_tidy).
        remove_identity_reshapes(proto)
        name_canonically(proto)
        mismatch = onnx_mismatch(proto, x, reference, layout)
        if mismatch is None:
            return proto, out_layout
        problems.append(mismatch)
    raise StageError(
        f"{prepared.source.artifact.path}: tf2onnx produced a graph that disagrees with TensorFlow in "
        f"{CONVERSION_ATTEMPTS} of {CONVERSION_ATTEMPTS} conversions; nothing was written. "
        "Try another --opset or --layout, and report the model.",
        problems=problems,
    )


def smoke_input(channels: int) -> np.ndarray:
    """The fixed (1, H, W, C) float input every written ONNX file is checked on (H != W catches swapped axes)."""
    h, w = SMOKE_SIZE
    return np.random.default_rng(0).random((1, h, w, channels), dtype=np.float32)


def onnx_mismatch(proto, x_nhwc: np.ndarray, reference: np.ndarray, layout: Layout) -> str | None:
    """How ``proto`` run in onnxruntime on ``x_nhwc`` differs from TF's ``reference``; None when it agrees."""
    import onnxruntime as ort

    feed = np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)) if layout is Layout.NCHW else x_nhwc
    try:
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        y = session.run(None, {session.get_inputs()[0].name: feed})[0]
    except Exception as exc:
        return f"onnxruntime could not run it: {exc}"
    if y.shape != reference.shape:
        return f"output shape {y.shape}, TensorFlow gives {reference.shape}"
    err = float(np.max(np.abs(y - reference)))
    bound = PARITY_RTOL * max(1.0, float(np.max(np.abs(reference))))
    return None if err <= bound else f"max |onnxruntime - TensorFlow| = {err:.3g} > {bound:.3g}"


def export_onnx(
    model: "FrozenGraph | str | Path",
    out: Path | str,
    opset: int = DEFAULT_OPSET,
    layout: Layout | str = Layout.NCHW,
) -> Artifact:
    """Export a frozen SR graph to ONNX (dynamic H/W), proved to load in ORT and OpenCV."""
    import onnx

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise InputError(f"{out}: name the ONNX output *.onnx.")
    check_opset(int(opset))
    layout = parse_layout(layout)
    prepared = prepare_graph(model)
    check_writable(out, inputs=(prepared.source.artifact.path,), what="ONNX export")  # before the conversion
    proto, out_layout = convert_checked(prepared, int(opset), layout)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise StageError(f"{prepared.source.artifact.path}: the exported ONNX model fails onnx.checker: {exc}") from exc
    source = prepared.source.artifact
    with atomic_path(out, inputs=(source.path,)) as tmp:
        tmp.write_bytes(proto.SerializeToString(deterministic=True))
        run_onnx_once(tmp, prepared.channels, source.scale)
    step: dict[str, Any] = {
        "stage": "export", "format": "onnx", "tool": "tf2onnx", "opset": int(opset), "layout": layout.value,
        "input_layout": layout.value.upper(), "output_layout": out_layout,
    }
    if prepared.steps:
        step["steps"] = prepared.steps
    artifact = source.derive(
        out, ArtifactKind.ONNX, step,
        precision="float32", input_name=proto.graph.input[0].name, output_name=proto.graph.output[0].name,
        output_layout=out_layout, io_tensors=onnx_io_tensors(proto),
    )
    artifact.write_sidecar()
    return artifact


_ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 10: "float16"}


def onnx_io_tensors(proto) -> dict[str, Any]:
    """The graph's single input and output: name, dtype, shape (-1 = dynamic), as sidecars record them.

    sropt's ONNX files have float I/O (INT8 is QDQ inside the graph), so no
    scale/zero point belongs to the I/O tensors themselves.
    """
    io = {}
    for role, value in (("input", proto.graph.input[0]), ("output", proto.graph.output[0])):
        t = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
        io[role] = {"name": value.name, "dtype": _ONNX_DTYPES.get(t.elem_type, str(t.elem_type)), "shape": shape}
    return io


def onnx_file_io_tensors(path: Path | str) -> dict[str, Any]:
    """``onnx_io_tensors`` of a written file (weights not loaded)."""
    import onnx

    return onnx_io_tensors(onnx.load(str(path), load_external_data=False))


def onnx_input_is_nchw(session_input_shape: list[Any], channels: int) -> bool:
    """True when an ONNX input shape is [N,C,H,W] for a C-channel model (H/W symbolic or sized)."""
    s = list(session_input_shape)
    return len(s) == 4 and s[1] == channels and s[3] != channels


def run_onnx_once(path: Path | str, channels: int, scale: int) -> np.ndarray:
    """Load ``path`` in onnxruntime and OpenCV, run one H != W input in each, compare; StageError otherwise."""
    import cv2
    import onnxruntime as ort

    h, w = SMOKE_SIZE
    x = smoke_input(channels)
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = session.get_inputs()[0]
        nchw = onnx_input_is_nchw(meta.shape, channels)
        feed = np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if nchw else x
        y_ort = session.run(None, {meta.name: feed})[0]
    except Exception as exc:
        raise StageError(f"{path}: the written ONNX model did not load and run in onnxruntime: {exc}") from exc
    try:
        net = cv2.dnn.readNetFromONNX(str(path))
        net.setInput(feed)
        y_cv = np.asarray(net.forward())
    except Exception as exc:
        raise StageError(f"{path}: the written ONNX model did not load and run in OpenCV cv2.dnn: {exc}") from exc
    expected = {(1, channels, h * scale, w * scale), (1, h * scale, w * scale, channels)}
    for name, y in (("onnxruntime", y_ort), ("OpenCV", y_cv)):
        if tuple(y.shape) not in expected:
            raise StageError(f"{path}: {name} output shape {tuple(y.shape)} for a {h}x{w} input; expected one of {sorted(expected)}.")
    return y_ort
