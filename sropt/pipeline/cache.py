"""Content-addressed cache of stage outputs: ``cache_dir()/stages/<key>/``.

A step's key is the sha256 of its name, its config, the tool version, the
versions of the libraries that produce or measure its output (and, for
validation, the CPU: see ``sropt.pipeline.step_environment``) and, for each
input, the upstream step's key and the content hashes of the upstream files. Same inputs + same options -> same key -> the stage is
skipped; one changed option changes that step's key and therefore every
later key, so exactly that stage and the ones after it rerun.

Entries are built in a temporary sibling folder and renamed into place, so
an interrupted stage leaves no entry that looks finished (the next run
resumes from the last finished stage). Each entry has ``manifest.json`` with
the sha256 and size of every file; ``lookup`` re-hashes the files and treats
an entry whose files are missing or changed as corrupted: it is reported,
removed and rebuilt, never trusted.

An entry folder's mtime is its last use: ``lookup`` touches it on every hit,
so ``sropt cache clean --older-than`` removes entries no run has needed
lately, not entries that were merely built long ago.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sropt import __version__
from sropt.core.atomic import write_text_atomic
from sropt.core.locations import cache_dir

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces) for hashing configs."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def key_payload(
    step: str, config: Any, inputs: list[dict[str, Any]], *, code_version: str = "", environment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a step's cache key is the hash of."""
    return {"step": step, "config": config, "tool": __version__, "code": code_version,
            "environment": environment or {}, "inputs": inputs}


def step_key(
    step: str, config: Any, inputs: list[dict[str, Any]], *, code_version: str = "", environment: dict[str, Any] | None = None,
) -> str:
    """The cache key of a step.

    ``inputs`` lists, per upstream step, ``{"step", "key", "files": {name: sha256}}``.
    ``code_version`` lets a stage adapter invalidate its entries when its
    output format changes without a release. ``environment`` is
    ``step_environment(kind)``: library versions (and the machine for
    measuring steps), so an upgrade reruns the steps it affects.
    """
    payload = key_payload(step, config, inputs, code_version=code_version, environment=environment)
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


#: A temp/trash folder whose process still runs is left alone for this long;
#: after that its pid is assumed recycled by an unrelated process.
BUILD_TIMEOUT_S = 24 * 3600


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_being_built(path: Path) -> bool:
    """True when ``path`` (a ``.tmp-``/``.trash-`` folder) belongs to a live run: never remove it then."""
    try:
        pid = int(path.name.split("-")[2])
        age = time.time() - path.stat().st_mtime
    except (ValueError, IndexError, OSError):
        # An unparsable name is not ours to judge; treat it as busy.
        return True
    # A live pid may be a concurrent run building that entry right now;
    # the age check guards against a recycled pid of a dead run.
    return _pid_alive(pid) and age < BUILD_TIMEOUT_S


@dataclass(frozen=True)
class CacheEntry:
    """A verified, finished cache entry."""

    key: str
    path: Path
    manifest: dict[str, Any]

    @property
    def files(self) -> dict[str, str]:
        """File name -> sha256 of every file in the entry."""
        return {name: meta["sha256"] for name, meta in self.manifest["files"].items()}

    @property
    def outputs(self) -> dict[str, Any]:
        """What the stage recorded about its result (artifact file, seconds, ...)."""
        return self.manifest.get("outputs", {})

    @property
    def environment(self) -> dict[str, Any]:
        """The library versions (and machine) the entry was built with; {} for entries older than that record."""
        return (self.manifest.get("key_inputs") or {}).get("environment") or {}


class CorruptEntry(Exception):
    """A cache entry failed verification (the message says why)."""


class StageCache:
    """The stage cache rooted at ``root`` (default ``cache_dir()/stages``)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_dir() / "stages"

    def entry_path(self, key: str) -> Path:
        """Folder of the entry for ``key`` (may not exist)."""
        return self.root / key

    def lookup(self, key: str) -> CacheEntry | None:
        """The verified entry for ``key``; None if absent. Raises CorruptEntry if it fails verification."""
        path = self.entry_path(key)
        if not path.exists():
            return None
        manifest_path = path / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CorruptEntry(f"cache entry {path}: unreadable manifest ({exc.__class__.__name__})") from None
        if manifest.get("key") != key or manifest.get("manifest_version") != MANIFEST_VERSION:
            raise CorruptEntry(f"cache entry {path}: manifest is for another key or format")
        for name, meta in manifest.get("files", {}).items():
            f = path / name
            if not f.is_file():
                raise CorruptEntry(f"cache entry {path}: file {name} is missing")
            if f.stat().st_size != meta["size"]:
                raise CorruptEntry(f"cache entry {path}: file {name} has {f.stat().st_size} bytes, manifest says {meta['size']}")
            if sha256_file(f) != meta["sha256"]:
                raise CorruptEntry(f"cache entry {path}: file {name} content does not match its sha256")
        with contextlib.suppress(OSError):  # a read-only cache still serves hits
            os.utime(path)
        return CacheEntry(key, path, manifest)

    def discard(self, key: str) -> None:
        """Remove the entry for ``key`` (used for corrupted entries)."""
        path = self.entry_path(key)
        if path.exists():
            # Rename first so a concurrent reader never sees a half-deleted entry.
            trash = path.with_name(f".trash-{key}-{os.getpid()}-{time.monotonic_ns()}")
            os.replace(path, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def sweep_stale(self) -> list[Path]:
        """Remove temp/trash folders left by killed runs (their process is gone); return them."""
        removed = []
        for stale in list(self.root.glob(".tmp-*")) + list(self.root.glob(".trash-*")):
            if is_being_built(stale):
                continue
            shutil.rmtree(stale, ignore_errors=True)
            removed.append(stale)
        return removed

    @contextlib.contextmanager
    def build(self, key: str, step: str, key_inputs: Any = None) -> Iterator["EntryBuilder"]:
        """Yield a builder with a temp folder; on success it becomes the entry for ``key``.

        ``key_inputs`` (what the key was hashed from) is kept in the manifest so
        a user can see why a step reran.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.sweep_stale()
        tmp = self.root / f".tmp-{key}-{os.getpid()}-{time.monotonic_ns()}"
        tmp.mkdir()
        builder = EntryBuilder(key, step, tmp)
        builder.key_inputs = key_inputs
        try:
            yield builder
            builder.finish()
            dest = self.entry_path(key)
            if dest.exists():
                self.discard(key)
            try:
                os.replace(tmp, dest)
            except OSError:
                # Another run finished the same entry first; keep theirs if it verifies.
                try:
                    ok = self.lookup(key) is not None
                except CorruptEntry:
                    ok = False
                if not ok:
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
            builder.path = dest
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


class EntryBuilder:
    """A cache entry under construction; stages write their files into ``path``."""

    def __init__(self, key: str, step: str, path: Path) -> None:
        self.key = key
        self.step = step
        self.path = path
        self.outputs: dict[str, Any] = {}
        self.key_inputs: Any = None

    def finish(self) -> CacheEntry:
        """Hash every file and write the manifest (last, so it marks completion)."""
        files = {}
        for f in sorted(p for p in self.path.rglob("*") if p.is_file()):
            rel = f.relative_to(self.path).as_posix()
            if rel == MANIFEST:
                continue
            files[rel] = {"sha256": sha256_file(f), "size": f.stat().st_size}
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "key": self.key,
            "step": self.step,
            "sropt_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": files,
            "outputs": self.outputs,
            "key_inputs": self.key_inputs,
        }
        write_text_atomic(self.path / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")
        return CacheEntry(self.key, self.path, manifest)
