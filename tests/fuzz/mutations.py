"""Hypothesis strategies for hostile model files: random bytes, byte edits of a real file, GraphDef edits.

Byte edits (flip a bit, truncate, splice in bytes, delete or duplicate a
run) test the readers; GraphDef edits (another op type, attribute values at
the edges of their range, wrong shapes and dtypes, rewired, dropped or
duplicated nodes) make files that still parse, so they reach the analysis,
the prune surgery, the converters and the runtimes. Each edit is a tuple of
small integers that ``apply_*`` interpret modulo the file's size, so
Hypothesis shrinks a failure to a short list of small edits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hypothesis import strategies as st

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef, NodeDef

#: Integers at the edges of what an attribute or a dimension can hold.
EDGE_INTS = (-(2**63), -(2**31), -2, -1, 0, 1, 2, 3, 4, 5, 7, 8, 16, 255, 2**31 - 1, 2**40)
#: Op types an SR graph holds, their neighbours, and two that do not exist.
OPS = ("Conv2D", "DepthToSpace", "SpaceToDepth", "Add", "AddV2", "Mul", "Sub", "BiasAdd", "Identity", "Relu",
       "Tanh", "Abs", "Const", "Placeholder", "Transpose", "Reshape", "Dequantize", "NoOp", "Conv2DBackpropInput",
       "MaxPool", "NotAnOp", "")
#: DataType enum values: invalid, float, double, int32, uint8, int8, quint8, float16, bfloat16, an unknown one.
DTYPES = (0, 1, 2, 3, 4, 6, 12, 19, 14, 99)
STRINGS = (b"SAME", b"VALID", b"EXPLICIT", b"NHWC", b"NCHW", b"", b"\xff\xfe", b"x" * 300)
INT_ATTRS = ("block_size", "N")
LIST_ATTRS = ("strides", "dilations", "explicit_paddings")
STRING_ATTRS = ("padding", "data_format", "mode")
TYPE_ATTRS = ("T", "dtype", "Tidx", "Tperm")


def _flip(data: bytearray, a: int, b: int, _blob: bytes) -> None:
    if data:
        data[a % len(data)] ^= 1 << (b % 8)


def _truncate(data: bytearray, a: int, _b: int, _blob: bytes) -> None:
    del data[a % (len(data) + 1):]


def _splice(data: bytearray, a: int, _b: int, blob: bytes) -> None:
    at = a % (len(data) + 1)
    data[at:at] = blob


def _overwrite(data: bytearray, a: int, _b: int, blob: bytes) -> None:
    at = a % (len(data) + 1)
    data[at:at + len(blob)] = blob


def _delete(data: bytearray, a: int, b: int, _blob: bytes) -> None:
    at = a % (len(data) + 1)
    del data[at:at + 1 + b % 512]


def _duplicate(data: bytearray, a: int, b: int, _blob: bytes) -> None:
    if data:
        at = a % len(data)
        chunk = bytes(data[at:at + 1 + b % 512])
        data[(a * 7919) % len(data):(a * 7919) % len(data)] = chunk


BYTE_EDITS: dict[str, Callable[[bytearray, int, int, bytes], None]] = {
    "flip": _flip, "truncate": _truncate, "splice": _splice, "overwrite": _overwrite,
    "delete": _delete, "duplicate": _duplicate,
}

byte_edit = st.tuples(st.sampled_from(sorted(BYTE_EDITS)), st.integers(0, 2**24), st.integers(0, 2**16),
                      st.binary(min_size=1, max_size=32))


def apply_byte_edits(base: bytes, edits: list[tuple[str, int, int, bytes]]) -> bytes:
    """``base`` after each edit in turn (positions are taken modulo the current length)."""
    data = bytearray(base)
    for name, a, b, blob in edits:
        BYTE_EDITS[name](data, a, b, blob)
    return bytes(data)


def random_files() -> st.SearchStrategy[bytes]:
    """Bytes of any kind: empty, short, protobuf-looking (a GraphDef starts with field 1, wire type 2), or long."""
    return st.one_of(
        st.binary(max_size=64),
        st.binary(min_size=1, max_size=4096).map(lambda b: b"\x0a" + b),
        st.binary(min_size=4096, max_size=65536),
    )


# --------------------------------------------------------------------------- GraphDef edits


def _node(graph: "GraphDef", a: int) -> "NodeDef | None":
    return graph.node[a % len(graph.node)] if graph.node else None


def _set_op(graph, a, b):
    if (node := _node(graph, a)) is not None:
        node.op = OPS[b % len(OPS)]


def _set_int_attr(graph, a, b):
    if (node := _node(graph, a)) is not None:
        node.attr[INT_ATTRS[b % len(INT_ATTRS)]].i = EDGE_INTS[(b // 2) % len(EDGE_INTS)]


def _set_list_attr(graph, a, b):
    if (node := _node(graph, a)) is not None:
        value = EDGE_INTS[b % len(EDGE_INTS)]
        attr = node.attr[LIST_ATTRS[(b // 16) % len(LIST_ATTRS)]]
        attr.list.Clear()
        attr.list.i.extend([[1, value, value, 1], [value], [], [1, 1, value, 1, 1]][(b // 64) % 4])


def _set_string_attr(graph, a, b):
    if (node := _node(graph, a)) is not None:
        node.attr[STRING_ATTRS[b % len(STRING_ATTRS)]].s = STRINGS[(b // 4) % len(STRINGS)]


def _set_type_attr(graph, a, b):
    if (node := _node(graph, a)) is not None:
        node.attr[TYPE_ATTRS[b % len(TYPE_ATTRS)]].type = DTYPES[(b // 4) % len(DTYPES)]


def _set_shape(graph, a, b):
    """A Placeholder's declared shape (or any node's 'shape' attr) of another rank or size."""
    if (node := _node(graph, a)) is not None:
        dims = [[], [-1, -1, -1, 1], [1, -1, -1, 3], [1, -1, -1, 0], [1, 2, 2, 1], [EDGE_INTS[b % len(EDGE_INTS)]] * 4,
                [-1, -1, 1]][(b // 16) % 7]
        shape = node.attr["shape"].shape
        shape.Clear()
        for d in dims:
            shape.dim.add().size = d


def _set_const_shape(graph, a, b):
    """A Const whose declared shape no longer matches its content (another size, rank or no dims)."""
    consts = [n for n in graph.node if n.op == "Const"]
    if not consts:
        return
    shape = consts[a % len(consts)].attr["value"].tensor.tensor_shape
    dims = list(shape.dim)
    choice = b % 3
    if choice == 0 and dims:
        dims[(b // 3) % len(dims)].size = EDGE_INTS[(b // 12) % len(EDGE_INTS)]
    elif choice == 1 and dims:
        del shape.dim[-1]
    else:
        shape.dim.add().size = EDGE_INTS[(b // 3) % len(EDGE_INTS)]


def _cut_const_content(graph, a, b):
    consts = [n for n in graph.node if n.op == "Const" and n.attr["value"].tensor.tensor_content]
    if consts:
        tensor = consts[a % len(consts)].attr["value"].tensor
        tensor.tensor_content = tensor.tensor_content[: b % len(tensor.tensor_content)]


def _drop_input(graph, a, b):
    if (node := _node(graph, a)) is not None and node.input:
        del node.input[b % len(node.input)]


def _add_input(graph, a, b):
    if (node := _node(graph, a)) is not None:
        other = graph.node[b % len(graph.node)].name
        node.input.append([other, f"{other}:1", f"^{other}"][(b // len(graph.node)) % 3])


def _rewire_input(graph, a, b):
    """Point one input at another node: a self-loop, a cycle, or a tensor of another shape."""
    if (node := _node(graph, a)) is not None and node.input:
        node.input[b % len(node.input)] = graph.node[(b // 4) % len(graph.node)].name


def _delete_node(graph, a, _b):
    if graph.node:
        del graph.node[a % len(graph.node)]


def _duplicate_node(graph, a, _b):
    if (node := _node(graph, a)) is not None:
        graph.node.add().CopyFrom(node)


def _rename_node(graph, a, b):
    if (node := _node(graph, a)) is not None:
        node.name = ["", "x", graph.node[b % len(graph.node)].name, "a/b:0", "^c"][b % 5]


def _clear_attr(graph, a, b):
    if (node := _node(graph, a)) is not None and node.attr:
        del node.attr[sorted(node.attr)[b % len(node.attr)]]


GRAPH_EDITS: dict[str, Callable[["GraphDef", int, int], None]] = {
    "set_op": _set_op, "set_int_attr": _set_int_attr, "set_list_attr": _set_list_attr,
    "set_string_attr": _set_string_attr, "set_type_attr": _set_type_attr, "set_shape": _set_shape,
    "set_const_shape": _set_const_shape, "cut_const_content": _cut_const_content, "drop_input": _drop_input,
    "add_input": _add_input, "rewire_input": _rewire_input, "delete_node": _delete_node,
    "duplicate_node": _duplicate_node, "rename_node": _rename_node, "clear_attr": _clear_attr,
}

graph_edit = st.tuples(st.sampled_from(sorted(GRAPH_EDITS)), st.integers(0, 2**16), st.integers(0, 2**16))


def apply_graph_edits(base: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    """The serialized GraphDef ``base`` after each edit in turn."""
    from tensorflow.core.framework.graph_pb2 import GraphDef

    graph = GraphDef()
    graph.ParseFromString(base)
    for name, a, b in edits:
        GRAPH_EDITS[name](graph, a, b)
    return graph.SerializeToString(deterministic=True)


def mutated_graphs(seeds: dict[str, bytes]) -> st.SearchStrategy[tuple[str, bytes]]:
    """(seed name, bytes): a seed GraphDef after 1-3 GraphDef edits, or after 1-4 byte edits."""
    names = sorted(seeds)
    by_graph = st.tuples(st.sampled_from(names), st.lists(graph_edit, min_size=1, max_size=3)).map(
        lambda t: (t[0], apply_graph_edits(seeds[t[0]], t[1])))
    by_bytes = st.tuples(st.sampled_from(names), st.lists(byte_edit, min_size=1, max_size=4)).map(
        lambda t: (t[0], apply_byte_edits(seeds[t[0]], t[1])))
    return st.one_of(by_graph, by_graph, by_bytes)  # GraphDef edits twice as often: they get past the reader
