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




# --------------------------------------------------------------------------- fetch and resolve
#
# Downloads go through sropt.models.http.fetch_verified (pooch, with
# sropt's downloader): each file lands in a temporary file, is checked
# against the registry (size, sha256, git blob id), and only then moved in;
# failed or corrupted attempts are retried. Files already present and
# verified are not fetched again; a corrupted one is fetched again.

RETRIES = 2  # extra attempts per file (sropt.models.http.RETRIES)


def dataset_cache_dir() -> Path:
    """Where fetched image sets live: ``<cache>/datasets/<name>/``."""
    from sropt.core.locations import cache_dir

    return cache_dir() / "datasets"


def dataset_mirror() -> str | None:
    """``SROPT_DATASET_MIRROR``: a folder holding ``<name>/<file>``, or an http(s) base URL with the same layout."""
    import os

    return os.environ.get("SROPT_DATASET_MIRROR") or None


def file_problems(path: Path, spec: dict) -> list[str]:
    """How ``path`` differs from its registry entry (size, sha256, git blob id); empty when it matches."""
    from sropt.models.verify import file_digests

    if not path.is_file():
        return [f"{path.name}: missing"]
    d = file_digests(path)
    problems = []
    if d.received != spec["size"]:
        problems.append(f"{path.name}: {d.received} bytes, the registry says {spec['size']}")
    if d.sha256 != spec["sha256"]:
        problems.append(f"{path.name}: sha256 {d.sha256[:16]}..., the registry says {spec['sha256'][:16]}...")
    if d.git_blob != spec["git_blob"]:
        problems.append(f"{path.name}: git blob {d.git_blob[:12]}..., the registry says {spec['git_blob'][:12]}...")
    return problems


def fetch_dataset(name: str, *, timeout: float | None = None, progress=None) -> Path:
    """Put the registered set ``name`` into the cache, verified; return its folder.

    From ``SROPT_DATASET_MIRROR`` when set (never the network then), else from
    the set's pinned URL. FetchError (exit 3) naming the file and the URL or
    mirror on any failure; nothing unverified stays in the cache.
    """
    from sropt.models.http import DEFAULT_TIMEOUT

    entry = get_dataset(name)
    mirror = dataset_mirror()
    dest = dataset_cache_dir() / entry.name
    if mirror and not mirror.startswith(("http://", "https://")):
        _copy_from_mirror_folder(entry, Path(mirror).expanduser() / entry.name, dest)
    else:
        base = f"{mirror.rstrip('/')}/{entry.name}" if mirror else entry.base_url
        if base is None:
            from sropt.core.errors import FetchError

            raise FetchError(
                f"dataset {entry.name} has no verified public URL. Point SROPT_DATASET_MIRROR at a folder "
                f"holding {entry.name}/ (its {len(entry.files)} files are checked against the registry's sha256), "
                f"or SROPT_DATASETS_DIR at a folder with {entry.name}/ in it."
            )
        _download_set(entry, base, dest, timeout or DEFAULT_TIMEOUT, progress)
    return dest


def _download_set(entry: DatasetEntry, base: str, dest: Path, timeout: float, progress) -> None:
    from sropt.models.http import fetch_verified

    remedy = f"Check the network or set SROPT_DATASET_MIRROR to a folder or URL holding {entry.name}/."
    for i, spec in enumerate(entry.files, 1):
        target = dest / spec["file"]
        if target.is_file() and not file_problems(target, spec):
            continue
        target.unlink(missing_ok=True)  # a corrupted copy is fetched again, never trusted
        fetch_verified(
            f"{base.rstrip('/')}/{spec['file']}", target, what=f"{entry.name}/{spec['file']}",
            timeout=timeout, remedy=remedy, retries=RETRIES, verify=lambda path, spec=spec: file_problems(path, spec),
        )
        if progress:
            progress(i, len(entry.files))


def _copy_from_mirror_folder(entry: DatasetEntry, folder: Path, dest: Path) -> None:
    from sropt.core.atomic import atomic_path
    from sropt.core.errors import FetchError

    missing = [f["file"] for f in entry.files if not (folder / f["file"]).is_file()]
    if missing:
        raise FetchError(
            f"SROPT_DATASET_MIRROR {folder.parent}: {folder} lacks {len(missing)} of the {len(entry.files)} files of "
            f"{entry.name} ({', '.join(missing[:5])}{'...' if len(missing) > 5 else ''}). Complete the mirror or unset it."
        )
    for spec in entry.files:
        target = dest / spec["file"]
        if target.is_file() and not file_problems(target, spec):
            continue
        problems = file_problems(folder / spec["file"], spec)
        if problems:
            raise FetchError(f"SROPT_DATASET_MIRROR: {folder / spec['file']} is not the registry's file; nothing copied.", problems=problems)
        with atomic_path(target) as tmp:
            tmp.write_bytes((folder / spec["file"]).read_bytes())


def verified_copy(folder: Path, entry: DatasetEntry, *, subset: bool = False) -> tuple[bool, list[str]]:
    """(usable, problems): every registered file present and matching (``subset``: every present one matches)."""
    if not folder.is_dir():
        return False, []
    present = [f for f in entry.files if (folder / f["file"]).is_file()]
    if not subset and len(present) != len(entry.files):
        return False, [f"{len(entry.files) - len(present)} of {len(entry.files)} files missing"]
    problems = [p for f in present for p in file_problems(folder / f["file"], f)]
    return bool(present) and not problems, problems


def resolve_dataset(ref: str, *, download: bool = True) -> Path:
    """The folder for a dataset name or path.

    Order: an explicit path; ``SROPT_DATASETS_DIR`` (default ../shared/datasets)
    holding ``<name>/``; the verified cache; the bundled copy (Set5 and a
    16-image T91 subset, verified); then a download (mirror or pinned URL).
    FetchError/InputError saying what was tried and what to do when all fail.
    """
    from sropt.core.errors import FetchError
    from sropt.core.locations import bundled_dir

    path = Path(ref).expanduser()
    if path.is_absolute() or "/" in ref or ref.startswith("."):
        return path
    tried = []
    local = datasets_dir() / ref
    if local.is_dir():
        return local
    tried.append(f"{local}: not there (SROPT_DATASETS_DIR)")
    entry = dataset_registry().get(ref) or next((e for k, e in dataset_registry().items() if k.lower() == ref.lower()), None)
    if entry is None:
        raise InputError(f"dataset {ref!r}: {tried[0]}; it is not a registered set either ({', '.join(dataset_registry())}). Give a folder path.")
    for folder, subset, label in (
        (dataset_cache_dir() / entry.name, False, "cache"),
        (bundled_dir() / "datasets" / entry.name, True, "bundled copy"),
    ):
        ok, problems = verified_copy(folder, entry, subset=subset)
        if ok:
            return folder
        tried.append(f"{folder}: {label} " + ("; ".join(problems[:3]) if problems else "absent"))
    if not download:
        raise InputError(f"dataset {entry.name} is not available here", problems=tried + [f"fetch it: sropt datasets fetch {entry.name}"])
    try:
        return fetch_dataset(entry.name)
    except FetchError as exc:
        reason = str(exc).split("\n", 1)[0]
        raise FetchError(
            f"dataset {entry.name} could not be found or downloaded. Tried, in order:",
            problems=[*tried, f"download: {reason}", *exc.problems],
        ) from None


__all__ = [
    "DatasetEntry", "dataset_cache_dir", "dataset_mirror", "dataset_registry", "fetch_dataset",
    "file_problems", "get_dataset", "local_copy", "resolve_dataset", "verified_copy",
]
