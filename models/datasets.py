"""The image-set registry (models/datasets.json): each file's size, git blob id and sha256.

Set5 and Set14 have pinned public URLs (``base_url``/<file>); T91 has none, so a
user points a mirror at a copy. Where a set is found locally follows
``sropt.core.locations.datasets_dir()``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sropt.core.errors import InputError
from sropt.core.locations import datasets_dir


@dataclass(frozen=True)
class DatasetEntry:
    """One registered image set."""

    name: str
    base_url: str | None
    files: tuple[dict, ...]

    @property
    def size(self) -> int:
        """Total bytes of the set's files."""
        return sum(f["size"] for f in self.files)


@cache
def dataset_registry() -> dict[str, DatasetEntry]:
    """All registered sets by name, read from models/datasets.json."""
    data = json.loads((Path(__file__).parent / "datasets.json").read_text(encoding="utf-8"))
    return {d["name"]: DatasetEntry(d["name"], d["base_url"], tuple(d["files"])) for d in data["datasets"]}


def get_dataset(name: str) -> DatasetEntry:
    """The entry for ``name`` (case-insensitive); InputError naming the known sets."""
    for key, entry in dataset_registry().items():
        if key.lower() == name.lower():
            return entry
    raise InputError(f"unknown dataset {name!r}; known: {', '.join(dataset_registry())} (`sropt datasets list`).")


def local_copy(entry: DatasetEntry) -> tuple[Path, int]:
    """Where ``entry`` is looked for and how many of its registered files are there."""
    folder = datasets_dir() / entry.name
    present = sum((folder / f["file"]).is_file() for f in entry.files)
    return folder, present


__all__ = ["DatasetEntry", "dataset_registry", "get_dataset", "local_copy"]
