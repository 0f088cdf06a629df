"""Checksums of model files: sha256 and the git blob id, in one pass.

The git blob id (``git hash-object FILE``) is SHA-1 over
``b"blob %d\\0" % len(data) + data``. It is the one checksum known for every
upstream file (the released EDSR files have no published sha256), and since
the header holds the length it also pins the size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from sropt.models.registry import ModelEntry

_CHUNK = 1 << 20


class Digests:
    """Incremental sha256 + git blob id of a byte stream of known length.

    The blob header needs the length before the data, so it is given up
    front; ``finish`` checks that exactly that many bytes were seen.
    """

    def __init__(self, length: int) -> None:
        self.length = length
        self.received = 0
        self._sha256 = hashlib.sha256()
        self._blob = hashlib.sha1(b"blob %d\0" % length)

    def update(self, chunk: bytes) -> None:
        """Feed the next chunk of the stream."""
        self.received += len(chunk)
        self._sha256.update(chunk)
        self._blob.update(chunk)

    @property
    def sha256(self) -> str:
        """Hex sha256 of the bytes fed so far."""
        return self._sha256.hexdigest()

    @property
    def git_blob(self) -> str:
        """Hex git blob id (valid only once ``received == length``)."""
        return self._blob.hexdigest()


def git_blob_id(data: bytes) -> str:
    """``git hash-object`` of ``data``: sha1(b"blob <len>\\0" + data)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def file_digests(path: Path) -> Digests:
    """Read ``path`` once and return its sha256 and git blob id."""
    path = Path(path)
    d = Digests(path.stat().st_size)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            d.update(chunk)
    return d


@dataclass(frozen=True)
class Verification:
    """The result of checking a file against its registry entry."""

    entry: ModelEntry
    size: int
    sha256: str
    git_blob: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every known checksum and the size matched."""
        return not self.problems

    @property
    def checked(self) -> str:
        """Which checks were applied, for messages (e.g. "size, sha256, git blob id")."""
        parts = (["size"] if self.entry.size is not None else []) + (
            ["sha256"] if self.entry.sha256 else []
        )
        return ", ".join([*parts, "git blob id"])


def check_digests(entry: ModelEntry, digests: Digests) -> Verification:
    """Compare stream digests with ``entry``'s size, sha256 and git blob id."""
    problems = []
    if digests.received != digests.length:
        problems.append(f"received {digests.received} bytes but expected {digests.length}")
    if entry.size is not None and digests.received != entry.size:
        problems.append(f"size is {digests.received} bytes, the registry says {entry.size}")
    if entry.sha256 and digests.sha256 != entry.sha256:
        problems.append(f"sha256 is {digests.sha256}, the registry says {entry.sha256}")
    if digests.git_blob != entry.git_blob:
        problems.append(f"git blob id is {digests.git_blob}, the registry says {entry.git_blob}")
    return Verification(entry, digests.received, digests.sha256, digests.git_blob, tuple(problems))


def verify_file(path: Path, entry: ModelEntry) -> Verification:
    """Check ``path`` against ``entry`` (size where known, sha256 where known, git blob id)."""
    return check_digests(entry, file_digests(path))
