"""What is in sropt's cache root, and removing it: ``sropt cache info`` / ``clean``.

The cache root (``SROPT_CACHE_DIR``) holds one folder per kind of cache.
Each kind is registered with the function that lists its entries, so a new
cache adds one lister here rather than a branch in the command:

* ``stages``: pipeline stage outputs (``<key>/`` folders, see cache.py);
* ``models``: registry models fetched or mirror-copied (``<name>.pb``);
* ``logs``: run logs kept when a pipeline run fails;
* ``benchmarks``: artifacts built by ``benchmarks/`` scripts;
* ``datasets``: image sets fetched from the dataset registry (``<name>/``);
* ``parity``: parity-only rows' SR crops (``sropt.validate.parity_cache``);
* ``sets``: prepared sets' LR images and bicubic scores (``sropt.validate.set_cache``).

Anything else under the root is listed as ``other`` and never removed: the
root may be a folder the user shares with other tools.

An entry is ``ready``, ``building`` (a live run is writing it: a stage
``.tmp-<key>-<pid>-*`` folder whose pid runs, or an atomic-write ``.part``
file written to within ``PART_IDLE_S``), or ``stale`` (what a killed run
left). ``clean`` never removes a building entry.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sropt.core.errors import InputError
from sropt.pipeline.cache import MANIFEST, is_being_built

#: An atomic-write temp file (``.<name>.<random>.part``, sropt.core.atomic) that
#: has not grown for this long belongs to a dead process: downloads write
#: every chunk, so a live one is touched every few seconds.
PART_IDLE_S = 3600

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
AGE_FORMAT = "a number and a unit: s, m, h, d or w (for example 90m, 12h, 7d, 2w)"


@dataclass(frozen=True)
class CacheItem:
    """One entry of one cache kind."""

    kind: str
    path: Path
    size_bytes: int
    mtime: float  # last build or use (see the listers)
    state: str = "ready"  # ready | building | stale
    details: dict[str, Any] = field(default_factory=dict)

    def age_seconds(self, now: float) -> float:
        """Seconds since the entry was last built or used."""
        return max(0.0, now - self.mtime)

    def to_json(self, now: float) -> dict[str, Any]:
        """The entry as ``sropt cache info --json`` prints it."""
        return {"kind": self.kind, "name": self.path.name, "path": str(self.path), "state": self.state,
                "size_bytes": self.size_bytes, "age_seconds": round(self.age_seconds(now), 1), **self.details}


Lister = Callable[[Path], list[CacheItem]]
#: Cache kind -> (folder under the root, lister of its entries).
KINDS: dict[str, tuple[str, Lister]] = {}


def cache_kind(name: str, folder: str) -> Callable[[Lister], Lister]:
    """Register the lister of cache kind ``name`` kept in ``<root>/<folder>``."""
    def register(fn: Lister) -> Lister:
        KINDS[name] = (folder, fn)
        return fn
    return register


def parse_age(text: str) -> float:
    """Seconds in an ``--older-than`` value such as ``7d`` or ``12h``; InputError otherwise."""
    m = _AGE.match(text or "")
    if not m:
        raise InputError(f"--older-than '{text}': expected {AGE_FORMAT}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def tree_size(path: Path) -> int:
    """Bytes of every file at or under ``path`` (symlinks not followed)."""
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_size
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # removed while we walk
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def tree_mtime(path: Path) -> float:
    """The newest mtime at or under ``path``: a folder is as recent as its newest file."""
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for folder, dirs, files in os.walk(path):
            for name in dirs + files:
                with contextlib.suppress(OSError):
                    newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
    return newest


def _children(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.is_dir() else []


@cache_kind("stages", "stages")
def list_stage_entries(folder: Path) -> list[CacheItem]:
    """Stage entries: age is the folder's mtime, which every cache hit touches."""
    items = []
    for path in _children(folder):
        if path.name.startswith((".tmp-", ".trash-")):
            state = "building" if is_being_built(path) else "stale"
            items.append(CacheItem("stages", path, tree_size(path), tree_mtime(path), state))
            continue
        details: dict[str, Any] = {}
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
            details = {"step": manifest.get("step"), "created": manifest.get("created"),
                       "environment": (manifest.get("key_inputs") or {}).get("environment") or {}}
        except (OSError, ValueError):
            details = {"problem": "no readable manifest (lookup treats it as corrupt)"}
        items.append(CacheItem("stages", path, tree_size(path), path.stat().st_mtime, "ready", details))
    return items


#: pooch's download temp files (``tempfile.NamedTemporaryFile`` in the target folder: ``tmp`` + 8 characters).
_POOCH_TEMP = re.compile(r"tmp[a-z0-9_]{8}")


def _is_temp(name: str) -> bool:
    """An atomic-write temp file (``.<name>.<random>.part``, sropt.core.atomic) or a pooch download in progress."""
    return (name.startswith(".") and name.endswith(".part")) or bool(_POOCH_TEMP.fullmatch(name))


def _fresh_temp_inside(folder: Path, now: float) -> bool:
    """Whether a folder entry (a dataset being fetched file by file) holds a temp file written to lately."""
    for sub, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                if _is_temp(name) and now - os.lstat(os.path.join(sub, name)).st_mtime < PART_IDLE_S:
                    return True
    return False


def _list_files(kind: str, folder: Path) -> list[CacheItem]:
    """Top-level files/folders of ``folder``; temp files, and folders holding a fresh one, are building or stale."""
    now, items = time.time(), []
    for path in _children(folder):
        mtime = tree_mtime(path)
        state = "ready"
        if _is_temp(path.name):
            state = "building" if now - mtime < PART_IDLE_S else "stale"
        elif path.is_dir() and not path.is_symlink() and _fresh_temp_inside(path, now):
            state = "building"
        items.append(CacheItem(kind, path, tree_size(path), mtime, state))
    return items


#: Kinds whose entries are the top-level files and folders of ``<root>/<kind>`` (what each holds is in the
#: module docstring); registered in this order after ``stages``, the order ``info`` prints them.
FILE_KINDS = ("models", "logs", "benchmarks", "datasets", "parity", "sets")
for _kind in FILE_KINDS:
    cache_kind(_kind, _kind)(functools.partial(_list_files, _kind))


def list_cache(root: Path, kinds: Iterable[str] | None = None) -> list[CacheItem]:
    """Every entry under ``root`` of ``kinds`` (default: all, plus ``other`` for unknown folders)."""
    wanted = list(kinds) if kinds else all_kinds()
    unknown = [k for k in wanted if k not in all_kinds()]
    if unknown:
        raise InputError(f"--kind {', '.join(unknown)}: unknown cache kind; choose from {', '.join(all_kinds())}")
    items = []
    for kind in wanted:
        if kind in KINDS:
            folder, lister = KINDS[kind]
            items += lister(root / folder)
    if "other" in wanted:
        known = {folder for folder, _ in KINDS.values()}
        items += [CacheItem("other", p, tree_size(p), tree_mtime(p)) for p in _children(root) if p.name not in known]
    return items


def all_kinds() -> list[str]:
    """Every registered kind, then ``other``."""
    return [*KINDS, "other"]


def summarize(items: list[CacheItem], root: Path, kinds_shown: Iterable[str] | None = None) -> dict[str, Any]:
    """Per-kind entry counts and bytes (every kind in ``kinds_shown``, even when empty), and the totals."""
    kinds: dict[str, dict[str, Any]] = {}
    for name in list(kinds_shown or all_kinds()) + [i.kind for i in items]:
        kinds.setdefault(name, {"entries": 0, "size_bytes": 0, "building": 0, "stale": 0})
    for item in items:
        k = kinds[item.kind]
        k["entries"] += 1
        k["size_bytes"] += item.size_bytes
        if item.state != "ready":
            k[item.state] += 1
    return {"root": str(root), "kinds": kinds, "entries": len(items), "size_bytes": sum(i.size_bytes for i in items)}


def select_removable(items: list[CacheItem], older_than_s: float | None, now: float) -> list[CacheItem]:
    """Entries ``clean`` removes: not building, not ``other``, and older than the limit if one is given."""
    return [i for i in items if i.state != "building" and i.kind != "other"
            and (older_than_s is None or i.age_seconds(now) > older_than_s)]


def remove_item(item: CacheItem) -> None:
    """Delete one entry; a stage entry is renamed away first so no reader sees it half-deleted."""
    path = item.path
    if item.kind == "stages" and item.state == "ready":
        trash = path.with_name(f".trash-{path.name}-{os.getpid()}-{time.monotonic_ns()}")
        try:
            os.replace(path, trash)
        except FileNotFoundError:
            return  # removed by someone else meanwhile
        path = trash
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


__all__ = ["AGE_FORMAT", "KINDS", "all_kinds", "CacheItem", "cache_kind", "list_cache", "parse_age", "remove_item", "select_removable", "summarize", "tree_size"]
