"""Reading a frozen graph's structure with protobuf alone, without importing TensorFlow.

Importing ``tensorflow.core.framework.graph_pb2`` runs ``tensorflow/__init__``:
measured 3.4 s of the 5 s `sropt inspect FSRCNN_x3` took for a 40 KB graph
(issue 19; 11 s on a loaded machine). What inspect shows (family, scale, I/O,
weight storage, params, MACs, channel groups) needs only node names, ops,
inputs and attributes, so this module declares the wire-compatible subset of
TensorFlow's ``graph.proto``/``node_def.proto``/``attr_value.proto``/
``tensor.proto``/``tensor_shape.proto`` (the field numbers are TF's) and lets
protobuf parse the file. Fields it does not declare (function library,
versions, typed tensor values) stay unknown fields, untouched.

The messages live in a private descriptor pool under the package
``sropt_structure``, so they never clash with TensorFlow's own ``tensorflow.*``
messages when TF is imported later in the same process. They are for reading
structure only: a session or a converter needs TensorFlow's real GraphDef
(``sropt.convert.graph.read_graph_def``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE = "sropt_structure"

# (name, number, type, repeated, message type) per field; types are descriptor_pb2.FieldDescriptorProto values.
_STRING, _BYTES, _INT64, _INT32, _FLOAT, _BOOL, _MESSAGE = 9, 12, 3, 5, 2, 8, 11
_MESSAGES: dict[str, list[tuple[str, int, int, bool, str | None]]] = {
    "Dim": [("size", 1, _INT64, False, None), ("name", 2, _STRING, False, None)],
    "TensorShapeProto": [("dim", 2, _MESSAGE, True, "Dim"), ("unknown_rank", 3, _BOOL, False, None)],
    # dtype is TF's DataType enum: an int32 on the wire (1 = DT_FLOAT).
    "TensorProto": [("dtype", 1, _INT32, False, None), ("tensor_shape", 2, _MESSAGE, False, "TensorShapeProto"),
                    ("tensor_content", 4, _BYTES, False, None)],
    "ListValue": [("s", 2, _BYTES, True, None), ("i", 3, _INT64, True, None), ("f", 4, _FLOAT, True, None),
                  ("b", 5, _BOOL, True, None), ("type", 6, _INT32, True, None),
                  ("shape", 7, _MESSAGE, True, "TensorShapeProto")],
    "AttrValue": [("list", 1, _MESSAGE, False, "ListValue"), ("s", 2, _BYTES, False, None), ("i", 3, _INT64, False, None),
                  ("f", 4, _FLOAT, False, None), ("b", 5, _BOOL, False, None), ("type", 6, _INT32, False, None),
                  ("shape", 7, _MESSAGE, False, "TensorShapeProto"), ("tensor", 8, _MESSAGE, False, "TensorProto")],
    "NodeDef": [("name", 1, _STRING, False, None), ("op", 2, _STRING, False, None), ("input", 3, _STRING, True, None),
                ("device", 4, _STRING, False, None), ("attr", 5, _MESSAGE, True, "NodeDef.AttrEntry")],
    "GraphDef": [("node", 1, _MESSAGE, True, "NodeDef")],
}


@cache
def structure_graph_def_class() -> Any:
    """The protobuf message class of the GraphDef subset (built once per process)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file = descriptor_pb2.FileDescriptorProto(name="sropt_structure/graph.proto", package=_PACKAGE, syntax="proto3")
    for name, fields in _MESSAGES.items():
        msg = file.message_type.add(name=name)
        _add_fields(msg, fields)
        if name == "NodeDef":  # map<string, AttrValue> attr = 5 is a nested entry message on the wire
            entry = msg.nested_type.add(name="AttrEntry")
            entry.options.map_entry = True
            _add_fields(entry, [("key", 1, _STRING, False, None), ("value", 2, _MESSAGE, False, "AttrValue")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.GraphDef"))


def _add_fields(msg: Any, fields: list[tuple[str, int, int, bool, str | None]]) -> None:
    for name, number, ftype, repeated, type_name in fields:
        f = msg.field.add(name=name, number=number, type=ftype)
        f.label = f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL
        if type_name:
            f.type_name = f".{_PACKAGE}.{type_name}"


def read_graph_structure(path: Path | str) -> Any:
    """``path`` parsed as a GraphDef's structure (same checks and errors as ``read_graph_def``), no TensorFlow."""
    from sropt.convert.graph import read_graph_def

    return read_graph_def(path, graph_def_class=structure_graph_def_class())
