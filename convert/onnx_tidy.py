"""Clean-ups of tf2onnx's output that make the .onnx load everywhere.

tf2onnx's transpose optimizer is not deterministic: on LapSRN_x2 the same
graph comes out with the single-channel Transposes rewritten as
``Reshape(x, [1, 1, 0, 0])`` on one input of a ``Sub`` in some processes and
on the other input in others (node names and order change between runs too,
even with a fixed PYTHONHASHSEED). ONNX Runtime runs every variant, but
OpenCV 4.14's importer rejects one of them (``findCommonShape`` assertion in
``nary_eltwise_layers.cpp`` on ``sub_10``): about one export in four failed.
Other runs wrap the same tensor in ``Unsqueeze -> Reshape (rank 6) ->
Squeeze -> Reshape`` (LapSRN_x4). All of these are identities: chains of
shape-only ops that end in the shape they started from. Bypassing them gives
OpenCV a plain elementwise graph in every variant and makes the variants one
graph. ``name_canonically`` then names nodes, tensors, initializers and
symbolic dims by position, so an export is byte-identical from run to run
(measured: FSRCNN_x3, ESPCN_x3, LapSRN_x2, LapSRN_x4 and the EDSR layout,
three processes with different hash seeds each).
"""

from __future__ import annotations

from typing import Any


def _static_shapes(proto: Any) -> dict[str, list[int | str]]:
    """Tensor name -> dims (int, or the symbolic name) from ONNX shape inference."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(proto)
    values = list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    return {
        v.name: [d.dim_value if d.HasField("dim_value") else d.dim_param for d in v.type.tensor_type.shape.dim]
        for v in values
        if v.type.tensor_type.HasField("shape")
    }


# Ops that only relabel a tensor's dimensions: they never reorder its data.
SHAPE_ONLY_OPS = frozenset({"Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity"})


def _known(dims: list[int | str] | None) -> bool:
    return dims is not None and all((isinstance(d, int) and d > 0) or (isinstance(d, str) and d) for d in dims)


def remove_identity_reshapes(proto: Any) -> int:
    """Bypass chains of shape-only ops that end in the shape they started from (in place).

    Such ops keep the data order, so a chain whose output has the same
    (shape-inferred, symbolic) dims as the tensor it started from is the
    identity. Returns how many nodes were removed.
    """
    shapes = _static_shapes(proto)
    producer = {out: node for node in proto.graph.node for out in node.output}
    graph_outputs = {o.name for o in proto.graph.output}
    renames: dict[str, str] = {}
    for node in proto.graph.node:
        if node.op_type not in SHAPE_ONLY_OPS or node.output[0] in graph_outputs:
            continue
        root = node.input[0]
        while root in producer and producer[root].op_type in SHAPE_ONLY_OPS:
            root = producer[root].input[0]
        if _known(shapes.get(root)) and shapes.get(root) == shapes.get(node.output[0]):
            renames[node.output[0]] = root
    for node in proto.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
    return _drop_dead_nodes(proto)


def _drop_dead_nodes(proto: Any) -> int:
    """Remove nodes none of whose outputs is used, then unused initializers; return the node count removed."""
    before = len(proto.graph.node)
    while True:
        used = {n for node in proto.graph.node for n in node.input} | {o.name for o in proto.graph.output}
        live = [node for node in proto.graph.node if any(out in used for out in node.output)]
        if len(live) == len(proto.graph.node):
            break
        del proto.graph.node[:]
        proto.graph.node.extend(live)
    _drop_unused_initializers(proto)
    return before - len(proto.graph.node)


def _drop_unused_initializers(proto: Any) -> None:
    used = {n for node in proto.graph.node for n in node.input}
    kept = [i for i in proto.graph.initializer if i.name in used]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)


def name_canonically(proto: Any) -> None:
    """Rename nodes and intermediate tensors by position in the graph (in place).

    Graph inputs and outputs keep their names; initializers become ``c<i>``,
    node outputs ``t<i>``, nodes ``<OpType>_<i>``, all in the order the graph
    lists them. value_info (intermediate shape hints) is dropped: it only
    carries tf2onnx's names and the consumers infer shapes themselves.
    """
    io = {v.name for v in list(proto.graph.input) + list(proto.graph.output)}
    # tf2onnx lists initializers in a different order from run to run: order
    # them by first use so equal graphs serialize to equal bytes.
    first_use: dict[str, tuple[int, int]] = {}
    for j, node in enumerate(proto.graph.node):
        for k, name in enumerate(node.input):
            first_use.setdefault(name, (j, k))
    unused = (len(proto.graph.node), 0)
    ordered = sorted(proto.graph.initializer, key=lambda t: first_use.get(t.name, unused))
    renames: dict[str, str] = {}
    for i, init in enumerate(ordered):
        if init.name not in io:
            renames[init.name] = f"c{i}"
            init.name = f"c{i}"
    kept = [type(t)() for t in ordered]
    for copy, t in zip(kept, ordered):
        copy.CopyFrom(t)
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)
    count = 0
    for j, node in enumerate(proto.graph.node):
        node.input[:] = [renames.get(n, n) for n in node.input]
        for out in node.output:
            if out and out not in io:
                renames[out] = f"t{count}"
                count += 1
        node.output[:] = [renames.get(n, n) for n in node.output]
        node.name = f"{node.op_type}_{j}"
    del proto.graph.value_info[:]
    _name_symbolic_dims(proto)


def _name_symbolic_dims(proto: Any) -> None:
    """tf2onnx's ``unk__<n>`` dims of the graph input/output become ``in_dim<i>`` / ``out_dim<i>``."""
    for prefix, values in (("in_dim", proto.graph.input), ("out_dim", proto.graph.output)):
        for value in values:
            for i, dim in enumerate(value.type.tensor_type.shape.dim):
                if dim.HasField("dim_param"):
                    dim.dim_param = f"{prefix}{i}"
