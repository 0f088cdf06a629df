"""Typed artifacts that flow between stages.

A stage takes an ``Artifact`` and returns one; nobody passes loose paths and
dicts. Every artifact knows its family, scale and pre/post-processing
contract, and records how it was made (``provenance``) so validation can say
what it measured. Artifacts written by sropt carry that in a sidecar file
``<artifact>.sropt.json`` because TFLite and ONNX have no common metadata slot
that every consumer preserves.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sropt.core.atomic import write_text_atomic
from sropt.core.contracts import Contract
from sropt.core.families import Family, family_spec

SIDECAR_SUFFIX = ".sropt.json"


class ArtifactKind(str, enum.Enum):
    """The file format of an artifact; decides which runtimes can load it."""

    FROZEN_GRAPH = "pb"
    TFLITE = "tflite"
    ONNX = "onnx"

    @classmethod
    def from_path(cls, path: Path) -> "ArtifactKind":
        """The kind implied by a file name's suffix."""
        suffix = path.suffix.lower().lstrip(".")
        for kind in cls:
            if kind.value == suffix:
                return kind
        from sropt.core.errors import InputError

        raise InputError(
            f"{path}: unknown artifact type '{path.suffix}'. "
            "Give a frozen graph (.pb), a TFLite model (.tflite) or an ONNX model (.onnx)."
        )


@dataclass(frozen=True)
class Artifact:
    """A model file plus what sropt knows about it.

    ``precision`` names the numeric form (``float32``, ``fp16``, ``dynamic``,
    ``int8``, ``int16x8``, ``quint8-weights``); ``provenance`` lists the steps
    that produced it, oldest first (e.g. ``[{"stage": "prune", "ratio": 0.25}]``).
    """

    path: Path
    kind: ArtifactKind
    family: Family
    scale: int
    precision: str = "float32"
    input_name: str = ""
    output_name: str = ""
    output_layout: str = "NCHW"  # layout of output_name: NCHW (zoo .pb) or NHWC
    provenance: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    # The file's own I/O tensors ({"input"|"output": {name, dtype, shape, scale,
    # zero_point}}), as written; empty when the writer did not record them.
    io_tensors: dict[str, Any] = field(default_factory=dict)

    @property
    def contract(self) -> Contract:
        """The pre/post-processing contract of this artifact's family."""
        return family_spec(self.family).contract

    @property
    def size_bytes(self) -> int:
        """Size of the file on disk."""
        return self.path.stat().st_size

    @property
    def label(self) -> str:
        """A short human name for tables: file name plus precision."""
        return f"{self.path.name} [{self.kind.value}/{self.precision}]"

    def derive(self, path: Path, kind: ArtifactKind, step: dict[str, Any], **changes: Any) -> "Artifact":
        """A new artifact made from this one by ``step`` (family/scale carried over)."""
        values = {**asdict_shallow(self), "path": Path(path), "kind": kind, **changes}
        values["provenance"] = (*self.provenance, step)
        values["io_tensors"] = changes.get("io_tensors", {})  # they describe one file, never its source
        return Artifact(**values)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (used for sidecars and reports)."""
        d = asdict(self)
        d["path"] = str(self.path)
        d["kind"] = self.kind.value
        d["family"] = self.family.value
        d["provenance"] = list(self.provenance)
        return d

    def handoff_contract(self) -> dict[str, Any]:
        """The pre/post-processing an app must do, with this file's I/O dtypes (for sidecars and hand-offs)."""
        contract = self.contract.describe(self.scale)
        if self.io_tensors:
            contract["io"] = self.io_tensors
        return contract

    def write_sidecar(self) -> Path:
        """Write ``<path>.sropt.json`` atomically and return its path."""
        meta = self.to_json()
        meta.pop("path")
        # Read by people and apps, never back by from_sidecar (the family decides it).
        meta["contract"] = self.handoff_contract()
        side = sidecar_path(self.path)
        write_text_atomic(side, json.dumps(meta, indent=2) + "\n")
        return side

    @classmethod
    def from_sidecar(cls, path: Path) -> "Artifact | None":
        """The artifact described by ``path``'s sidecar, or None if it has none."""
        side = sidecar_path(path)
        if not side.is_file():
            return None
        meta = json.loads(side.read_text())
        return cls(
            path=Path(path),
            kind=ArtifactKind(meta["kind"]),
            family=Family(meta["family"]),
            scale=int(meta["scale"]),
            precision=meta.get("precision", "float32"),
            input_name=meta.get("input_name", ""),
            output_name=meta.get("output_name", ""),
            output_layout=meta.get("output_layout", "NCHW"),
            provenance=tuple(meta.get("provenance", ())),
            io_tensors=dict(meta.get("io_tensors", {})),
        )


def asdict_shallow(a: Artifact) -> dict[str, Any]:
    """Field values of ``a`` without deep-copying (asdict would copy provenance)."""
    return {f: getattr(a, f) for f in a.__dataclass_fields__}


def sidecar_path(path: Path) -> Path:
    """Where the metadata of artifact ``path`` is stored."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)
