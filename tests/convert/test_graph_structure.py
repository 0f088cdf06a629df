"""The protobuf-only GraphDef subset parses what TensorFlow's GraphDef parses, without importing TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sropt.convert import analyze_graph
from sropt.convert.graph_structure import read_graph_structure
from sropt.core.errors import InputError
from tests.graphs_tiny import TINY_GRAPHS, build_tiny_graph

BUNDLED = Path(__file__).resolve().parents[2] / "models" / "bundled" / "EDSR-T91-b8f64_x3.pb"


def _structure(graph_def) -> list[tuple]:
    """Every node's name, op, inputs and attributes as plain values (TF's and ours compare field by field)."""
    out = []
    for n in graph_def.node:
        attrs = {}
        for key, v in n.attr.items():
            t = v.tensor
            attrs[key] = (v.s, v.i, round(v.f, 7), v.b, int(v.type), [d.size for d in v.shape.dim], list(v.list.i), list(v.list.s),
                          int(t.dtype), [d.size for d in t.tensor_shape.dim], len(t.tensor_content))
        out.append((n.name, n.op, list(n.input), attrs))
    return out


@pytest.mark.parametrize("name", sorted(TINY_GRAPHS))
def test_structure_equals_tensorflows_parse(tmp_path, name):
    graph_def, _, _ = build_tiny_graph(name)
    path = tmp_path / f"{name}.pb"
    path.write_bytes(graph_def.SerializeToString())
    ours = read_graph_structure(path)
    assert _structure(ours) == _structure(graph_def)


def test_bundled_edsr_analysis_equals_tensorflows():
    """The quint8/Dequantize layout: the same family, scale, params, MACs and groups as the TF-parsed graph."""
    from sropt.convert import read_graph_def

    ours, theirs = read_graph_structure(BUNDLED), read_graph_def(BUNDLED)
    assert analyze_graph(ours, "b").to_json() == analyze_graph(theirs, "b").to_json()
    assert analyze_graph(ours, "b").dequantize_nodes > 0


def test_bad_file_same_errors(tmp_path):
    (tmp_path / "empty.pb").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.pb: the file is empty"):
        read_graph_structure(tmp_path / "empty.pb")
    (tmp_path / "junk.pb").write_bytes(b"\xff\xff\xff\xff not a protobuf")
    with pytest.raises(InputError, match=r"junk\.pb: not a TensorFlow frozen graph"):
        read_graph_structure(tmp_path / "junk.pb")


def test_inspect_imports_no_tensorflow():
    """`sropt inspect x.pb --json` in a fresh interpreter: correct facts and no ``tensorflow`` module loaded."""
    code = (
        "import io, sys, contextlib, json\n"
        "from sropt.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        f"    rc = main(['inspect', {str(BUNDLED)!r}, '--json'])\n"
        "print(json.dumps({'rc': rc, 'tf': [m for m in sys.modules if m.split('.')[0] == 'tensorflow'], 'facts': json.loads(buf.getvalue())}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["rc"] == 0 and got["tf"] == []
    from sropt.convert import read_graph_def

    assert got["facts"]["params"] == analyze_graph(read_graph_def(BUNDLED), "b").params
    assert (got["facts"]["family"], got["facts"]["scale"]) == ("edsr", 3)
