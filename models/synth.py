"""EDSR graphs in the released EDSR_x3.pb layout, with random weights.

The released EDSR files cannot be downloaded here (FACTS.md §1), so tests
and benchmarks need graphs that are node-for-node what the release contains,
at any blocks (B), filters (F) and scale. The graph is written as NodeDefs
directly rather than traced from TF2 code, because tracing would emit
``AddV2``/``BiasAdd`` and TF2 node names, while the release has:

* ``IteratorGetNext``: Placeholder float32 [1,?,?,3] (NHWC, BGR minus the DIV2K mean; batch
  pinned to 1 as in the EDSR_Tensorflow export, which the trained
  EDSR-T91 file shares);
* head: ``Conv2D(x, resFilter_one) -> Add BiasOne`` (kept as the global skip);
* block i: ``Conv2D resFilter{2i} -> Add resBias{2i} -> Relu -> Conv2D
  resFilter{2i+1} -> Add resBias{2i+1} -> Mul 0.1 -> Add block input``;
* tail: ``Conv2D resFilter_two -> Add BiasTwo -> Add head``, then
  ``Conv2D resFilter_three [3,3,F,3*s*s] -> Add BiasThree``;
* ``NHWC_output`` DepthToSpace(block_size=s), ``NCHW_output`` Transpose (0,3,1,2);
* biases are added with ``Add`` (not BiasAdd / AddV2);
* every float weight with >= 1024 elements in graph_transforms
  ``quantize_weights`` form (``sropt.models.quint8_weights``);
* nodes in execution order (graph_transforms ``sort_by_execution_order``):
  each constant directly before its first consumer.

Weights are variance-preserving normals (He-normal before a ReLU, 1/fan_in
elsewhere) so activations stay finite and on the 0..255 scale at B=32/F=256;
biases are small normals so the bias path is exercised. They are
random: fine for structure, size and latency, meaningless for quality. The
sidecar written by ``write_synthetic_edsr`` says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.atomic import check_writable, write_bytes_atomic
from sropt.core.errors import InputError
from sropt.core.families import Family, family_spec
from sropt.models.quint8_weights import quantize_min_first, should_quantize

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef

INPUT_NAME = "IteratorGetNext"
OUTPUT_NAME = "NCHW_output"
NHWC_OUTPUT_NAME = "NHWC_output"
RESIDUAL_SCALE = 0.1  # EDSR's residual scaling constant (Lim et al. 2017, §3.2)
BIAS_STD = 0.1  # about the spread of the trained EDSR-T91 biases (0.01-0.17)


def validate_edsr_config(blocks: int, filters: int, scale: int) -> None:
    """InputError listing every out-of-range B/F/scale value."""
    problems = []
    if not isinstance(blocks, int) or blocks < 1:
        problems.append(f"--blocks {blocks!r}: must be an integer >= 1 (the release uses 32)")
    if not isinstance(filters, int) or filters < 1:
        problems.append(f"--filters {filters!r}: must be an integer >= 1 (the release uses 256)")
    scales = family_spec(Family.EDSR).scales
    if scale not in scales:
        problems.append(f"--scale {scale!r}: EDSR is released at scales {', '.join(map(str, scales))}")
    if problems:
        raise InputError("invalid EDSR configuration", problems=problems)


class _GraphWriter:
    """Appends NodeDefs in execution order, naming ops the way TF1 does (add, add_1, ...)."""

    def __init__(self, quantize_weights: bool) -> None:
        from tensorflow.core.framework import graph_pb2

        self.graph = graph_pb2.GraphDef()
        self.quantize_weights = quantize_weights
        self._counts: dict[str, int] = {}

    def unique(self, base: str) -> str:
        """TF1 auto-naming: the first op is ``base``, then ``base_1``, ``base_2``, ..."""
        n = self._counts.get(base, 0)
        self._counts[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def node(self, name: str, op: str, inputs: tuple[str, ...] = (), **attrs: Any) -> str:
        """Append one node and return its name."""
        node = self.graph.node.add(name=name, op=op)
        node.input.extend(inputs)
        for key, value in attrs.items():
            node.attr[key].CopyFrom(value)
        return name

    def const(self, name: str, value: np.ndarray) -> str:
        """A Const node holding ``value`` (float32 / int32)."""
        from tensorflow.python.framework import tensor_util

        proto = tensor_util.make_tensor_proto(value)
        return self.node(name, "Const", value=_attr(tensor=proto), dtype=_attr(type=proto.dtype))

    def weight(self, name: str, value: np.ndarray) -> str:
        """A weight constant; in quantize_weights form when it is large enough."""
        if not (self.quantize_weights and should_quantize(value)):
            return self.const(name, value.astype(np.float32))
        from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

        q = quantize_min_first(value)
        codes = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_QUINT8,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in value.shape]
            ),
            tensor_content=q.codes.tobytes(),
        )
        self.node(
            f"{name}_quantized_const", "Const",
            value=_attr(tensor=codes), dtype=_attr(type=types_pb2.DT_QUINT8),
        )
        self.const(f"{name}_quantized_min", np.asarray(q.min, np.float32))
        self.const(f"{name}_quantized_max", np.asarray(q.max, np.float32))
        return self.node(
            name, "Dequantize",
            (f"{name}_quantized_const", f"{name}_quantized_min", f"{name}_quantized_max"),
            T=_attr(type=types_pb2.DT_QUINT8), mode=_attr(s=b"MIN_FIRST"),
        )

    def conv_bias(self, x: str, filt_name: str, filt: np.ndarray, bias_name: str, bias: np.ndarray) -> str:
        """``Conv2D(x, filt) + bias`` with the release's op types and attributes."""
        from tensorflow.core.framework import attr_value_pb2, types_pb2

        w = self.weight(filt_name, filt)
        ones = attr_value_pb2.AttrValue.ListValue(i=[1, 1, 1, 1])
        conv = self.node(
            self.unique("Conv2D"), "Conv2D", (x, w),
            T=_attr(type=types_pb2.DT_FLOAT),
            data_format=_attr(s=b"NHWC"),
            dilations=_attr(list=ones),
            explicit_paddings=_attr(list=attr_value_pb2.AttrValue.ListValue()),
            padding=_attr(s=b"SAME"),
            strides=_attr(list=ones),
            use_cudnn_on_gpu=_attr(b=True),
        )
        b = self.const(bias_name, bias.astype(np.float32))
        return self.add(conv, b)

    def add(self, a: str, b: str) -> str:
        """``Add`` (the release's op; TF2's ``+`` would emit AddV2)."""
        from tensorflow.core.framework import types_pb2

        return self.node(self.unique("add"), "Add", (a, b), T=_attr(type=types_pb2.DT_FLOAT))


def _attr(**kwargs: Any):
    from tensorflow.core.framework import attr_value_pb2

    return attr_value_pb2.AttrValue(**kwargs)


def _init_filter(rng: np.random.Generator, cin: int, cout: int, before_relu: bool) -> np.ndarray:
    """Variance-preserving normal init of a 3x3 filter [3,3,cin,cout].

    std = sqrt(gain / fan_in), gain 2 before a ReLU (He et al. 2015) and 1
    otherwise, so the output stays on the input's 0..255 scale instead of
    growing by sqrt(2) at every conv that is not followed by a ReLU.
    """
    std = np.sqrt((2.0 if before_relu else 1.0) / (9 * cin))
    return rng.standard_normal((3, 3, cin, cout), dtype=np.float32) * np.float32(std)


def build_edsr_graph(
    blocks: int, filters: int, scale: int, seed: int, quantize_weights: bool = True
) -> "GraphDef":
    """A GraphDef in the released EDSR layout with random variance-preserving weights.

    ``quantize_weights=False`` keeps every weight float32 (the layout before
    the release's quantize_weights step).
    """
    from tensorflow.core.framework import tensor_shape_pb2, types_pb2

    validate_edsr_config(blocks, filters, scale)
    rng = np.random.default_rng(seed)
    g = _GraphWriter(quantize_weights)
    F = filters

    def bias(n: int) -> np.ndarray:
        return rng.normal(0.0, BIAS_STD, n).astype(np.float32)

    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in (1, -1, -1, 3)]
    )
    x = g.node(INPUT_NAME, "Placeholder", dtype=_attr(type=types_pb2.DT_FLOAT), shape=_attr(shape=shape))

    head = g.conv_bias(x, "resFilter_one", _init_filter(rng, 3, F, before_relu=False), "BiasOne", bias(F))
    h = head
    for i in range(blocks):
        r = g.conv_bias(h, f"resFilter{2 * i}", _init_filter(rng, F, F, before_relu=True), f"resBias{2 * i}", bias(F))
        r = g.node(g.unique("Relu"), "Relu", (r,), T=_attr(type=types_pb2.DT_FLOAT))
        r = g.conv_bias(r, f"resFilter{2 * i + 1}", _init_filter(rng, F, F, before_relu=False), f"resBias{2 * i + 1}", bias(F))
        mul = g.unique("mul")
        y = g.const(f"{mul}/y", np.asarray(RESIDUAL_SCALE, np.float32))
        r = g.node(mul, "Mul", (r, y), T=_attr(type=types_pb2.DT_FLOAT))
        h = g.add(h, r)

    t = g.conv_bias(h, "resFilter_two", _init_filter(rng, F, F, before_relu=False), "BiasTwo", bias(F))
    t = g.add(t, head)
    out_ch = 3 * scale * scale
    t = g.conv_bias(t, "resFilter_three", _init_filter(rng, F, out_ch, before_relu=False), "BiasThree", bias(out_ch))

    d2s = g.node(
        NHWC_OUTPUT_NAME, "DepthToSpace", (t,),
        T=_attr(type=types_pb2.DT_FLOAT), block_size=_attr(i=scale), data_format=_attr(s=b"NHWC"),
    )
    perm = g.const(f"{OUTPUT_NAME}/perm", np.asarray([0, 3, 1, 2], np.int32))
    g.node(
        OUTPUT_NAME, "Transpose", (d2s, perm),
        T=_attr(type=types_pb2.DT_FLOAT), Tperm=_attr(type=types_pb2.DT_INT32),
    )
    return g.graph


def synth_provenance(blocks: int, filters: int, scale: int, seed: int, quantize_weights: bool) -> dict[str, Any]:
    """The provenance step recorded for a synthesized EDSR graph."""
    return {
        "stage": "synth",
        "weights": "random",
        "init": "normal, std sqrt(gain/fan_in)",
        "seed": seed,
        "blocks": blocks,
        "filters": filters,
        "scale": scale,
        "quantize_weights": quantize_weights,
        "note": "random weights: valid for structure, size and latency only, not for quality",
    }


def write_synthetic_edsr(
    out: Path | str,
    *,
    blocks: int = 32,
    filters: int = 256,
    scale: int = 3,
    seed: int = 0,
    quantize_weights: bool = True,
) -> Artifact:
    """Build an EDSR graph, write it atomically to ``out`` plus its sidecar, return the Artifact."""
    out = Path(out)
    validate_edsr_config(blocks, filters, scale)
    if out.suffix.lower() != ".pb":
        raise InputError(f"{out}: the output of `synth edsr` is a frozen graph; name it *.pb.")
    check_writable(out, what="synthesized model")  # before the build (seconds for the released B=32/F=256 size)
    graph_def = build_edsr_graph(blocks, filters, scale, seed, quantize_weights)
    write_bytes_atomic(out, graph_def.SerializeToString(deterministic=True))
    artifact = Artifact(
        path=out,
        kind=ArtifactKind.FROZEN_GRAPH,
        family=Family.EDSR,
        scale=scale,
        precision="quint8-weights" if quantize_weights else "float32",
        input_name=INPUT_NAME,
        output_name=OUTPUT_NAME,
        output_layout="NCHW",
        provenance=(synth_provenance(blocks, filters, scale, seed, quantize_weights),),
    )
    artifact.write_sidecar()
    return artifact
