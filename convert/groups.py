"""Channel groups: which channels of a frozen SR graph must be pruned together.

A conv's output channel ``c`` lives on in every tensor computed elementwise
from it (bias Add, Relu, Mul by a scalar, FSRCNN's PReLU
``relu(x) + alpha*(x-|x|)*0.5`` with its per-channel ``alpha``), and ends as
input channel ``c`` of every conv that reads one of those tensors. Removing it
means slicing all of those constants at once: that set is one *group*.

Groups are built from ops and edges only (FACTS.md §1: names may differ):
every non-constant tensor gets a union-find element; an elementwise op of two
computed tensors (EDSR's residual ``Add``) unites its operands' elements, so
EDSR ends with one ``trunk`` group (head conv, each block's second conv,
``resFilter_two``, the global skip) and one ``blockN.inner`` group per block.
Channels that feed DepthToSpace or a model output, and the model input, are
*fixed*. An op outside the table below puts its channels out of reach of the
surgery: the group is kept, marked with the node names, and never pruned.

This module is graph structure only; ``sropt.prune`` does the surgery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sropt.convert.graph_index import GraphIndex

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef

# Channel-preserving elementwise ops the surgery (and prune's graph lifter)
# understand. Their constant operands must be scalars or per-channel vectors.
ELEMENTWISE_OPS = frozenset(
    {"Add", "AddV2", "BiasAdd", "Sub", "Mul", "Relu", "Abs", "Neg", "Identity", "Tanh", "Maximum", "Minimum"}
)
# Ops whose input channels are fixed because they reorder or expose channels.
_FIXING_OPS = {"DepthToSpace": "feeds DepthToSpace", "Transpose": "feeds the model output (Transpose)"}


@dataclass
class ChannelGroup:
    """Coupled channels: producers' output channels, consumers' input channels, per-channel consts."""

    name: str
    channels: int
    producers: list[str] = field(default_factory=list)  # Conv2D nodes: weight axis 3
    consumers: list[str] = field(default_factory=list)  # Conv2D nodes: weight axis 2
    vectors: list[str] = field(default_factory=list)  # per-channel Consts (biases, alphas), axis -1
    residual: bool = False  # united by an elementwise op of two differently produced tensors
    fixed: list[str] = field(default_factory=list)  # reasons the channels cannot change
    unsupported: list[str] = field(default_factory=list)  # "node (Op)" the surgery does not handle
    origin: str = ""  # the node whose output first carried these channels
    tensors: list[str] = field(default_factory=list)  # computed nodes whose output carries these channels

    @property
    def prunable(self) -> bool:
        """True if the surgery may remove channels of this group."""
        return not self.fixed and not self.unsupported and bool(self.producers)


class _Element:
    """A union-find element: the channel space of one or more tensors."""

    def __init__(self, channels: int) -> None:
        self.parent: _Element = self
        self.group = ChannelGroup(name="", channels=channels)
        self.order = 0  # topological position of the first tensor, for stable naming

    def root(self) -> "_Element":
        node = self
        while node.parent is not node:
            node.parent = node.parent.parent
            node = node.parent
        return node


def _union(a: _Element, b: _Element, where: str) -> _Element:
    ra, rb = a.root(), b.root()
    if ra is rb:
        return ra
    if rb.order < ra.order:
        ra, rb = rb, ra
    ga, gb = ra.group, rb.group
    if ga.channels != gb.channels and ga.channels and gb.channels:
        ga.unsupported.append(f"{where} (joins tensors of {ga.channels} and {gb.channels} channels)")
    # Both sides produced by convs means a residual join; FSRCNN's PReLU Add
    # joins two tensors of one element and never reaches here.
    ga.residual = ga.residual or gb.residual or bool(ga.producers and gb.producers)
    for attr in ("producers", "consumers", "vectors", "fixed", "unsupported"):
        getattr(ga, attr).extend(getattr(gb, attr))
    ga.channels = ga.channels or gb.channels
    rb.parent = ra
    return ra


def _const_kind(index: GraphIndex, name: str, channels: int) -> str:
    """'scalar', 'vector' (per-channel along the last axis) or 'other'."""
    shape = index.const_shape(name)
    size = 1
    for d in shape:
        size *= d
    if size == 1:
        return "scalar"
    if shape and shape[-1] == channels and size == channels:
        return "vector"
    return "other"


def build_channel_groups(graph_def: "GraphDef") -> list[ChannelGroup]:
    """The channel groups of ``graph_def``, in topological order, with stable names."""
    builder = _GroupBuilder(GraphIndex(graph_def))
    for position, name in enumerate(builder.index.topological_order):
        builder.add(position, name)
    return builder.groups()


class _GroupBuilder:
    """Walks the graph once, merging channel spaces (union-find) as ops tie them together."""

    def __init__(self, index: GraphIndex) -> None:
        self.index = index
        self.elem: dict[str, _Element] = {}  # tensor -> its channel-space element
        self.elements: list[_Element] = []
        self.conv_out: dict[str, _Element] = {}
        self.conv_in: dict[str, _Element] = {}
        self.sinks = set(index.sinks())

    def _new(self, channels: int, position: int, origin: str) -> _Element:
        e = _Element(channels)
        e.order = position
        e.group.origin = origin
        self.elements.append(e)
        return e

    def add(self, position: int, name: str) -> None:
        """Account for node ``name`` (visited in topological order)."""
        index = self.index
        if index.is_constant(name):
            return
        op = index.op(name)
        ins = index.inputs(name)
        computed = [i for i in ins if not index.is_constant(i)]
        consts = [i for i in ins if index.is_constant(i)]
        if op == "Placeholder":
            e = self.elem[name] = self._new(0, position, name)
            e.group.fixed.append(f"model input {name}")
        elif op == "Conv2D" and len(computed) == 1 and consts:
            self._conv(position, name, computed[0], consts[0])
        elif op in ELEMENTWISE_OPS and computed:
            self._elementwise(name, op, computed, consts)
        else:
            self._reordering(position, name, op, computed)
        if name in self.sinks and name in self.elem:
            self.elem[name].root().group.fixed.append(f"model output {name}")

    def _conv(self, position: int, name: str, data: str, weight: str) -> None:
        """A conv consumes its input's channel space and produces a new one."""
        kh, kw, cin, cout = self.index.const_shape(weight)
        src = self.elem[data]
        src.root().group.consumers.append(name)
        if not src.root().group.channels:
            src.root().group.channels = cin
        self.conv_in[name] = src
        if self.index.nodes[name].attr["data_format"].s not in (b"", b"NHWC"):
            src.root().group.unsupported.append(f"{name} (Conv2D in NCHW)")
        e = self.elem[name] = self._new(cout, position, name)
        e.group.producers.append(name)
        self.conv_out[name] = e

    def _elementwise(self, name: str, op: str, computed: list[str], consts: list[str]) -> None:
        """Elementwise ops tie their inputs' channel spaces into one; per-channel constants travel with it."""
        e = self.elem[computed[0]]
        for other in computed[1:]:
            e = _union(e, self.elem[other], f"{name} ({op})")
        g = e.root().group
        for c in consts:
            kind = _const_kind(self.index, c, g.channels)
            if kind == "vector":
                g.vectors.append(self.index.skip_identity(c))
            elif kind == "other":
                g.unsupported.append(f"{name} ({op} with a constant of shape {list(self.index.const_shape(c))})")
        self.elem[name] = e.root()

    def _reordering(self, position: int, name: str, op: str, computed: list[str]) -> None:
        for i in computed:
            g = self.elem[i].root().group
            reason = _FIXING_OPS.get(op)
            if reason:
                g.fixed.append(f"{reason} {name}")
            else:
                g.unsupported.append(f"{name} ({op})")
        # Whatever comes out of a reordering or unknown op starts a new,
        # fixed channel space: nothing before it can be sliced through it.
        e = self.elem[name] = self._new(0, position, name)
        e.group.fixed.append(f"output of {op} {name}")

    def groups(self) -> list[ChannelGroup]:
        """The groups with a conv on either side, in topological order, deduplicated and named."""
        roots = []
        seen = set()
        for e in self.elements:
            r = e.root()
            if id(r) not in seen and (r.group.producers or r.group.consumers):
                seen.add(id(r))
                roots.append(r)
        roots.sort(key=lambda r: r.order)
        groups = [r.group for r in roots]
        for name in self.index.topological_order:
            if name in self.elem:
                self.elem[name].root().group.tensors.append(name)
        for g in groups:
            g.vectors = list(dict.fromkeys(g.vectors))
            g.fixed = list(dict.fromkeys(g.fixed))
            g.unsupported = list(dict.fromkeys(g.unsupported))
        _name_groups(groups, self.index, {c: e.root().group for c, e in self.conv_out.items()},
                     {c: e.root().group for c, e in self.conv_in.items()})
        return groups


def _name_groups(groups: list[ChannelGroup], index: GraphIndex, out_group: dict, in_group: dict) -> None:
    """Readable, stable names: ``trunk``, ``block{i}.inner``, ``<conv>.out``, ``input``."""
    residual = [g for g in groups if g.residual]
    for i, g in enumerate(residual):
        g.name = "trunk" if len(residual) == 1 else f"trunk{i}"
    block = 0
    for g in groups:
        if g.residual:
            continue
        if not g.producers:
            placeholder = index.op(g.origin) == "Placeholder"
            g.name = "input" if placeholder else f"{g.origin}.out"
            continue
        # An inner group of a residual block: read from a residual group by
        # its producer, and its consumers write back into a residual group.
        producer_in = [in_group.get(p) for p in g.producers]
        consumer_out = [out_group.get(c) for c in g.consumers]
        # (No consumers happens when an unknown op sits in between; the
        # numbering should still follow the blocks.)
        if (not g.fixed and all(p is not None and p.residual for p in producer_in)
                and all(c is not None and c.residual for c in consumer_out)):
            g.name = f"block{block}.inner"
            block += 1
        else:
            g.name = f"{g.producers[0]}.out"
    used: dict[str, int] = {}
    for g in groups:
        if g.name in used:
            used[g.name] += 1
            g.name = f"{g.name}{used[g.name]}"
        else:
            used[g.name] = 0


def group_of_layers(groups: list[ChannelGroup]) -> dict[str, str]:
    """Conv node name -> name of the group holding its output channels."""
    return {p: g.name for g in groups for p in g.producers}
