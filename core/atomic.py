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
from sropt.core.interrupt import raise_if_interrupted


# What an input is, by suffix, so the refusal names it ("the input report", not "the input model").
_INPUT_KINDS = {".pb": "model", ".onnx": "model", ".tflite": "model", ".json": "report", ".yaml": "config", ".yml": "config",
                ".png": "image", ".jpg": "image", ".jpeg": "image", ".bmp": "image", ".tif": "image", ".tiff": "image",
                ".webp": "image", ".ppm": "image", ".pgm": "image"}


def ensure_not_input(out: Path, *inputs: Path) -> None:
    """Raise InputError if ``out`` is the same file as any of ``inputs``."""
    out = Path(out)
    for src in inputs:
        src = Path(src)
        same = out.resolve() == src.resolve()
        if not same and out.exists() and src.exists():
            same = os.path.samefile(out, src)
        if same:
            kind = _INPUT_KINDS.get(src.suffix.lower(), "file")
            raise InputError(
                f"{out}: output would overwrite the input {kind} {src}. Choose another output path (-o)."
            )


def check_writable(dest: Path, *, inputs: tuple[Path, ...] = (), folder: bool = False, what: str = "output") -> None:
    """Preflight of a later atomic write: InputError (exit 2) now instead of a failure after the work.

    ``dest`` is the file to be written (or, with ``folder=True``, the folder
    files will be written into). Refuses ``dest`` being an input, a folder
    where a file is wanted, and a target folder where a file cannot be
    created, written and renamed: a probe file does exactly that in the
    nearest existing folder and is removed. Nothing else is created.
    """
    dest = Path(dest)
    if not folder:
        ensure_not_input(dest, *inputs)
        if dest.is_dir():
            raise InputError(f"{dest}: is a directory; give a file path for the {what}.")
    target = dest if folder else dest.parent
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{dest}: cannot write the {what}: {existing} is a file, not a folder. Choose another path.")
    try:
        _probe(existing)
    except OSError as exc:
        raise InputError(
            f"{target}: cannot write the {what} there ({exc.strerror or exc}); choose another folder or fix its permissions."
        ) from None


def _probe(folder: Path) -> None:
    """Create, write, fsync and rename a hidden file in ``folder``, then remove it (what atomic_path does)."""
    fd, name = tempfile.mkstemp(prefix=".sropt-probe.", suffix=".part", dir=folder)
    renamed = Path(name + ".renamed")
    try:
        os.write(fd, b"probe")
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(name, renamed)
    finally:
        if fd >= 0:
            os.close(fd)
        Path(name).unlink(missing_ok=True)
        renamed.unlink(missing_ok=True)


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
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:  # a command that skipped check_writable still ends in exit 2, not a traceback
        raise InputError(
            f"{dest.parent}: cannot write {dest.name} there ({exc.strerror or exc}); choose another folder or fix its permissions."
        ) from None
    # mkstemp creates 0600; give the file the mode a plain open() would (0666 & ~umask).
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # A Ctrl-C swallowed inside a converter must not publish its output.
        raise_if_interrupted()
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
