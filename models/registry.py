"""The model registry: the OpenCV dnn_superres zoo as typed entries.

The data lives in ``manifest.json`` next to this module (shipped as package
data) so that adding or correcting a model is a data change, not a code
change. Names are matched case-insensitively, with or without ``.pb``.
"""

from __future__ import annotations

import difflib
import enum
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from sropt.core.errors import InputError
from sropt.core.families import Family

MANIFEST_SCHEMA_VERSION = 1

_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA1 = re.compile(r"[0-9a-f]{40}")


class ModelSource(str, enum.Enum):
    """Where a registry entry's weights come from."""

    RELEASED = "released"  # published upstream; has a public URL
    PROJECT_TRAINED = "project-trained"  # trained for sropt; only via a mirror


@dataclass(frozen=True)
class ModelEntry:
    """One model file of the registry and how to verify it.

    ``size`` and ``sha256`` are None where they are not known (the three
    released EDSR files); ``git_blob`` (``git hash-object`` of the upstream
    file) is known for every entry, so every file can be verified.
    ``approx_size`` is a display-only estimate where ``size`` is unknown.
    """

    name: str
    file: str
    family: Family
    scale: int
    url: str | None
    size: int | None
    sha256: str | None
    git_blob: str
    source: ModelSource
    description: str
    approx_size: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if not self.file.endswith(".pb"):
            problems.append(f"file {self.file!r} must end in .pb")
        if self.sha256 is not None and not _SHA256.fullmatch(self.sha256):
            problems.append(f"sha256 {self.sha256!r} is not 64 lowercase hex digits")
        if not _SHA1.fullmatch(self.git_blob):
            problems.append(f"git_blob {self.git_blob!r} is not 40 lowercase hex digits")
        if self.source is ModelSource.RELEASED and not self.url:
            problems.append("a released model needs a url")
        if self.scale < 2:
            problems.append(f"scale {self.scale} must be >= 2")
        if problems:
            raise ValueError(f"registry entry {self.name!r} is invalid: " + "; ".join(problems))

    @property
    def mirror_only(self) -> bool:
        """True when the model has no public URL and can only come from a mirror."""
        return self.url is None

    @classmethod
    def from_json(cls, data: dict) -> "ModelEntry":
        """Build an entry from one object of manifest.json."""
        return cls(
            name=data["name"],
            file=data["file"],
            family=Family(data["family"]),
            scale=int(data["scale"]),
            url=data.get("url"),
            size=data.get("size"),
            sha256=data.get("sha256"),
            git_blob=data["git_blob"],
            source=ModelSource(data["source"]),
            description=data.get("description", ""),
            approx_size=data.get("approx_size"),
        )

    def to_json(self) -> dict:
        """A JSON-safe dict (``sropt models list --json``)."""
        return {
            "name": self.name,
            "file": self.file,
            "family": self.family.value,
            "scale": self.scale,
            "url": self.url,
            "size": self.size,
            "approx_size": self.approx_size,
            "sha256": self.sha256,
            "git_blob": self.git_blob,
            "source": self.source.value,
            "description": self.description,
        }


@lru_cache(maxsize=1)
def load_registry() -> tuple[ModelEntry, ...]:
    """All registry entries, in manifest order."""
    text = resources.files("sropt.models").joinpath("manifest.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    if doc.get("schema_version") != MANIFEST_SCHEMA_VERSION:
        raise ValueError(
            f"sropt.models manifest.json has schema_version {doc.get('schema_version')!r}, "
            f"expected {MANIFEST_SCHEMA_VERSION}; reinstall sropt"
        )
    entries = tuple(ModelEntry.from_json(d) for d in doc["models"])
    names = [_key(e.name) for e in entries]
    if len(set(names)) != len(names):
        raise ValueError("sropt.models manifest.json lists a model name twice")
    return entries


def _key(ref: str) -> str:
    """Lookup key of a name: case-insensitive, optional .pb suffix."""
    key = ref.strip().lower()
    return key[:-3] if key.endswith(".pb") else key


def find_model(ref: str) -> ModelEntry | None:
    """The entry named ``ref`` (case-insensitive, ``.pb`` optional), or None."""
    key = _key(ref)
    for entry in load_registry():
        if _key(entry.name) == key:
            return entry
    return None


def close_matches(ref: str, n: int = 3) -> list[str]:
    """Registry names that look like ``ref`` (for "did you mean" messages)."""
    names = {_key(e.name): e.name for e in load_registry()}
    hits = difflib.get_close_matches(_key(ref), list(names), n=n, cutoff=0.5)
    return [names[h] for h in hits]


def get_model(ref: str) -> ModelEntry:
    """The entry named ``ref``; InputError listing close matches if unknown."""
    entry = find_model(ref)
    if entry is not None:
        return entry
    raise InputError(unknown_model_message(ref))


def unknown_model_message(ref: str, *, could_be_path: bool = True) -> str:
    """The message for a name that is not a registry entry (nor a file, if it could be one)."""
    hint = close_matches(ref)
    did_you_mean = f" Did you mean: {', '.join(hint)}?" if hint else ""
    what = "unknown model name (and no such file)" if could_be_path else "unknown model name"
    path_hint = ", or give the path to a .pb file" if could_be_path else ""
    return f"{ref}: {what}.{did_you_mean} Run `sropt models list` for the registry{path_hint}."
