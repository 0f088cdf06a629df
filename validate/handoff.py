"""What an app developer needs to know about a .tflite/.onnx artifact (issue 18, items 2-3).

``describe_handoff`` gathers it from the file itself (I/O tensors as the
file declares them, TFLite metadata), the sidecar when sropt wrote one, and,
for a file sropt did not write, what the graph gives away: input channels
(hence the contract), the scale (a probe run) and the family (the op list,
through ``sropt.convert.detect``'s detectors). Whatever it had to assume or
could not find is listed, never guessed silently.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.errors import InputError

_TFLITE_DTYPES = {"float32": "float32", "int8": "int8", "uint8": "uint8", "float16": "float16", "int16": "int16"}
# Op names of the detectors' summary (TF spelling) for TFLite builtins and ONNX op types.
_OP_ALIASES = {"DEPTH_TO_SPACE": "DepthToSpace", "TANH": "Tanh", "ABS": "Abs", "MUL": "Mul", "ADD": "Add",
               "PRELU": "PRelu"}


@dataclass
class Measurement:
    """The rows of a validation report that measured an artifact, and the CPU they were measured on."""

    report: Path
    rows: list[dict[str, Any]]
    cpu: str
    machine: str


@dataclass
class Handoff:
    """An artifact as an app sees it: contract, I/O tensors, metadata, and what is not known."""

    artifact: Artifact
    family_known: bool
    io: dict[str, Any]
    metadata: dict[str, Any] | None
    sidecar: bool
    inferred: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    #: .tflite: GPU-delegate verdicts and what LiteRT's CompiledModel did on this machine (validate.delegate_notes).
    delegates: dict[str, Any] | None = None

    @property
    def contract(self) -> dict[str, Any]:
        """The family contract with this file's actual I/O tensors."""
        contract = {**self.artifact.contract.describe(self.artifact.scale), "io": self.io}
        shape, channels = self.io["input"]["shape"], self.artifact.contract.input_channels
        if len(shape) == 4 and shape[1] == channels and shape[3] != channels:
            # ONNX exports are NCHW by default: same values, channels first (the text above is NHWC).
            contract["layout"] = "NCHW"
        return contract

    def to_json(self) -> dict[str, Any]:
        """JSON-safe summary (stable keys) for ``inspect --json`` and the package's metadata.json."""
        a = self.artifact
        return {
            "file": a.path.name, "kind": a.kind.value, "size_bytes": a.size_bytes,
            "family": a.family.value if self.family_known else None, "scale": a.scale,
            "precision": a.precision, "sidecar": self.sidecar, "contract": self.contract,
            "tflite_metadata": self.metadata, "provenance": list(a.provenance),
            "inferred": self.inferred, "unknown": self.unknown, "delegates": self.delegates,
        }


def describe_handoff(ref: str | Path) -> Handoff:
    """Describe a .tflite or .onnx artifact for hand-off; InputError for anything else or an unreadable file."""
    from sropt.validate.resolve import open_artifact

    opened = open_artifact(ref)
    art = opened.artifact
    if art.kind is ArtifactKind.FROZEN_GRAPH:
        raise InputError(f"{art.path}: a frozen graph is not an app artifact; convert it first "
                         "(`sropt export MODEL -o m.tflite` or `sropt quantize ... --target tflite`), then package that.")
    io = file_io_tensors(art.path, art.kind)
    metadata = read_tflite_metadata(art.path) if art.kind is ArtifactKind.TFLITE else None
    sidecar = Artifact.from_sidecar(art.path) is not None
    handoff = Handoff(art, True, io, metadata, True) if sidecar else _describe_unwritten(opened.artifact, io, metadata)
    if art.kind is ArtifactKind.TFLITE:
        from sropt.validate.delegate_notes import describe_delegates

        handoff.delegates = describe_delegates(art.path)
    return handoff


def _describe_unwritten(art: Artifact, io: dict[str, Any], metadata: dict[str, Any] | None) -> Handoff:
    """A file without a sidecar: family from its ops, the rest as ``open_artifact`` inferred it."""
    import dataclasses

    from sropt.convert.detect import StructureSummary, detect_family

    channels = art.contract.input_channels
    ops = file_ops(art.path, art.kind)
    summary = StructureSummary(ops, channels, ops["DepthToSpace"], ops["Mul"], ops["Abs"] + ops["PRelu"])
    family = detect_family(summary)
    inferred = [f"scale x{art.scale}: from a probe run (output size / input size)",
                f"contract '{art.contract.name}': from the {channels}-channel input, assuming the model was trained "
                "with the OpenCV dnn_superres pre/post-processing of that channel count"]
    unknown = ["provenance (how it was made, quantization settings): the file has no sidecar"]
    if family is not None:
        inferred.append(f"family {family.value}: from the op list ({', '.join(f'{k} x{v}' for k, v in sorted(ops.items()))})")
        art = dataclasses.replace(art, family=family)
    else:
        unknown.append(f"family: the op list matches no dnn_superres family detector (ops: {', '.join(sorted(ops))})")
    if metadata is None and art.kind is ArtifactKind.TFLITE:
        unknown.append("TFLite metadata: the file carries none (sropt adds it to every .tflite it writes)")
    return Handoff(art, family is not None, io, metadata, False, inferred, unknown)


def file_io_tensors(path: Path, kind: ArtifactKind) -> dict[str, Any]:
    """The single input and output as the file declares them: name, dtype, shape (-1 dynamic), scale/zero point."""
    try:
        return _onnx_io(path) if kind is ArtifactKind.ONNX else _tflite_io(path)
    except InputError:
        raise
    except Exception as exc:  # flatbuffer/protobuf decode errors
        raise InputError(f"{path}: not a readable .{kind.value} model ({type(exc).__name__}: {exc}); re-export it.") from exc


def _tflite_io(path: Path) -> dict[str, Any]:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    io = {}
    for role, detail in (("input", interp.get_input_details()[0]), ("output", interp.get_output_details()[0])):
        facts = {"name": detail["name"], "dtype": _TFLITE_DTYPES.get(np.dtype(detail["dtype"]).name, str(detail["dtype"])),
                 "shape": [int(v) for v in detail["shape_signature"]]}
        scale, zero = detail["quantization"]
        if scale:
            facts["scale"], facts["zero_point"] = float(scale), int(zero)
        io[role] = facts
    return io


def _onnx_io(path: Path) -> dict[str, Any]:
    from sropt.convert.onnx_export import onnx_file_io_tensors

    return onnx_file_io_tensors(path)


def file_ops(path: Path, kind: ArtifactKind) -> Counter:
    """Operator counts of the file's main graph, in the TF spelling the family detectors use."""
    if kind is ArtifactKind.ONNX:
        import onnx

        names = [n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node]
    else:
        from ai_edge_litert.tools import flatbuffer_utils

        model = flatbuffer_utils.read_model(str(path))
        names = [flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) or "?" for op in model.subgraphs[0].operators]
    return Counter(_OP_ALIASES.get(n, n) for n in names)


def read_tflite_metadata(path: Path) -> dict[str, Any] | None:
    """The file's TFLITE_METADATA as a dict, None when it has none; InputError when it is unreadable."""
    from sropt.convert.tflite_metadata import read_metadata

    try:
        return read_metadata(Path(path).read_bytes())
    except Exception as exc:
        raise InputError(f"{path}: its TFLite metadata could not be read ({type(exc).__name__}: {exc}).") from exc
