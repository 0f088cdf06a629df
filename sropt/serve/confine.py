"""Keeping the server's writes inside its cache folder, including those its libraries make on their own."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# What the runtimes write outside any folder they were given, found by running `sropt serve` with a fresh
# HOME, TMPDIR and XDG_CACHE_HOME (tests/serve/test_load.py checks they stay empty):
#   onnxruntime 1.32 on import: telemetry (1DS) device id + SQLite store in $XDG_CACHE_HOME/Microsoft/DeveloperTools/
#     and a `.ses` file in $TMPDIR; ORT_DISABLE_TELEMETRY=1 turns all of it off (and its uploads);
#   tensorflow 2.21 on import: ~/.keras/keras.json (tf-keras' config), and matplotlib's font cache and config folder.
CONFINED_ENV = {"ORT_DISABLE_TELEMETRY": "1"}
CONFINED_DIRS = {"KERAS_HOME": "keras", "MPLCONFIGDIR": "matplotlib"}


def confine_writes(cache_dir: Path | None) -> Path:
    """Create the cache folder (a new temp folder when None) and point the libraries' own writes into it.

    Call it before any runtime is imported: the libraries read these variables
    once, on import. A variable the user has set already is left as it is.
    """
    folder = Path(cache_dir) if cache_dir else Path(tempfile.mkdtemp(prefix="sropt-serve-"))
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in CONFINED_ENV.items():
        os.environ.setdefault(key, value)
    for key, sub in CONFINED_DIRS.items():
        os.environ.setdefault(key, str(folder / sub))
    return folder
