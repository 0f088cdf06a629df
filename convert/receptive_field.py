"""The receptive-field margin of an SR graph, in low-resolution input pixels.

Tiled inference is exact only if every output pixel a tile keeps saw no
zero padding at the tile's edge, i.e. the tile carries at least this many LR
pixels of context on each side (``sropt.validate.tiling``). The margin is
read from the graph, never assumed per family:

* a stride-1 SAME convolution with kernel k and dilation d reaches
  ceil((k-1)*d/2) pixels on each side *at its own resolution*;
* DepthToSpace(b) multiplies the resolution by b and reaches nothing;
* element-wise ops reach nothing; a join (Add of a residual) takes the larger
  margin of its inputs (the longest path).

A conv at resolution r reaches ``reach / r`` LR pixels, and the margin is the
ceiling of the largest such sum over any path. Rounding once at the end is
exact, not a bound: an output pixel ``b*i + j`` of DepthToSpace(b) followed by
``m`` pixels of context depends on LR pixels ``i - ceil(m/b) .. i + ceil(m/b)``,
and ceil((n + ceil(x))/b) = ceil((n + x)/b) for integer n, b.

Frozen graphs, ONNX and TFLite files each get a small adapter to one list of
``SpatialNode`` so the walk is written once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sropt.core.artifacts import ArtifactKind
from sropt.core.errors import UnsupportedModelError

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef


@dataclass(frozen=True)
class SpatialNode:
    """One op as the margin walk sees it.

    ``reach`` is the context in pixels on each side at the op's resolution
    (None: an op whose spatial effect is unknown), ``upscale`` the factor it
    multiplies the resolution by (DepthToSpace block size).
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    reach: int | None = 0
    upscale: int = 1


# Ops that map each pixel to itself (possibly mixing channels). Reshape-like
# ops are listed because the exporters use them around DepthToSpace on data
# whose spatial layout they keep.
POINTWISE_OPS = frozenset(
    {
        # TensorFlow
        "Relu", "Relu6", "Mul", "Add", "AddV2", "Sub", "BiasAdd", "Abs", "Tanh", "Sigmoid", "Identity",
        "Transpose", "Maximum", "Minimum", "Neg", "LeakyRelu", "Prelu", "RealDiv", "Square", "Exp",
        # ONNX
        "Div", "PRelu", "Max", "Min", "Clip", "Reshape", "Squeeze", "Unsqueeze", "Cast",
        "QuantizeLinear", "DequantizeLinear", "Pow", "Sqrt",
        # TFLite
        "ADD", "MUL", "SUB", "DIV", "RELU", "RELU6", "ABS", "TANH", "LOGISTIC", "TRANSPOSE", "PRELU",
        "QUANTIZE", "DEQUANTIZE", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "MAXIMUM", "MINIMUM", "NEG",
        "LEAKY_RELU", "CAST", "SQUARE", "EXP",
    }
)


def same_conv_reach(kernel: tuple[int, int], dilation: tuple[int, int]) -> int:
    """Pixels of context on each side of a stride-1 SAME conv (the larger side when the padding is odd)."""
    return max(math.ceil((k - 1) * d / 2) for k, d in zip(kernel, dilation))


def margin_of_nodes(nodes: list[SpatialNode], source: str, where: str = "graph") -> int:
    """Receptive-field margin (LR px) of ``nodes`` (in execution order) fed from tensor ``source``."""
    res: dict[str, Fraction] = {source: Fraction(1)}
    margin: dict[str, Fraction] = {source: Fraction(0)}
    unknown = []
    for node in nodes:
        spatial = [i for i in node.inputs if i in margin]
        if not spatial:
            continue  # computes on constants only (weights, shapes)
        if node.reach is None:
            unknown.append(f"{node.name} ({node.op})")
            continue
        r = max(res[i] for i in spatial)
        margin[node.name] = max(margin[i] for i in spatial) + Fraction(node.reach) / r
        res[node.name] = r * node.upscale
    if unknown:
        raise UnsupportedModelError(
            f"{where}: cannot compute the receptive field for tiling: ops with unknown spatial extent: "
            f"{', '.join(unknown[:5])}. Upscale without --tile."
        )
    return math.ceil(max(margin.values()))


def receptive_margin(path: Path, kind: ArtifactKind) -> int:
    """Receptive-field margin in LR pixels of the model file ``path``."""
    if kind is ArtifactKind.FROZEN_GRAPH:  # kernel shapes and strides only: protobuf alone, no TensorFlow import
        from sropt.convert.graph_structure import read_graph_structure

        return margin_of_graph_def(read_graph_structure(path), str(path))
    if kind is ArtifactKind.ONNX:
        import onnx

        return margin_of_onnx(onnx.load(str(path), load_external_data=False), str(path))
    return margin_of_tflite(Path(path).read_bytes(), str(path))


def margin_of_graph_def(graph_def: "GraphDef", where: str = "graph") -> int:
    """Receptive-field margin of a frozen GraphDef (fed from its one Placeholder)."""
    from sropt.convert.graph_index import GraphIndex

    index = GraphIndex(graph_def)
    placeholders = index.placeholders()
    if len(placeholders) != 1:
        raise UnsupportedModelError(f"{where}: expected one input Placeholder, found {len(placeholders)}.")
    nodes = []
    for name in index.topological_order:
        node = index.nodes[name]
        inputs = tuple(index.inputs(name))
        nodes.append(SpatialNode(name, node.op, inputs, *_tf_spatial(index, node, where)))
    return margin_of_nodes(nodes, placeholders[0], where)


def _tf_spatial(index: Any, node: Any, where: str) -> tuple[int | None, int]:
    if node.op in ("Conv2D", "DepthwiseConv2dNative"):
        strides = list(node.attr["strides"].list.i) or [1, 1, 1, 1]
        dil = list(node.attr["dilations"].list.i) or [1, 1, 1, 1]
        _require_same_stride1(node.attr["padding"].s.decode(), strides[1:3], f"{where}: {node.name}")
        kh, kw = index.const_shape(index.inputs(node.name)[1])[:2]
        return same_conv_reach((kh, kw), (dil[1], dil[2])), 1
    if node.op == "DepthToSpace":
        return 0, node.attr["block_size"].i
    return (0, 1) if node.op in POINTWISE_OPS else (None, 1)


def _require_same_stride1(padding: str, strides: list[int], where: str) -> None:
    # A strided or VALID conv changes the output grid, so tiles would no longer
    # line up with the whole-image output; none of the zoo families has one.
    if padding.upper() not in ("SAME", "SAME_UPPER", "SAME_LOWER") or any(s != 1 for s in strides):
        raise UnsupportedModelError(
            f"{where}: a {padding} conv with strides {strides}; tiling supports stride-1 SAME convs only. Upscale without --tile."
        )


def margin_of_onnx(model: Any, where: str = "model") -> int:
    """Receptive-field margin of an ONNX ModelProto (fed from its first graph input)."""
    graph = model.graph
    shapes = {t.name: tuple(t.dims) for t in graph.initializer}
    nodes = []
    for i, node in enumerate(graph.node):
        name = node.output[0] if node.output else f"node{i}"
        inputs = tuple(node.input)
        # Reshape-like ops: only the data input carries the image; the shape input does not.
        if node.op_type in ("Reshape", "Squeeze", "Unsqueeze", "Transpose", "QuantizeLinear", "DequantizeLinear"):
            inputs = inputs[:1]
        nodes.append(SpatialNode(name, node.op_type, inputs, *_onnx_spatial(node, shapes, f"{where}: {name}")))
        for extra in node.output[1:]:
            nodes.append(SpatialNode(extra, "Identity", (name,)))
    return margin_of_nodes(nodes, graph.input[0].name, where)


def _onnx_spatial(node: Any, shapes: dict[str, tuple[int, ...]], where: str) -> tuple[int | None, int]:
    attrs = {a.name: a for a in node.attribute}
    if node.op_type in ("Conv", "QLinearConv"):
        weight = node.input[1] if node.op_type == "Conv" else node.input[3]
        kernel = tuple(attrs["kernel_shape"].ints) if "kernel_shape" in attrs else shapes.get(weight, (0, 0, 0, 0))[2:]
        dil = tuple(attrs["dilations"].ints) if "dilations" in attrs else (1, 1)
        strides = list(attrs["strides"].ints) if "strides" in attrs else [1, 1]
        auto_pad = attrs["auto_pad"].s.decode() if "auto_pad" in attrs else "NOTSET"
        if auto_pad in ("NOTSET", ""):
            # Explicit pads are SAME when each axis is padded by (k-1)*d in all.
            pads = list(attrs["pads"].ints) if "pads" in attrs else [0] * 4
            same = len(kernel) == 2 and [pads[0] + pads[2], pads[1] + pads[3]] == [(k - 1) * d for k, d in zip(kernel, dil)]
            _require_same_stride1("SAME" if same else f"pads={pads}", strides, where)
            return max(pads), 1
        _require_same_stride1(auto_pad, strides, where)
        return same_conv_reach(kernel, dil), 1  # type: ignore[arg-type]
    if node.op_type == "DepthToSpace":
        return 0, attrs["blocksize"].i
    return (0, 1) if node.op_type in POINTWISE_OPS else (None, 1)


def margin_of_tflite(data: bytes, where: str = "model") -> int:
    """Receptive-field margin of a TFLite flatbuffer (subgraph 0, fed from its first input)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(data, 0)
    graph = model.subgraphs[0]
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    nodes = []
    for i, op in enumerate(graph.operators):
        code = model.operatorCodes[op.opcodeIndex]
        op_name = op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        inputs = tuple(str(t) for t in op.inputs if t >= 0)
        if op_name in ("RESHAPE", "TRANSPOSE", "SQUEEZE", "EXPAND_DIMS"):
            inputs = inputs[:1]
        reach, up = _tflite_spatial(op_name, op, graph, f"{where}: operator {i} ({op_name})")
        out = [str(t) for t in op.outputs]
        nodes.append(SpatialNode(out[0], op_name, inputs, reach, up))
        nodes.extend(SpatialNode(o, "Identity", (out[0],)) for o in out[1:])
    return margin_of_nodes(nodes, str(graph.inputs[0]), where)


def _tflite_spatial(op_name: str, op: Any, graph: Any, where: str) -> tuple[int | None, int]:
    opts = op.builtinOptions
    if op_name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        padding = "SAME" if opts.padding == 0 else "VALID"
        _require_same_stride1(padding, [opts.strideH, opts.strideW], where)
        kh, kw = (int(d) for d in graph.tensors[op.inputs[1]].shape[1:3])  # [O,KH,KW,I] / [1,KH,KW,C]
        return same_conv_reach((kh, kw), (opts.dilationHFactor, opts.dilationWFactor)), 1
    if op_name == "DEPTH_TO_SPACE":
        return 0, opts.blockSize
    return (0, 1) if op_name in POINTWISE_OPS else (None, 1)
