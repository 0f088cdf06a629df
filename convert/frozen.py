"""A loaded frozen SR graph: the typed artifact plus its GraphDef and facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sropt.convert.analysis import GraphInfo, analyze_graph
from sropt.convert.graph import check_tensorflow_import, make_session, read_graph_def, run_session
from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.errors import InputError
from sropt.core.layout import to_nhwc

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef


@dataclass
class FrozenGraph:
    """A frozen GraphDef with what sropt knows about it, runnable in TF."""

    artifact: Artifact
    graph_def: "GraphDef"
    info: GraphInfo
    _sessions: dict[Any, Any] = field(default_factory=dict, repr=False)

    def predict(self, x_nhwc: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Run the model on one preprocessed NHWC input; return the NHWC float32 output."""
        sess = self._sessions.get(threads)
        if sess is None:
            sess = self._sessions[threads] = make_session(self.graph_def, threads)
        x = x_nhwc.astype(np.float32)
        (out,) = run_session(sess, {self.info.inputs[0]: x}, [self.info.main_output])
        return to_nhwc(out, x.shape, self.artifact.scale, source=str(self.artifact.path))

    def close(self) -> None:
        """Release the TF sessions."""
        for sess in self._sessions.values():
            sess.close()
        self._sessions.clear()


def frozen_graph_from_def(graph_def: "GraphDef", path: Path, provenance: tuple[dict, ...] = ()) -> FrozenGraph:
    """Wrap an in-memory GraphDef (e.g. a stage's output before it is written)."""
    info = analyze_graph(graph_def, str(path))
    main = next(n for n in graph_def.node if n.name == info.main_output)
    # The zoo graphs end in Transpose(0,3,1,2) named NCHW_output. This records which
    # node the exporters cut at (tflite_export drops the Transpose); the arrays a
    # model returns are brought to NHWC by their shape (sropt.core.layout).
    artifact = Artifact(
        path=Path(path),
        kind=ArtifactKind.FROZEN_GRAPH,
        family=info.family,
        scale=info.scale,
        precision="quint8-weights" if info.weight_storage == "quint8" else "float32",
        input_name=info.inputs[0],
        output_name=info.main_output,
        output_layout="NCHW" if main.op == "Transpose" else "NHWC",
        provenance=provenance,
    )
    return FrozenGraph(artifact, graph_def, info)


def load_frozen_graph(ref: str | Path) -> FrozenGraph:
    """Load a frozen SR graph from a file; InputError if unusable.

    Registry names are resolved one layer up (``sropt.models.resolve_model``;
    the stages and the CLI do it), so that convert/ does not import models/.
    """
    path = _frozen_graph_path(ref)
    graph_def = read_graph_def(path)
    check_tensorflow_import(graph_def, path)
    sidecar = Artifact.from_sidecar(path)
    loaded = frozen_graph_from_def(graph_def, path, sidecar.provenance if sidecar else ())
    return loaded


def describe_frozen_graph(ref: str | Path) -> tuple[Artifact, GraphInfo]:
    """The artifact and graph facts of a frozen graph, parsed with protobuf alone (no TensorFlow import).

    Same checks and errors as ``load_frozen_graph``; for what the graph alone
    shows (`sropt inspect`), not for running it.
    """
    from sropt.convert.graph_structure import read_graph_structure

    path = _frozen_graph_path(ref)
    sidecar = Artifact.from_sidecar(path)
    loaded = frozen_graph_from_def(read_graph_structure(path), path, sidecar.provenance if sidecar else ())
    return loaded.artifact, loaded.info


def _frozen_graph_path(ref: str | Path) -> Path:
    """``ref`` as an existing .pb path; InputError saying what to give instead."""
    path = Path(ref).expanduser()
    if not path.is_file():
        what = "is a directory, not a model file" if path.is_dir() else "no such file"
        raise InputError(f"{path}: {what}. Give a frozen graph (.pb), or resolve a registry name "
                         "with sropt.models.resolve_model first (`sropt models list`).")
    if path.suffix.lower() in (".tflite", ".onnx"):
        raise InputError(f"{path}: this step needs a frozen TensorFlow graph (.pb), not a {path.suffix} file.")
    return path
