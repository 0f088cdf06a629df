"""Getting registry models into the cache: download or mirror copy, verified.

A model is written to ``cache_dir()/models/<file>`` only after its size and
checksums match the registry: bytes stream into a temporary ``.part`` file in
the cache folder (``sropt.core.atomic.atomic_path``), are verified, and only
then renamed into place. Any failure (HTTP error, timeout, refused
connection, truncated body, checksum mismatch, Ctrl-C) removes the temporary
file, so the cache never holds a partial or wrong model.

Downloads go through ``sropt.models.http.download_to`` (one GET, a deadline
for the whole download).

A *mirror* (``mirror=`` or ``SROPT_MODEL_MIRROR``) replaces the network: a
folder holding the ``.pb`` files, or an http(s) base URL under which
``<base>/<file>`` is fetched. With a mirror set, sropt never falls back to
the upstream URL, so CI cannot silently depend on the internet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sropt.core.atomic import atomic_path
from sropt.core.errors import FetchError, InputError
from sropt.core.families import Family
from sropt.core.locations import bundled_dir, cache_dir, model_mirror
from sropt.models.registry import ModelEntry, get_model
from sropt.models.verify import check_digests, file_digests, verify_file

from sropt.models.http import CONNECT_TIMEOUT, DEFAULT_TIMEOUT, ProgressCallback, fetch_verified


def model_cache_dir() -> Path:
    """Where verified registry models are kept: ``cache_dir()/models``."""
    return cache_dir() / "models"


@dataclass(frozen=True)
class Mirror:
    """A parsed mirror location: exactly one of ``folder`` / ``base_url`` is set."""

    folder: Path | None = None
    base_url: str | None = None

    @classmethod
    def parse(cls, spec: str | Path) -> "Mirror":
        """Parse a folder path or an http(s) base URL; InputError if neither."""
        text = str(spec).strip()
        if text.startswith(("http://", "https://")):
            return cls(base_url=text.rstrip("/"))
        folder = Path(text).expanduser()
        if not folder.is_dir():
            raise InputError(
                f"model mirror {text!r} is neither an existing folder nor an http(s) URL. "
                "Set SROPT_MODEL_MIRROR (or --mirror) to a folder holding the .pb files "
                "or to a base URL such as https://host/models."
            )
        return cls(folder=folder)

    def location(self, entry: ModelEntry) -> str:
        """Where this mirror holds ``entry`` (a path or URL, for messages)."""
        if self.folder is not None:
            return str(self.folder / entry.file)
        return f"{self.base_url}/{entry.file}"

    def has(self, entry: ModelEntry) -> bool | None:
        """Whether a folder mirror holds the file; None for URL mirrors (not probed)."""
        if self.folder is None:
            return None
        return (self.folder / entry.file).is_file()


def configured_mirror(mirror: str | Path | None = None) -> Mirror | None:
    """``mirror`` if given, else ``SROPT_MODEL_MIRROR``, parsed; None when neither is set."""
    spec = mirror if mirror not in (None, "") else model_mirror()
    return Mirror.parse(spec) if spec else None


def cached_model(entry: ModelEntry, cache: Path | None = None) -> Path | None:
    """The cache copy of ``entry`` if it exists and verifies, else None."""
    path = Path(cache or model_cache_dir()) / entry.file
    if path.is_file() and verify_file(path, entry).ok:
        return path
    return None


def bundled_model(entry: ModelEntry) -> Path | None:
    """The package's bundled copy of ``entry`` if there is one and it verifies (never trusted blindly)."""
    path = bundled_dir() / entry.file
    if path.is_file() and verify_file(path, entry).ok:
        return path
    return None


def fetch_model(
    name: str | ModelEntry,
    *,
    mirror: str | Path | None = None,
    cache: Path | None = None,
    progress: ProgressCallback | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Return the verified cache path of registry model ``name``, fetching it if needed.

    Order: a verified cache copy, the verified bundled copy (the package's
    stand-in), then the mirror (``mirror`` or ``SROPT_MODEL_MIRROR``) when
    one is set, else the entry's upstream URL.
    Raises FetchError (nothing left behind) when the model cannot be obtained.
    """
    entry = name if isinstance(name, ModelEntry) else get_model(name)
    cache = Path(cache or model_cache_dir())
    hit = cached_model(entry, cache)
    if hit is not None:
        return hit
    # A present but unverifiable cache copy is overwritten by the atomic
    # rename below; it is never returned.
    dest = cache / entry.file
    # The verified bundled copy comes before any mirror or download: it is
    # the registry's bytes (checked), so a mirror lacking it (an asset
    # cache that predates it) must not make a fresh machine fail.
    bundled = bundled_model(entry)
    if bundled is not None:
        return bundled
    source = configured_mirror(mirror)
    if source is not None and source.folder is not None:
        return _copy_from_folder(entry, source.folder / entry.file, dest, progress)
    if source is not None:
        return _download(entry, source.location(entry), dest, progress, timeout, via_mirror=True)
    if entry.url is None:
        raise FetchError(
            f"{entry.name} has no public URL: it is distributed only through a mirror. "
            + how_to_provide(entry)
        )
    return _download(entry, entry.url, dest, progress, timeout, via_mirror=False)


def how_to_provide(entry: ModelEntry) -> str:
    """The remedy text for a model that cannot be obtained here."""
    where = (
        "the project's shared models folder holds it (CI sets SROPT_MODEL_MIRROR=../shared/models)"
        if entry.mirror_only
        else f"or run `sropt models fetch {entry.name}` where the network is available "
        f"(it caches under {model_cache_dir()})"
    )
    text = (
        f"To provide {entry.file}: set SROPT_MODEL_MIRROR (or --mirror) to a folder or "
        f"http(s) base URL holding {entry.file}; or pass the path to the .pb file instead "
        f"of the name; {where}."
    )
    if entry.family is Family.EDSR and not entry.mirror_only:
        text += (
            " For benchmarks only, `sropt models synth edsr --blocks 32 --filters 256 "
            f"--scale {entry.scale} -o EDSR_x{entry.scale}_random.pb` writes a stand-in with the "
            "same layout and random weights (meaningless for quality)."
        )
    return text


def _copy_from_folder(
    entry: ModelEntry, src: Path, dest: Path, progress: ProgressCallback | None
) -> Path:
    """Copy ``src`` from a folder mirror into the cache, verifying before the rename."""
    if not src.is_file():
        raise FetchError(
            f"{entry.file} is not in the model mirror folder {src.parent}. "
            + how_to_provide(entry)
        )
    total = src.stat().st_size
    with atomic_path(dest) as tmp:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            done = 0
            while chunk := fin.read(1 << 20):
                fout.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        _raise_if_bad(entry, tmp, src=str(src), remedy=(
            f"The mirror's copy is not the registry's {entry.file}; replace it with a "
            "verified copy. Nothing was written to the cache."
        ))
    return dest


def _download(
    entry: ModelEntry,
    url: str,
    dest: Path,
    progress: ProgressCallback | None,
    timeout: float,
    *,
    via_mirror: bool,
) -> Path:
    """GET ``url`` into the cache (pooch: verified before it is moved in, retried); FetchError on any failure.

    ``timeout`` bounds the whole download: a server trickling bytes cannot keep
    it busy longer (issue 20: 1 byte/s kept a per-read 5 s timeout busy 91 s).
    Each socket operation also waits at most CONNECT_TIMEOUT (or what is left).
    """
    remedy = (
        f"Check that the mirror serves a correct {entry.file}. " if via_mirror else ""
    ) + how_to_provide(entry)
    return fetch_verified(
        url, dest, what=entry.name, timeout=timeout, progress=progress, remedy=remedy,
        verify=lambda path: list(check_digests(entry, file_digests(path)).problems),
    )


def _raise_if_bad(entry: ModelEntry, tmp: Path, *, src: str, remedy: str) -> None:
    """FetchError listing every mismatch if ``tmp`` is not ``entry``'s file."""
    result = check_digests(entry, file_digests(tmp))
    if not result.ok:
        raise FetchError(
            f"checksum mismatch for {entry.name} from {src}. {remedy}", problems=result.problems
        )


__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "Mirror",
    "ProgressCallback",
    "bundled_model",
    "cached_model",
    "configured_mirror",
    "fetch_model",
    "how_to_provide",
    "model_cache_dir",
]
