"""Parity-crop outputs kept on disk by content: a file validated again does not start its parity runtime again.

A parity-only row runs a few fixed LR crops through a runtime the file is
not made for (a .pb's TensorFlow row beside its OpenCV one). Most of its cost
is that runtime's start: importing TensorFlow takes 2-3 s on the 2-core Xeon
for crops that take milliseconds. Every sweep point and every pipeline run
validates its source .pb again, so the same crops went through the same file
in the same TensorFlow each time.

The key is everything the outputs depend on: the file's bytes, the runtime
and every package version that decides numbers (``package_versions``), the
CPU model and ISA flags (oneDNN and XNNPACK pick kernels by them), the
thread count, the tiling settings and each crop's pixels. A hit gives the
same arrays the runtime returned for that key; the row says where they came
from. Only built-in runtimes are cached (a runner registered at run time,
such as a test's fake, has no version to key on).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from sropt.core.locations import cache_dir
from sropt.validate.npz_store import read_npz, write_npz

#: Bump when what a parity row computes changes (contract pre/post-processing, crop rules).
FORMAT = 1
CACHED_NOTE = "parity crops read from sropt's cache: this file's bytes, runtime, package versions, CPU and threads gave these outputs before"

SetKey = tuple[str, str]


def parity_key(artifact_path: Path, runtime: str, config: Any, parity_lr: dict[SetKey, list[np.ndarray]]) -> str | None:
    """The cache key of one parity-only row, or None when the runtime is not a built-in one."""
    from sropt.core.machine import machine
    from sropt.validate.environment import package_versions
    from sropt.validate.runners import BUILTIN_RUNTIMES

    if runtime not in BUILTIN_RUNTIMES:
        return None
    h = hashlib.sha256()
    with open(artifact_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    cpu = machine()
    meta = {"format": FORMAT, "file": h.hexdigest(), "runtime": runtime, "packages": package_versions(),
            "cpu": cpu["cpu"], "isa": cpu["isa"], "threads": config.threads, "tile": config.tile, "overlap": config.overlap}
    key = hashlib.sha256(json.dumps(meta, sort_keys=True, default=str).encode())
    for set_key in sorted(parity_lr):
        key.update(json.dumps(set_key).encode())
        for lr in parity_lr[set_key]:
            key.update(f"{lr.shape}{lr.dtype}".encode() + np.ascontiguousarray(lr).tobytes())
    return key.hexdigest()


def _path(key: str) -> Path:
    return cache_dir() / "parity" / f"{key}.npz"


def load_parity(key: str | None) -> dict[SetKey, list[np.ndarray]] | None:
    """The SR crops stored under ``key``; None when absent or unreadable (then the row runs)."""
    if key is None:
        return None
    return read_npz(_path(key), lambda index, data: {tuple(k): [data[name] for name in names] for k, names in index})


def store_parity(key: str | None, sr: dict[SetKey, list[np.ndarray]]) -> None:
    """Keep ``sr`` under ``key`` (atomically; a cache that cannot be written is skipped, never an error)."""
    if key is None:
        return
    arrays: dict[str, np.ndarray] = {}
    index = []
    for n, (set_key, crops) in enumerate(sorted(sr.items())):
        names = [f"s{n}_{i}" for i in range(len(crops))]
        arrays.update(zip(names, crops))
        index.append([list(set_key), names])
    write_npz(_path(key), index, arrays)
