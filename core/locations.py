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


def bundled_dir() -> Path:
    """The small default bundle shipped in the package (sropt.models package data).

    core/ and models/ are installed side by side under ``sropt/`` (editable or
    not), so the path is the same relative to this file in both installs.
    """
    return Path(__file__).resolve().parent.parent / "models" / "bundled"


def datasets_dir() -> Path:
    """Folder holding Set5/, Set14/, T91/.

    ``SROPT_DATASETS_DIR`` if set; else ``<shared>/datasets`` when it exists;
    else the bundled copy (Set5 and a 16-image T91 subset), so the default
    and demo pipelines run on a fresh machine with no network.
    """
    env = os.environ.get("SROPT_DATASETS_DIR")
    if env:
        return Path(env).expanduser()
    shared = shared_dir() / "datasets"
    return shared if shared.is_dir() else bundled_dir() / "datasets"
