"""Structural checks of a GraphDef before anything analyses, converts or runs it.

A file can parse as a GraphDef and still be unusable: a truncated file
parses as a valid prefix, and a corrupted one can name inputs that do not
exist, form a cycle, give an op the wrong number of inputs or carry
attribute values no kernel accepts. Fuzzing (tests/fuzz, issue 20) found
that OpenCV's TensorFlow importer segfaults on two such graphs that sropt's
analysis accepted: a DepthToSpace with no input, and a ``data_format`` that
is not a layout name (``b"\\xff\\xfe"`` on a Conv2D or an Abs). Others hung
or crashed the analysis itself (cycles, a Conv2D stride of 0, a Dequantize
with no inputs).

TensorFlow's importer would find most of these, but importing TensorFlow
costs 3.4 s that `sropt inspect`, `sropt serve` start-up and OpenCV-only
validation no longer pay (convert/graph_structure.py). So the checks here
read only what that protobuf-only subset declares (names, ops, inputs,
attributes, Const shapes and raw content), and hold TensorFlow's own rules
for the ops of the supported families (op arity and attribute values as
TensorFlow's op registry states them).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef

#: Data inputs per op, from TensorFlow's op registry (tf.raw_ops signatures),
#: for the ops the zoo families and sropt's own outputs use. Others are not
#: checked here; the analysis names what it does not understand.
OP_ARITY = {
    "Placeholder": 0, "Const": 0, "NoOp": 0,
    "Identity": 1, "Relu": 1, "Relu6": 1, "Tanh": 1, "Sigmoid": 1, "Abs": 1, "Neg": 1, "Square": 1,
    "DepthToSpace": 1, "SpaceToDepth": 1,
    "Conv2D": 2, "BiasAdd": 2, "Add": 2, "AddV2": 2, "Sub": 2, "Mul": 2, "RealDiv": 2,
    "Maximum": 2, "Minimum": 2, "Transpose": 2, "Reshape": 2, "Pad": 2,
    "Dequantize": 3, "Conv2DBackpropInput": 3,
}
#: Allowed values of string attributes, from TensorFlow's op registry.
STRING_ATTR_VALUES = {
    "data_format": {b"NHWC", b"NCHW", b"NCHW_VECT_C", b"NDHWC", b"NCDHW"},
    "padding": {b"SAME", b"VALID", b"EXPLICIT"},
}
#: Bytes per element of the fixed-size DataType values (DT_FLOAT, DOUBLE, INT32, UINT8, INT16, INT8,
#: INT64, BOOL, QINT8, QUINT8, QINT32, BFLOAT16, QINT16, QUINT16, UINT16, HALF, UINT32, UINT64).
DTYPE_BYTES = {1: 4, 2: 8, 3: 4, 4: 1, 5: 2, 6: 1, 9: 8, 10: 1, 11: 1, 12: 1, 13: 4, 14: 2, 15: 2, 16: 2,
               17: 2, 19: 2, 22: 4, 23: 8}

#: A Const with no raw content may broadcast one value to its whole shape. 2**28 elements
#: (1 GiB as float32) is far above any SR weight (EDSR_x3's largest: 589,824 elements).
MAX_BROADCAST_ELEMENTS = 2**28


def node_name(tensor_ref: str) -> str:
    """``'^a'``, ``'a:1'`` -> ``'a'``: the node a GraphDef input string refers to."""
    return tensor_ref.lstrip("^").split(":")[0]


def check_graph_integrity(graph_def: "GraphDef") -> list[str]:
    """Every problem that makes ``graph_def`` unusable, each naming its node.

    Dangling inputs, duplicate names and cycles first (the rest assumes a
    well-formed graph), then each node's op arity, attribute values and
    Const content.
    """
    problems = _edge_problems(graph_def)
    if not problems:
        problems += _cycle_problems(graph_def)
    for node in graph_def.node:
        problems += _node_problems(node)
    return problems


def _edge_problems(graph_def: "GraphDef") -> list[str]:
    names = [n.name for n in graph_def.node]
    known = set(names)
    problems = [f"node name '{n}' is used by more than one node" for n in sorted({n for n in names if names.count(n) > 1})] \
        if len(known) != len(names) else []
    for node in graph_def.node:
        for ref in node.input:
            if node_name(ref) not in known:
                problems.append(f"node '{node.name}' ({node.op}) reads '{ref}', which is not in the graph")
    return problems


def _cycle_problems(graph_def: "GraphDef") -> list[str]:
    """A frozen graph is acyclic (no control flow in SR models); name the first cycle found."""
    inputs = {n.name: [node_name(i) for i in n.input] for n in graph_def.node}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in inputs:
        if state.get(root):
            continue
        path, stack = [], [(root, iter(inputs[root]))]
        state[root] = 1
        path.append(root)
        while stack:
            name, pending = stack[-1]
            nxt = next(pending, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[name] = 2
            elif state.get(nxt) == 1:
                # path runs from a node to what it reads; name the cycle the way data flows
                reads = path[path.index(nxt):]
                flow = [nxt, *reversed(reads[1:])]
                return [f"nodes {' -> '.join(repr(c) for c in flow)} -> '{nxt}' form a cycle"]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(inputs[nxt])))
    return []


def _node_problems(node: Any) -> list[str]:
    where = f"node '{node.name}' ({node.op})"
    problems = [] if node.op else [f"node '{node.name}' has no op"]
    data_inputs = sum(1 for i in node.input if not i.startswith("^"))
    arity = OP_ARITY.get(node.op)
    if arity is not None and data_inputs != arity:
        problems.append(f"{where} has {data_inputs} data input(s); {node.op} takes {arity}")
    for key, allowed in STRING_ATTR_VALUES.items():
        if key in node.attr and node.attr[key].s not in allowed:
            problems.append(f"{where}: {key} {node.attr[key].s!r} is not one of {', '.join(sorted(a.decode() for a in allowed))}")
    problems += _window_problems(node, where)
    if node.op == "Const":
        problems += _const_problems(node, where)
    return problems


def _window_problems(node: Any, where: str) -> list[str]:
    """Conv strides/dilations are 4 positive ints; DepthToSpace/SpaceToDepth block_size is at least 2 (TF's rules)."""
    problems = []
    if node.op.startswith("Conv2D"):
        for key in ("strides", "dilations"):
            # strides has no default in TF's registry; dilations defaults to all ones
            values = list(node.attr[key].list.i) if key in node.attr else ([1, 1, 1, 1] if key == "dilations" else [])
            if len(values) != 4 or min(values) < 1:
                problems.append(f"{where}: {key} {values} must be 4 positive integers")
    if node.op in ("DepthToSpace", "SpaceToDepth"):
        block = node.attr["block_size"].i if "block_size" in node.attr else 0
        if block < 2:
            problems.append(f"{where}: block_size {block} must be at least 2")
    return problems


def _const_problems(node: Any, where: str) -> list[str]:
    """A Const's shape is valid and its raw content (when given that way) holds exactly that many elements."""
    if "value" not in node.attr:
        return [f"Const node '{node.name}' has no value"]
    tensor = node.attr["value"].tensor
    dims = [d.size for d in tensor.tensor_shape.dim]
    if any(d < 0 for d in dims):
        return [f"{where}: shape {dims} has a negative dimension"]
    itemsize = DTYPE_BYTES.get(tensor.dtype)
    content = len(tensor.tensor_content)
    if not content and math.prod(dims) > MAX_BROADCAST_ELEMENTS:
        # Typed values (float_val, ...) may hold one value TensorFlow and OpenCV repeat to the
        # whole shape: a corrupt shape would make them allocate terabytes.
        return [f"{where}: shape {dims} has {math.prod(dims):,} elements but no raw content; "
                f"sropt refuses constants over {MAX_BROADCAST_ELEMENTS:,} elements stored that way"]
    if content and itemsize and content != math.prod(dims) * itemsize:
        return [f"{where}: shape {dims} needs {math.prod(dims) * itemsize} bytes of content, the file holds {content} "
                "(truncated or corrupt)"]
    return []
