"""Atomic file writes: a crash never leaves a half-written file that looks valid.

Write to a temporary file in the destination folder, flush and fsync, then
``os.replace`` it over the destination (atomic on POSIX). Refuses to write
over a path the caller declares as an input.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sropt.core.errors import InputError


def ensure_not_input(out: Path, *inputs: Path) -> None:
    """Raise InputError if ``out`` is the same file as any of ``inputs``."""
    out = Path(out)
    for src in inputs:
        src = Path(src)
        same = out.resolve() == src.resolve()
        if not same and out.exists() and src.exists():
            same = os.path.samefile(out, src)
        if same:
            raise InputError(
                f"{out}: output would overwrite the input model. Choose another output path (-o)."
            )


@contextlib.contextmanager
def atomic_path(dest: Path, *, inputs: tuple[Path, ...] = ()) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success rename it onto ``dest``.

    On any exception the temporary file is removed and ``dest`` is untouched.
    Use it when a library (TF, onnx, tf2onnx) insists on writing the file itself.
    """
    dest = Path(dest)
    ensure_not_input(dest, *inputs)
    if dest.is_dir():
        raise InputError(f"{dest}: is a directory; give a file path for the output.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    # mkstemp creates 0600; give the file the mode a plain open() would (0666 & ~umask).
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(dest: Path, data: bytes, *, inputs: tuple[Path, ...] = ()) -> Path:
    """Write ``data`` to ``dest`` atomically and return ``dest``."""
    with atomic_path(dest, inputs=inputs) as tmp:
        tmp.write_bytes(data)
    return Path(dest)


def write_text_atomic(dest: Path, text: str, *, inputs: tuple[Path, ...] = ()) -> Path:
    """Write ``text`` (UTF-8) to ``dest`` atomically and return ``dest``."""
    return write_bytes_atomic(dest, text.encode("utf-8"), inputs=inputs)
