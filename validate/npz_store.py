"""One cache entry on disk: named arrays and a JSON index in a single .npz file.

The parity cache (``sropt.validate.parity_cache``) and the set cache
(``sropt.validate.set_cache``) keep their entries this way. Both write an
entry atomically and skip a cache that cannot be written, and both take any
entry they cannot read back (absent, empty, cut short, a flipped byte:
FileNotFoundError, EOFError, BadZipFile, ...) as absent, so the caller
makes it again.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from sropt.core.atomic import write_bytes_atomic
from sropt.core.errors import InputError

T = TypeVar("T")


def read_npz(path: Path, decode: Callable[[Any, Mapping[str, np.ndarray]], T]) -> T | None:
    """``decode(index, arrays)`` of the entry at ``path``; None when it is absent or cannot be read or decoded."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return decode(json.loads(str(data["index"])), data)
    except Exception:  # noqa: BLE001 - every way an entry can be unreadable means the same: make it again
        return None


def write_npz(path: Path, index: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """Keep ``arrays`` and the JSON-able ``index`` at ``path`` (atomically; an unwritable cache is skipped, never an error)."""
    buf = io.BytesIO()
    np.savez(buf, index=np.array(json.dumps(index)), **arrays)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, buf.getvalue())
    except (OSError, InputError):
        pass
