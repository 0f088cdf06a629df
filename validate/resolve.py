"""Opening an artifact for validation: a path or registry name -> a typed Artifact.

* ``.pb``: family, scale, I/O names, parameters and MACs come from
  ``sropt.convert.analysis`` (the graph's structure), precision/provenance
  from the sidecar when there is one.
* ``.onnx`` / ``.tflite``: metadata comes from the sidecar sropt writes next
  to its exports. Without one, the contract is inferred from the input
  channels (3 -> EDSR's BGR-mean contract, 1 -> the Y-channel contract) and
  the scale from a probe run; both are stated in the result's notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.errors import InputError
from sropt.core.families import Family


@dataclass
class OpenedArtifact:
    """An artifact plus static facts (size, params, MACs) and how they were found."""

    artifact: Artifact
    params: int | None = None
    macs_per_pixel: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def size_bytes(self) -> int:
        """File size on disk."""
        return self.artifact.size_bytes


def resolve_artifact_path(ref: str | Path) -> Path:
    """A local file for ``ref`` (path, or registry name via sropt.models)."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    from sropt.models import resolve_model

    return Path(resolve_model(ref))


def open_artifact(ref: str | Path) -> OpenedArtifact:
    """Resolve and describe ``ref``; InputError/UnsupportedModelError when unusable."""
    path = resolve_artifact_path(ref)
    kind = ArtifactKind.from_path(path)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty; re-export or re-download it.")
    if kind is ArtifactKind.FROZEN_GRAPH:
        return _open_frozen_graph(path)
    return _open_exported(path, kind)


def _open_frozen_graph(path: Path) -> OpenedArtifact:
    # The graph's structure is all the analysis reads: parsed with protobuf alone, so opening a .pb for a
    # runtime that is not TensorFlow (OpenCV) does not import TensorFlow (`sropt serve` start-up, issue 16).
    from sropt.convert.analysis import analyze_graph
    from sropt.convert.graph_structure import read_graph_structure

    info = analyze_graph(read_graph_structure(path), source=str(path))
    side = Artifact.from_sidecar(path)
    artifact = Artifact(
        path=path,
        kind=ArtifactKind.FROZEN_GRAPH,
        family=info.family,
        scale=info.scale,
        precision=side.precision if side else ("quint8-weights" if info.weight_storage == "quint8" else "float32"),
        input_name=info.inputs[0],
        output_name=info.main_output,
        output_layout=side.output_layout if side else "NCHW",
        provenance=side.provenance if side else (),
    )
    return OpenedArtifact(artifact, params=info.params, macs_per_pixel=info.macs_per_pixel, notes=list(info.notes))


def _open_exported(path: Path, kind: ArtifactKind) -> OpenedArtifact:
    side = Artifact.from_sidecar(path)
    params = _count_params(path, kind)
    if side is not None:
        if side.kind is not kind:
            raise InputError(f"{path}: its sidecar says kind '{side.kind.value}' but the file is .{kind.value}; fix or delete the sidecar.")
        macs = None
        for step in side.provenance:
            macs = step.get("macs_per_pixel", macs) if isinstance(step, dict) else macs
        from sropt.validate.cpu_target_notes import cpu_target_notes

        return OpenedArtifact(side, params=params, macs_per_pixel=macs, notes=cpu_target_notes(side.provenance))
    try:
        channels = _input_channels(path, kind)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: not a readable .{kind.value} model ({type(exc).__name__}: {exc}); re-export it.") from exc
    if channels not in (1, 3):
        raise InputError(f"{path}: input has {channels} channels; sropt validates 1-channel (Y) or 3-channel (BGR) SR models.")
    family = Family.EDSR if channels == 3 else Family.FSRCNN
    probe = Artifact(path=path, kind=kind, family=family, scale=0)
    scale = _probe_scale(probe)
    artifact = Artifact(path=path, kind=kind, family=family, scale=scale, precision=_guess_precision(path, kind))
    contract = artifact.contract.name
    notes = [
        f"{path.name}: no {path.name}.sropt.json sidecar; assumed the '{contract}' contract from its "
        f"{channels}-channel input and scale x{scale} from a probe run"
    ]
    return OpenedArtifact(artifact, params=params, notes=notes)


def _input_channels(path: Path, kind: ArtifactKind) -> int:
    if kind is ArtifactKind.ONNX:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in model.graph.input[0].type.tensor_type.shape.dim]
        if len(dims) != 4:
            raise InputError(f"{path}: input is rank {len(dims)}; an SR model takes a [1,H,W,C] or [1,C,H,W] image.")
        return dims[3] if dims[3] in (1, 3) else dims[1]
    from ai_edge_litert.interpreter import Interpreter

    detail = Interpreter(model_path=str(path)).get_input_details()[0]
    return int(detail["shape"][-1])


def _probe_scale(artifact: Artifact) -> int:
    from sropt.validate.runners import get_runner

    runner_name = "ort" if artifact.kind is ArtifactKind.ONNX else "tflite"
    runner = get_runner(runner_name)().load(artifact, threads=1)
    h, w, c = 12, 17, artifact.contract.input_channels
    out = runner.predict(np.zeros((1, h, w, c), np.float32))
    return int(out.shape[1] // h)


def _guess_precision(path: Path, kind: ArtifactKind) -> str:
    if kind is ArtifactKind.TFLITE:
        from ai_edge_litert.interpreter import Interpreter

        dtype = np.dtype(Interpreter(model_path=str(path)).get_input_details()[0]["dtype"])
        return "int8" if dtype.kind in "iu" else "float32"
    return "float32"


def _count_params(path: Path, kind: ArtifactKind) -> int | None:
    if kind is not ArtifactKind.ONNX:
        return None  # TFLite tensors mix weights and activations; the sidecar/source .pb has the count
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
        # A file can parse and still be corrupt (tests/fuzz: a weight whose dims its data does not fill, an attribute
        # name with a flipped bit, which ONNX Runtime then refused as INVALID_GRAPH): onnx's own checker sees both.
        # It accepts every model sropt writes (export NCHW/NHWC, ORT int8 QDQ and fp16).
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf DecodeError, onnx ValidationError and friends
        raise InputError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc}); re-export it.") from exc
    # Float initializers only: tf2onnx also stores int64 shape/perm constants as initializers.
    return int(sum(a.size for a in map(numpy_helper.to_array, model.graph.initializer) if a.dtype.kind == "f"))
