"""A read-only index over a GraphDef: nodes, consumers, constant shapes.

Analysis, detection and pruning all walk the graph by ops and edges, never by
node names (the real files may differ in naming details, FACTS.md §1). This
index is the one place that knows how a weight can be stored: a float Const,
a quantize_weights Dequantize of quint8 Consts, or either behind Identity.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from sropt.convert.graph import node_name

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef, NodeDef


class GraphIndex:
    """Nodes by name, their data consumers, and the shapes of constant tensors."""

    def __init__(self, graph_def: "GraphDef") -> None:
        self.graph_def = graph_def
        self.nodes: dict[str, NodeDef] = {n.name: n for n in graph_def.node}
        self.consumers: dict[str, list[str]] = defaultdict(list)
        for n in graph_def.node:
            for ref in n.input:
                if not ref.startswith("^"):
                    self.consumers[node_name(ref)].append(n.name)

    def inputs(self, name: str) -> list[str]:
        """Data inputs (node names) of node ``name``, in order."""
        return [node_name(i) for i in self.nodes[name].input if not i.startswith("^")]

    def op(self, name: str) -> str:
        """The op type of node ``name``."""
        return self.nodes[name].op

    def skip_identity(self, name: str) -> str:
        """Follow Identity nodes back to the node that produces the value."""
        while self.nodes[name].op == "Identity":
            name = self.inputs(name)[0]
        return name

    def is_constant(self, name: str) -> bool:
        """True if ``name`` computes a constant: a Const, or a Dequantize of Consts."""
        name = self.skip_identity(name)
        node = self.nodes[name]
        if node.op == "Const":
            return True
        if node.op == "Dequantize":
            return all(self.is_constant(i) for i in self.inputs(name))
        return False

    def const_shape(self, name: str) -> tuple[int, ...]:
        """Shape of constant ``name`` (Dequantize: shape of its quantized Const)."""
        name = self.skip_identity(name)
        node = self.nodes[name]
        if node.op == "Dequantize":
            return self.const_shape(self.inputs(name)[0])
        return tuple(d.size for d in node.attr["value"].tensor.tensor_shape.dim)

    def const_value(self, name: str) -> np.ndarray:
        """Value of a float Const (not a Dequantize: fold first, see convert.fold)."""
        import tensorflow as tf

        name = self.skip_identity(name)
        node = self.nodes[name]
        if node.op != "Const":
            raise ValueError(f"'{name}' is a {node.op}, not a Const; fold_dequantize the graph first")
        return tf.make_ndarray(node.attr["value"].tensor)

    def is_float_const(self, name: str) -> bool:
        """True for a float32 weight-like constant (Const or quint8 Dequantize)."""
        name = self.skip_identity(name)
        node = self.nodes[name]
        if node.op == "Dequantize":
            return True
        return node.op == "Const" and node.attr["dtype"].type == 1  # DT_FLOAT

    def placeholders(self) -> list[str]:
        """Names of Placeholder nodes, in graph order."""
        return [n.name for n in self.graph_def.node if n.op == "Placeholder"]

    def sinks(self) -> list[str]:
        """Non-constant nodes nobody consumes: the graph's outputs, in graph order."""
        return [
            n.name for n in self.graph_def.node
            if not self.consumers.get(n.name) and n.op not in ("Const", "NoOp", "Placeholder")
        ]

    @cached_property
    def topological_order(self) -> list[str]:
        """Node names with every node after all of its inputs."""
        order: list[str] = []
        state: dict[str, int] = {}
        for root in self.nodes:
            stack = [(root, False)]
            while stack:
                name, expanded = stack.pop()
                if expanded:
                    if state.get(name) != 2:
                        state[name] = 2
                        order.append(name)
                    continue
                if state.get(name):
                    continue
                state[name] = 1
                stack.append((name, True))
                stack.extend((i, False) for i in reversed(self.inputs(name)) if not state.get(i))
        return order
