"""Facts about a frozen SR graph: family, scale, I/O, parameters, MACs, layers.

Everything is derived from ops, edges and constant shapes, so no TensorFlow
session is needed. Multiply-adds are counted per low-resolution input pixel:
a conv whose output is at k x the input resolution (LapSRN's later levels)
costs k^2 times its per-pixel MACs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sropt.convert.detect import detect_family, summarize_structure
from sropt.convert.graph_index import GraphIndex
from sropt.core.errors import UnsupportedModelError
from sropt.core.families import Family, family_spec

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef

# Ops that consume a parameter tensor (weights, biases, PReLU alphas).
_PARAM_CONSUMERS = {"Conv2D", "Add", "AddV2", "BiasAdd", "Mul", "Sub"}


@dataclass(frozen=True)
class ConvLayer:
    """One convolution: its weights, shape and cost."""

    name: str
    weight_node: str
    kernel: tuple[int, int]
    in_channels: int
    out_channels: int
    macs_per_pixel: int  # per low-resolution input pixel
    resolution: float  # spatial factor of its output relative to the input
    group: str | None = None  # channel group (filled by sropt.convert.groups)


@dataclass(frozen=True)
class GraphInfo:
    """What sropt knows about a frozen SR graph."""

    family: Family
    scale: int
    inputs: list[str]
    outputs: list[str]
    input_channels: int
    params: int
    macs_per_pixel: int
    weight_storage: str  # "float32" or "quint8"
    dequantize_nodes: int
    main_output: str  # the full-scale output; LapSRN also exposes lower levels
    layers: list[ConvLayer] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The `sropt inspect --json` object."""
        d = asdict(self)
        d["family"] = self.family.value
        d["contract"] = family_spec(self.family).contract.name
        for layer in d["layers"]:
            layer["kernel"] = list(layer["kernel"])
        return d


def spatial_factors(index: GraphIndex) -> dict[str, float]:
    """Resolution of every node's output relative to the model input."""
    factor: dict[str, float] = {}
    for name in index.topological_order:
        node = index.nodes[name]
        ins = [i for i in index.inputs(name) if not index.is_constant(i)]
        f = max((factor.get(i, 1.0) for i in ins), default=1.0)
        if node.op == "DepthToSpace":
            f *= node.attr["block_size"].i
        elif node.op == "SpaceToDepth":
            f /= node.attr["block_size"].i
        elif node.op == "Conv2D":
            strides = list(node.attr["strides"].list.i) or [1, 1, 1, 1]
            f /= strides[1]
        factor[name] = f
    return factor


def _input_channels(index: GraphIndex, placeholder: str) -> int:
    node = index.nodes[placeholder]
    dims = [d.size for d in node.attr["shape"].shape.dim] if "shape" in node.attr else []
    if len(dims) == 4 and dims[3] > 0:
        return dims[3]
    for consumer in index.consumers.get(placeholder, []):
        if index.op(consumer) == "Conv2D":
            return index.const_shape(index.inputs(consumer)[1])[2]
    return 0


def analyze_graph(graph_def: "GraphDef", source: str = "graph") -> GraphInfo:
    """Analyse ``graph_def``; UnsupportedModelError if it is not an SR model we know."""
    index = GraphIndex(graph_def)
    not_sr = f"{source}: not a super-resolution model sropt understands"
    placeholder = _sr_input(index, graph_def, not_sr)
    _check_conv_filters(index, not_sr)
    channels = _input_channels(index, placeholder)
    family = _family(index, channels, not_sr)
    factors = spatial_factors(index)
    outputs = index.sinks()
    scale, main_output = _scale_and_main_output(factors, outputs, not_sr)
    notes = [] if scale in family_spec(family).scales else [f"scale x{scale} is not one the {family.value} zoo publishes"]
    layers = _conv_layers(index, graph_def, factors)
    dequantize = sum(1 for n in graph_def.node if n.op == "Dequantize")
    return GraphInfo(
        family=family,
        scale=scale,
        inputs=[placeholder],
        outputs=outputs,
        input_channels=channels,
        params=_parameter_count(index),
        macs_per_pixel=sum(layer.macs_per_pixel for layer in layers),
        weight_storage="quint8" if dequantize else "float32",
        dequantize_nodes=dequantize,
        main_output=main_output,
        layers=layers,
        notes=notes,
    )


def _sr_input(index: GraphIndex, graph_def: "GraphDef", not_sr: str) -> str:
    """The graph's one float32 input; UnsupportedModelError for graphs no SR family has."""
    placeholders = index.placeholders()
    if len(placeholders) != 1:
        raise UnsupportedModelError(
            f"{not_sr}: expected one input Placeholder, found {len(placeholders)} ({', '.join(placeholders) or 'none'}). "
            "sropt handles the OpenCV dnn_superres zoo (EDSR, ESPCN, FSRCNN, LapSRN)."
        )
    if index.nodes[placeholders[0]].attr["dtype"].type != 1:
        raise UnsupportedModelError(f"{not_sr}: input '{placeholders[0]}' is not float32.")
    if not any(n.op == "DepthToSpace" for n in graph_def.node):
        raise UnsupportedModelError(
            f"{not_sr}: it has no DepthToSpace (sub-pixel upsampling) node, which every supported family ends with. "
            "Is this a classifier or another kind of network?"
        )
    return placeholders[0]


def _check_conv_filters(index: GraphIndex, not_sr: str) -> None:
    """Every Conv2D's filter is a constant HWIO tensor of positive dims: what the layer table, MACs and groups read."""
    problems = []
    for name, node in index.nodes.items():
        if node.op != "Conv2D":
            continue
        data, weight = index.inputs(name)  # two data inputs: sropt.convert.integrity checked the arity
        shape = index.const_shape(weight) if index.is_constant(weight) else None
        if shape is None or len(shape) != 4 or min(shape) < 1:
            what = f"has shape {list(shape)}" if shape is not None else f"is computed by {index.op(weight)} '{weight}'"
            problems.append(f"Conv2D '{name}': its filter '{weight}' {what}; a frozen SR graph's filters are 4-D constants")
    if problems:
        raise UnsupportedModelError(f"{not_sr}: {len(problems)} convolution(s) with an unusable filter", problems=problems[:10])


def _family(index: GraphIndex, channels: int, not_sr: str) -> Family:
    summary = summarize_structure(index, channels)
    family = detect_family(summary)
    if family is None:
        raise UnsupportedModelError(
            f"{not_sr}: its structure matches no known family "
            f"(input channels {channels}, DepthToSpace x{summary.depth_to_space}, "
            f"scaled residual adds {summary.scaled_residual_adds}, PReLU patterns {summary.prelu_patterns}, "
            f"Tanh {summary.ops['Tanh']})."
        )
    return family


def _scale_and_main_output(factors: dict[str, float], outputs: list[str], not_sr: str) -> tuple[int, str]:
    scale_f = max(factors[n] for n in outputs)
    # LapSRN x4/x8 expose the full-scale tensor twice (NCHW_output and
    # NCHW_output_<s>x read the same node); the first in graph order is main.
    main_output = next(n for n in outputs if factors[n] == scale_f)
    scale = int(round(scale_f))
    if abs(scale - scale_f) > 1e-6 or scale < 2:
        raise UnsupportedModelError(f"{not_sr}: output '{main_output}' is at {scale_f}x the input, not an integer upscale.")
    return scale, main_output


def _conv_layers(index: GraphIndex, graph_def: "GraphDef", factors: dict[str, float]) -> list[ConvLayer]:
    """Every Conv2D in graph order with its shape, MACs per LR pixel and channel group."""
    # Imported here: groups imports graph_index only, but keep analysis importable alone.
    from sropt.convert.groups import build_channel_groups, group_of_layers

    layer_group = group_of_layers(build_channel_groups(graph_def))
    layers = []
    for name in index.topological_order:
        if index.op(name) != "Conv2D":
            continue
        weight = index.inputs(name)[1]
        kh, kw, cin, cout = index.const_shape(weight)
        res = factors[name]
        layers.append(ConvLayer(name, index.skip_identity(weight), (kh, kw), cin, cout,
                                int(round(kh * kw * cin * cout * res * res)), res, layer_group.get(name)))
    return layers


def _parameter_count(index: GraphIndex) -> int:
    params = 0
    for name, node in index.nodes.items():
        if node.op == "Identity" or not index.is_float_const(name):
            continue
        if not any(index.op(c) in _PARAM_CONSUMERS for c in index.consumers.get(name, [])):
            continue
        shape = index.const_shape(name)
        if shape:  # rank 0 scalars (the 0.1 residual scale, PReLU's 0.5) are not parameters
            params += math.prod(shape)
    return params
