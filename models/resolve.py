"""Turning a model reference (a path or a registry name) into a local file."""

from __future__ import annotations

import os
from pathlib import Path

from sropt.core.errors import InputError
from sropt.models.fetch import DEFAULT_TIMEOUT, ProgressCallback, fetch_model
from sropt.models.registry import find_model, unknown_model_message


def resolve_model(
    ref: str | Path,
    *,
    mirror: str | Path | None = None,
    cache: Path | None = None,
    progress: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Return a local file for ``ref``: an existing file as is, or a registry model.

    A registry name (case-insensitive, ``.pb`` optional, e.g. ``FSRCNN_x3``)
    resolves to the verified cache copy, fetched from the mirror
    (``SROPT_MODEL_MIRROR``) or the upstream URL when it is not cached.
    InputError for a directory, a missing file or an unknown name (with close
    matches); FetchError when a known model cannot be obtained.
    """
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    text = str(ref)
    # Only a bare name can be a registry name; "models/EDSR_x3.pb" is a path.
    is_bare_name = os.sep not in text and "/" not in text
    entry = find_model(text) if is_bare_name else None
    if entry is not None:
        return fetch_model(entry, mirror=mirror, cache=cache, progress=progress, timeout=timeout)
    if path.is_dir():
        raise InputError(
            f"{path}: is a directory, not a model file. Give a frozen graph (.pb) "
            "or a registry name (`sropt models list`)."
        )
    if is_bare_name:
        raise InputError(unknown_model_message(text))
    raise InputError(
        f"{path}: no such file. Check the path, or give a registry name (`sropt models list`)."
    )
