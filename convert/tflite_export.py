"""Frozen SR graph -> TFLite (float32), and the LiteRT load check every .tflite gets.

Plain format conversion lives here so validation can use it without the
quantize stage; ``sropt.quantize`` builds its fp16/dynamic/INT8 converters on
the same ``make_converter``. Choices, each from FACTS.md §3/§5:

* quint8 ``Dequantize`` weights are folded to float32 first (the converter
  cannot read MIN_FIRST Dequantize).
* The input is declared ``[1, None, None, C]``: a model converted with a fixed
  shape fails to resize in XNNPACK for some graphs, so H/W stay dynamic unless
  the caller asks for fixed shapes. GPU and NNAPI delegates want the fixed
  shape: they compile the graph for the current shape, often costing more
  than one inference, and compile again on every resize (a TFLite
  maintainer in tensorflow/tensorflow#38036).
* The output is the NHWC tensor before the zoo's final NCHW Transpose
  (TFLite is NHWC-native; the Transpose would be a wasted op), so TFLite
  artifacts have ``output_layout == "NHWC"``.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.atomic import atomic_path, check_writable
from sropt.convert.tflite_tensors import quantize_tensor
from sropt.core.errors import InputError, StageError

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef

    from sropt.convert.analysis import GraphInfo
    from sropt.convert.frozen import FrozenGraph

# Input size of the one-off run that proves a written artifact loads; H != W
# so a swapped height/width would fail the output-shape check.
SMOKE_SIZE = (13, 17)


@dataclass
class PreparedGraph:
    """A frozen graph ready for a converter: folded weights, NHWC output node."""

    source: "FrozenGraph"
    graph_def: "GraphDef"
    input_name: str
    output_nhwc: str  # the tensor before the final NCHW Transpose (or the output itself)
    channels: int
    steps: list[dict[str, Any]]  # provenance of the in-memory rewrites


def load_source(model: "FrozenGraph | str | Path") -> "FrozenGraph":
    """A FrozenGraph from a FrozenGraph or a .pb path (registry names: sropt.models.resolve_model)."""
    from sropt.convert.frozen import FrozenGraph, load_frozen_graph

    return model if isinstance(model, FrozenGraph) else load_frozen_graph(model)


def prepare_graph(model: "FrozenGraph | str | Path") -> PreparedGraph:
    """Fold quint8 weights and find the NHWC output, without changing what the graph computes."""
    from sropt.convert.fold import fold_dequantize

    source = load_source(model)
    info = source.info
    steps: list[dict[str, Any]] = []
    graph_def = source.graph_def
    if info.dequantize_nodes:
        graph_def = fold_dequantize(graph_def)
        steps.append({"stage": "fold-dequantize", "nodes": info.dequantize_nodes})
    by_name = {n.name: n for n in graph_def.node}
    main = by_name[info.main_output]
    output = main.input[0].split(":")[0] if source.artifact.output_layout == "NCHW" else main.name
    return PreparedGraph(source, graph_def, info.inputs[0], output, info.input_channels, steps)


def make_converter(prepared: PreparedGraph, fixed_shape: tuple[int, int] | None = None):
    """A ``TFLiteConverter`` (TF1 frozen-graph front end) for ``prepared``, float32 settings."""
    import tensorflow as tf

    h, w = fixed_shape if fixed_shape else (None, None)
    with tempfile.TemporaryDirectory(prefix="sropt-tflite-") as tmp:
        # from_frozen_graph only reads a file; it parses it here, so the
        # temporary copy may disappear right after.
        pb = Path(tmp) / "graph.pb"
        pb.write_bytes(prepared.graph_def.SerializeToString(deterministic=True))
        return tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
            str(pb),
            [prepared.input_name],
            [prepared.output_nhwc],
            input_shapes={prepared.input_name: [1, h, w, prepared.channels]},
        )


def run_converter(converter, source: Path | str) -> bytes:
    """``converter.convert()``; a failure becomes one StageError naming every unsupported op."""
    try:
        return converter.convert()
    except Exception as exc:  # ConverterError, ValueError, RuntimeError from MLIR
        message = str(exc)
        ops = sorted(set(re.findall(r"\btf\.([A-Za-z0-9_]+)", message)))
        if ops:
            raise StageError(
                f"{source}: the TFLite converter does not support {len(ops)} op(s) of this graph. "
                "Remove or replace them before converting (sropt handles the dnn_superres zoo ops).",
                problems=[f"unsupported op: {op}" for op in ops],
            ) from exc
        first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
        raise StageError(f"{source}: the TFLite converter failed: {first}") from exc


def check_fixed_shape(fixed_shape: tuple[int, int] | None, info: "GraphInfo | None" = None) -> None:
    """InputError unless ``fixed_shape`` is None or two positive ints the model (``info``) can take.

    With ``info``: H and W must be multiples of the model's downsampling
    factor (1 for the zoo: every conv has stride 1), and the estimated
    activation memory at that size must fit in this machine's available
    memory, since the written model is run once at that size before it gets
    its name (``run_tflite_once``).
    """
    if fixed_shape is None:
        return
    if len(fixed_shape) != 2 or any(int(v) <= 0 for v in fixed_shape):
        raise InputError(f"--fixed-shape {fixed_shape}: give the input height and width as HxW, e.g. 96x96.")
    if info is None:
        return
    h, w = (int(v) for v in fixed_shape)
    multiple = required_multiple(info)
    if h % multiple or w % multiple:
        raise InputError(f"--fixed-shape {h}x{w}: this model downsamples by {multiple} inside, so H and W must be "
                         f"multiples of {multiple}; e.g. {max(multiple, h // multiple * multiple)}x{max(multiple, w // multiple * multiple)}.")
    need, have = activation_bytes(info, h, w), available_memory_bytes()
    if have is not None and need > have:
        raise InputError(f"--fixed-shape {h}x{w}: running the model at that size needs about {need / 2**20:,.0f} MiB of "
                         f"activations (largest tensor x {ARENA_FACTOR}), more than the {have / 2**20:,.0f} MiB available. "
                         "Choose a smaller shape and tile larger images (apps do: e.g. 128x128).")


# The TFLite arena holds an op's input and output and the next op's output at once; 3x the
# largest activation is the estimate (XNNPACK's own packing buffers are small beside it).
ARENA_FACTOR = 3


def required_multiple(info: "GraphInfo") -> int:
    """The factor H and W must divide by: the largest downsampling of any conv's output (1 if none)."""
    lowest = min((layer.resolution for layer in info.layers), default=1.0)
    return max(1, int(round(1 / lowest))) if lowest < 1 else 1


def activation_bytes(info: "GraphInfo", h: int, w: int) -> int:
    """Estimated float32 activation memory of one run at an h x w input: ``ARENA_FACTOR`` x the largest tensor."""
    per_pixel = [layer.out_channels * layer.resolution**2 for layer in info.layers]
    per_pixel += [info.input_channels * info.scale**2]  # the output
    return int(ARENA_FACTOR * 4 * h * w * max(per_pixel))


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else free physical pages; None when unknown."""
    import os

    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def parse_hw(text: str | None, option: str = "--fixed-shape") -> tuple[int, int] | None:
    """``'96x128'`` -> (96, 128); None passes through; InputError (naming ``option``) otherwise."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
        raise InputError(f"{option} {text!r}: give the input height and width as two positive integers HxW, "
                         "e.g. 128x128.")
    return int(m.group(1)), int(m.group(2))


def write_tflite(
    data: bytes,
    out: Path | str,
    prepared: PreparedGraph,
    precision: str,
    step: dict[str, Any],
) -> Artifact:
    """Write ``data`` atomically after it ran once in LiteRT; write the sidecar; return the Artifact."""
    out = Path(out)
    if out.suffix.lower() != ".tflite":
        raise InputError(f"{out}: name the TFLite output *.tflite.")
    from sropt.convert.tflite_metadata import INPUT_NAME, OUTPUT_NAME, finish_tflite

    source = prepared.source.artifact
    artifact = source.derive(
        out,
        ArtifactKind.TFLITE,
        {**step, "steps": prepared.steps} if prepared.steps else step,
        precision=precision,
        input_name=INPUT_NAME,
        output_name=OUTPUT_NAME,
        output_layout="NHWC",
    )
    # Names, signature and metadata for app developers (issue 18); the load check runs on the final bytes.
    data, io = finish_tflite(data, artifact, out.stem)
    artifact = dataclasses.replace(artifact, io_tensors=io)
    with atomic_path(out, inputs=(source.path,)) as tmp:
        tmp.write_bytes(data)
        # Prove the bytes load and run before they get the final name.
        run_tflite_once(tmp, prepared.channels, source.scale, fixed_shape=step.get("fixed_shape"))
    artifact.write_sidecar()
    return artifact


def export_tflite(
    model: "FrozenGraph | str | Path", out: Path | str, fixed_shape: tuple[int, int] | None = None,
    depth_to_space: str = "native",
) -> Artifact:
    """Convert a frozen SR graph to a float32 .tflite (dynamic H/W unless ``fixed_shape``).

    ``depth_to_space="transpose_conv"`` writes DepthToSpace as a fixed
    TRANSPOSE_CONV (``sropt.convert.tflite_depth_to_space``; needs ``fixed_shape``).
    """
    from sropt.convert.tflite_depth_to_space import apply_depth_to_space, check_depth_to_space, parse_depth_to_space

    form = parse_depth_to_space(depth_to_space)
    check_fixed_shape(fixed_shape)
    check_depth_to_space(form, fixed_shape)
    prepared = prepare_graph(model)
    check_fixed_shape(fixed_shape, prepared.source.info)
    check_writable(Path(out), inputs=(prepared.source.artifact.path,), what="TFLite export")  # before the conversion
    converter = make_converter(prepared, fixed_shape)
    data = run_converter(converter, prepared.source.artifact.path)
    step = {"stage": "export", "format": "tflite", "mode": "float32", "io": "float",
            "input_shape": [1, *(fixed_shape or ("H", "W")), prepared.channels]}
    if fixed_shape:
        step["fixed_shape"] = list(fixed_shape)
    return write_tflite(apply_depth_to_space(data, form, step), out, prepared, "float32", step)


def run_tflite_once(
    path: Path | str, channels: int, scale: int, fixed_shape: tuple[int, int] | list[int] | None = None
) -> np.ndarray:
    """Load ``path`` in ai_edge_litert, run one input, check the output shape; StageError otherwise."""
    from ai_edge_litert.interpreter import Interpreter

    h, w = fixed_shape if fixed_shape else SMOKE_SIZE
    try:
        interp = Interpreter(model_path=str(path))
        inp = interp.get_input_details()[0]
        if not fixed_shape:
            interp.resize_tensor_input(inp["index"], [1, h, w, channels], strict=False)
        interp.allocate_tensors()
        inp = interp.get_input_details()[0]
        x = np.random.default_rng(0).random((1, h, w, channels), dtype=np.float32)
        interp.set_tensor(inp["index"], quantize_tensor(x, inp))
        interp.invoke()
        out = interp.get_output_details()[0]
        y = interp.get_tensor(out["index"])
    except Exception as exc:
        raise StageError(f"{path}: the written TFLite model did not load and run in LiteRT: {exc}") from exc
    expected = (1, h * scale, w * scale, channels)
    if tuple(y.shape) != expected:
        raise StageError(f"{path}: LiteRT output shape {tuple(y.shape)} for a [1,{h},{w},{channels}] input; expected {expected}.")
    return y
