"""DepthToSpace as a fixed-weight transposed convolution, the form LiteRT's EDSR sample ships for GPUs.

LiteRT's EDSR GPU sample (google-ai-edge/litert-samples,
``compiled_model_api/super_resolution/edsr_kotlin_gpu/conversion/build_edsr.py``)
replaces each PixelShuffle(r) with "the mathematically identical fixed-weight
ConvTranspose2d(C*r*r -> C, kernel r, stride r)" so that every node lands on
the GPU delegate. The zoo graphs use TF's DepthToSpace (DCR order), so here
the same idea is written for it::

    out[b, r*y + p, r*x + q, c] = in[b, y, x, (p*r + q)*C + c]
                                = sum_k in[b, y, x, k] * W[p, q, c, k],
    W[p, q, c, k] = 1 if k == (p*r + q)*C + c else 0

``Conv2DBackpropInput`` (TF's transposed convolution; TFLite TRANSPOSE_CONV)
with kernel = stride = r and VALID padding computes exactly that sum: the
kernel windows do not overlap, so each output is one input value times 1.0
plus zeros, which is exact in float32.

The sample goes one step further for Mali GPUs (which it says reject both
DEPTH_TO_SPACE and TRANSPOSE_CONV): a nearest upsample, a zero-stuffing mask
and a plain conv. That form needs the input size baked in and is not done here.

The op's output shape is a constant, so the rewrite needs a fixed input
shape (``check_depth_to_space``): with dynamic H/W it would come from SHAPE
ops, which delegates that need static shapes cannot run.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import numpy as np

from sropt.core.errors import InputError

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef

    from sropt.convert.tflite_export import PreparedGraph

REWRITE_NAME = "depth-to-space-transpose-conv"


class DepthToSpaceForm(str, enum.Enum):
    """How DepthToSpace is written in the converted .tflite."""

    NATIVE = "native"  # TFLite DEPTH_TO_SPACE, as the zoo graph has it
    TRANSPOSE_CONV = "transpose_conv"  # a fixed 0/1 TRANSPOSE_CONV (LiteRT's EDSR GPU sample)


def parse_depth_to_space(value: object, option: str = "--depth-to-space") -> DepthToSpaceForm:
    """``native`` or ``transpose_conv``; InputError (naming ``option``) otherwise."""
    if isinstance(value, DepthToSpaceForm):
        return value
    text = str(value).strip().lower()
    try:
        return DepthToSpaceForm(text)
    except ValueError:
        raise InputError(f"{option} {value!r}: choose native (TFLite DEPTH_TO_SPACE) or transpose_conv "
                         "(a fixed-weight TRANSPOSE_CONV, the form LiteRT's EDSR GPU sample uses).") from None


def check_depth_to_space(form: DepthToSpaceForm, fixed_shape: tuple[int, int] | None) -> None:
    """InputError when the transposed-convolution form is asked for without a fixed input shape."""
    if form is DepthToSpaceForm.TRANSPOSE_CONV and fixed_shape is None:
        raise InputError("--depth-to-space transpose_conv needs --fixed-shape HxW (pipelines.yaml: fixed_shape): "
                         "with dynamic H/W its output shape comes from SHAPE ops, which GPU delegates that need "
                         "static shapes cannot run. Add e.g. --fixed-shape 128x128.")


def with_depth_to_space(
    prepared: "PreparedGraph", form: DepthToSpaceForm, fixed_shape: tuple[int, int] | None,
) -> "PreparedGraph":
    """``prepared`` with its DepthToSpace nodes in ``form`` (recorded in its steps); unchanged for native."""
    import dataclasses

    if form is DepthToSpaceForm.NATIVE:
        return prepared
    check_depth_to_space(form, fixed_shape)
    assert fixed_shape is not None
    graph_def, count = rewrite_depth_to_space(prepared.graph_def, prepared.input_name, [1, *fixed_shape, prepared.channels])
    step = {"stage": "rewrite", "rewrite": REWRITE_NAME, "count": count,
            "why": "every op on the GPU delegate (LiteRT's EDSR GPU sample form)"}
    return dataclasses.replace(prepared, graph_def=graph_def, steps=[*prepared.steps, step])


def shuffle_filter(block: int, channels: int) -> np.ndarray:
    """The [r, r, C, C*r*r] 0/1 filter of ``Conv2DBackpropInput`` that equals DepthToSpace(r) in DCR order."""
    w = np.zeros((block, block, channels, channels * block * block), np.float32)
    for p in range(block):
        for q in range(block):
            for c in range(channels):
                w[p, q, c, (p * block + q) * channels + c] = 1.0
    return w


def _static_input_shapes(graph_def: "GraphDef", input_name: str, input_shape: list[int | None]) -> dict[str, list]:
    """Static shape of each DepthToSpace node's input, with the graph input set to ``input_shape``."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, input_shape, name="sropt_d2s_input")
        tf.graph_util.import_graph_def(graph_def, input_map={f"{input_name}:0": x}, name="g")
    shapes = {}
    for node in graph_def.node:
        if node.op == "DepthToSpace":
            ref = node.input[0] if ":" in node.input[0] else f"{node.input[0]}:0"
            shapes[node.name] = graph.get_tensor_by_name(f"g/{ref}").shape.as_list()
    return shapes


def rewrite_depth_to_space(
    graph_def: "GraphDef", input_name: str, input_shape: list[int | None],
) -> tuple["GraphDef", int]:
    """Every NHWC DepthToSpace as a fixed ``Conv2DBackpropInput``; returns (new graph, count).

    ``input_shape`` is the model input, [1, H, W, C] with a fixed H and W:
    each DepthToSpace's input channels, H and W follow from it. Node names
    are kept, so the graph's outputs are unchanged.
    """
    import tensorflow as tf

    out = tf.compat.v1.GraphDef()
    out.CopyFrom(graph_def)
    shapes = _static_input_shapes(graph_def, input_name, input_shape)
    if not shapes:
        return out, 0
    del out.node[:]
    for node in graph_def.node:
        if node.name not in shapes:
            out.node.add().CopyFrom(node)
            continue
        fmt = node.attr["data_format"].s.decode() if "data_format" in node.attr else "NHWC"
        _, h, w, depth = shapes[node.name]
        block = int(node.attr["block_size"].i)
        if fmt != "NHWC" or None in (h, w, depth) or depth % (block * block):
            raise InputError(f"DepthToSpace node {node.name}: cannot rewrite it as a transposed convolution "
                             f"(data_format {fmt}, input shape {shapes[node.name]}, block {block}); it needs NHWC, a fixed H and W "
                             "and channels divisible by block^2. Use --depth-to-space native.")
        _add_transpose_conv(out, node, block, depth // (block * block), (h, w))
    return out, len(shapes)


def _add_transpose_conv(out: "GraphDef", node, block: int, channels: int, hw: tuple[int, int]) -> None:
    """Append the nodes that replace DepthToSpace ``node``; the last one keeps its name."""
    import tensorflow as tf

    int32, float32 = tf.int32.as_datatype_enum, tf.float32.as_datatype_enum

    def const(name: str, value: np.ndarray, dtype: int) -> str:
        n = out.node.add(name=name, op="Const")
        n.attr["dtype"].type = dtype
        n.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
        return name

    base, x = node.name, node.input[0]
    weights = const(f"{base}/d2s_filter", shuffle_filter(block, channels), float32)
    sizes = const(f"{base}/d2s_sizes", np.array([1, hw[0] * block, hw[1] * block, channels], np.int32), int32)
    conv = out.node.add(name=base, op="Conv2DBackpropInput", input=[sizes, weights, x])
    conv.attr["T"].type = float32
    conv.attr["strides"].list.i.extend([1, block, block, 1])
    conv.attr["padding"].s = b"VALID"
    conv.attr["data_format"].s = b"NHWC"
    conv.attr["dilations"].list.i.extend([1, 1, 1, 1])
    conv.attr["use_cudnn_on_gpu"].b = True
