"""Configurable locations: the cache, the model mirror and the shared data.

Everything that reads outside the repository goes through these functions so
a user can point sropt at their own folders:

* ``SROPT_CACHE_DIR``: fetched models and stage caches (default: the per-user
  cache folder, e.g. ``~/.cache/sropt``).
* ``SROPT_MODEL_MIRROR``: a folder or base URL that replaces the network for
  ``models fetch`` and registry names. CI sets it to ``../shared/models``.
* ``SROPT_SHARED_DIR``: the shared material (models/, datasets/); default
  ``../shared`` next to the project root, i.e. the folder CI provides.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Root of sropt's cache (created on demand by the writers, not here)."""
    env = os.environ.get("SROPT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("sropt"))


def model_mirror() -> str | None:
    """The configured mirror (folder path or http(s) base URL), or None."""
    return os.environ.get("SROPT_MODEL_MIRROR") or None


def shared_dir() -> Path:
    """The shared material folder (may not exist on a user's machine)."""
    env = os.environ.get("SROPT_SHARED_DIR")
    return Path(env).expanduser() if env else PROJECT_ROOT.parent / "shared"


def datasets_dir() -> Path:
    """Folder holding Set5/, Set14/, T91/ (``SROPT_DATASETS_DIR`` overrides)."""
    env = os.environ.get("SROPT_DATASETS_DIR")
    return Path(env).expanduser() if env else shared_dir() / "datasets"
