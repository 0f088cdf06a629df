"""Rewrite a float32 frozen graph so each pruned group keeps only some channels.

For a group and its kept indices the surgery slices, in the Consts only:
producers' filters on axis 3, consumers' filters on axis 2, and the group's
per-channel vectors (biases, PReLU alphas) on their last axis. Every other
node is copied unchanged, so node names, the input/output names and the
layout stay as they were; TF infers the new shapes. Bias compensation deltas
(full output-channel space) are added to a bias before it is sliced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sropt.convert.graph import node_name
from sropt.convert.graph_index import GraphIndex
from sropt.convert.groups import ChannelGroup
from sropt.core.errors import StageError

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef


@dataclass(frozen=True)
class GroupPlan:
    """A group and the channel indices it keeps (ascending)."""

    group: ChannelGroup
    keep: np.ndarray

    @property
    def removed(self) -> np.ndarray:
        """Indices of the channels that go."""
        return np.setdiff1d(np.arange(self.group.channels), self.keep)


def conv_bias(index: GraphIndex, conv: str) -> str | None:
    """The per-channel Const added directly to ``conv``'s output (its bias), if any."""
    cout = index.const_shape(index.inputs(conv)[1])[3]
    for consumer in index.consumers.get(conv, []):
        if index.op(consumer) not in ("Add", "AddV2", "BiasAdd"):
            continue
        for i in index.inputs(consumer):
            if index.is_constant(i) and index.const_shape(i)[-1:] == (cout,) and int(np.prod(index.const_shape(i))) == cout:
                return index.skip_identity(i)
    return None


def slice_plan(index: GraphIndex, plans: list[GroupPlan]) -> dict[str, dict[int, np.ndarray]]:
    """Const name -> {axis: kept indices}; StageError if two groups disagree on one axis."""
    slices: dict[str, dict[int, np.ndarray]] = {}
    conflicts = []

    def add(const: str, axis: int, keep: np.ndarray, group: str) -> None:
        axes = slices.setdefault(const, {})
        if axis in axes and not np.array_equal(axes[axis], keep):
            conflicts.append(f"Const '{const}' axis {axis} is shared by group '{group}' and another group")
        axes[axis] = keep

    for plan in plans:
        g = plan.group
        for conv in g.producers:
            add(index.skip_identity(index.inputs(conv)[1]), 3, plan.keep, g.name)
        for conv in g.consumers:
            add(index.skip_identity(index.inputs(conv)[1]), 2, plan.keep, g.name)
        for vec in g.vectors:
            add(vec, -1, plan.keep, g.name)
    if conflicts:
        raise StageError("channel surgery cannot slice consistently", problems=conflicts)
    return slices


def prune_graph(
    graph_def: "GraphDef", plans: list[GroupPlan], bias_deltas: dict[str, np.ndarray] | None = None,
    new_biases: dict[str, np.ndarray] | None = None,
) -> "GraphDef":
    """A copy of float32 ``graph_def`` with every plan's channels removed (and compensated).

    ``bias_deltas`` (Const -> array of the Const's full, unsliced shape) are
    added before slicing: bias deltas for mean compensation, filter deltas too
    for least-squares compensation.

    ``new_biases`` (conv -> per-output-channel values) inserts ``<conv>/compensation``
    (Const) and ``<conv>/compensated`` (Add) after a conv that has no bias,
    and rewires the conv's readers to the Add.
    """
    import tensorflow as tf

    index = GraphIndex(graph_def)
    slices = slice_plan(index, plans)
    deltas = bias_deltas or {}
    added = new_biases or {}
    out_keep = {conv: p.keep for p in plans for conv in p.group.producers}
    renamed = {conv: f"{conv}/compensated" for conv in added}
    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        new = out.node.add()
        new.CopyFrom(node)
        for i, ref in enumerate(new.input):
            if not ref.startswith("^") and node_name(ref) in renamed:
                new.input[i] = renamed[node_name(ref)]
        if node.name in added:
            value = np.asarray(added[node.name], np.float32)
            if node.name in out_keep:
                value = value[out_keep[node.name]]
            const = out.node.add(name=f"{node.name}/compensation", op="Const")
            const.attr["dtype"].type = tf.float32.as_datatype_enum
            const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
            add = out.node.add(name=renamed[node.name], op="Add", input=[node.name, const.name])
            add.attr["T"].type = tf.float32.as_datatype_enum
        # Stale shape annotations would contradict the sliced Consts.
        if "_output_shapes" in new.attr:
            del new.attr["_output_shapes"]
        if node.op != "Const" or (node.name not in slices and node.name not in deltas):
            continue
        value = tf.make_ndarray(node.attr["value"].tensor)
        if node.name in deltas:
            value = (value.astype(np.float64) + deltas[node.name]).astype(np.float32)
        for axis, keep in slices.get(node.name, {}).items():
            value = np.take(value, keep, axis=axis)
        new.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.ascontiguousarray(value, dtype=value.dtype)))
    return out
