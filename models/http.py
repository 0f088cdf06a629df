"""One HTTP GET into a file, bounded by a deadline for the whole download.

Shared by model downloads (``sropt.models.fetch``) and pooch's dataset
downloads (``sropt.models.datasets``). The standard library is enough for
one GET with redirects (GitHub ``raw`` URLs redirect). pooch's own
downloader (requests) applies its timeout per read, which a server
trickling bytes defeats (issue 20: 1 byte/s kept a per-read 5 s timeout busy
91 s), so sropt hands pooch this one.
"""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from sropt.core.errors import FetchError
from sropt.core.version import sropt_version

DEFAULT_TIMEOUT = 300.0  # seconds for the whole download (connect, headers, body)
CONNECT_TIMEOUT = 15.0  # seconds to connect and to wait for any single read
_CHUNK = 1 << 16

ProgressCallback = Callable[[int, "int | None"], None]
"""Called as ``progress(bytes_done, bytes_total_or_None)`` while a file arrives."""


def download_to(
    url: str, out: Path, *, what: str, timeout: float = DEFAULT_TIMEOUT,
    progress: ProgressCallback | None = None, remedy: str = "", stated_timeout: float | None = None,
) -> int:
    """GET ``url`` into ``out``; return the byte count. FetchError naming ``what`` and ``url`` on any failure.

    ``timeout`` bounds the whole download; each socket operation also waits
    at most CONNECT_TIMEOUT (or what is left). ``stated_timeout`` is the
    timeout the user gave, for the message, when ``timeout`` is what is left
    of it after earlier attempts.
    """
    request = urllib.request.Request(url, headers={"User-Agent": f"sropt/{sropt_version()}"})
    deadline = time.monotonic() + timeout
    done, expected = 0, None
    try:
        connect = min(CONNECT_TIMEOUT, timeout)
        with urllib.request.urlopen(request, timeout=connect) as response, open(out, "wb") as fh:
            expected = _content_length(response)
            while chunk := _read_before(response, deadline):
                fh.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, expected)
    except urllib.error.HTTPError as exc:
        raise FetchError(
            f"download of {what} failed: {url} answered HTTP {exc.code} {exc.reason}. "
            f"Nothing was saved. {remedy}"
        ) from None
    except http.client.IncompleteRead as exc:
        got = done + len(exc.partial)
        raise FetchError(
            f"download of {what} from {url} was truncated: the body ended after "
            f"{got} of {expected} bytes. Nothing was saved. Retry; if it persists, {remedy}"
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise FetchError(
            f"download of {what} from {url} failed: {_describe(exc, stated_timeout or timeout)}. "
            f"Nothing was saved. {remedy}"
        ) from None
    if expected is not None and done != expected:
        raise FetchError(
            f"download of {what} from {url} was truncated: received {done} of "
            f"{expected} bytes (Content-Length). Nothing was saved. Retry; if it persists, {remedy}"
        )
    return done


def _read_before(response: http.client.HTTPResponse, deadline: float) -> bytes:
    """The next available bytes (``read1``: no waiting for a full chunk); TimeoutError past ``deadline``."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("download deadline passed")
    sock = getattr(getattr(response.fp, "raw", None), "_sock", None)
    if sock is not None:  # no read may outlive the deadline
        sock.settimeout(min(CONNECT_TIMEOUT, left))
    return response.read1(_CHUNK)


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _describe(exc: BaseException, timeout: float) -> str:
    """A short human reason for a network failure (timeout, refused, DNS, ...)."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return (
            f"not finished within the {timeout:g} s download timeout "
            f"(or no answer within the {CONNECT_TIMEOUT:g} s connect timeout)"
        )
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(reason, socket.gaierror):
        return f"host name could not be resolved ({reason.strerror or reason}), so there is probably no network"
    return f"{type(reason).__name__}: {reason}"


# --------------------------------------------------------------------------- pooch
#
# pooch owns the cache mechanics for models and image sets alike: a
# temporary file beside the target, moved in only after it verified, and a
# bounded number of retries. sropt's downloader above does the GET, and the
# caller's ``verify`` (size, sha256, git blob id from the registry) runs
# inside the attempt, so a corrupted body is retried and never reaches its
# final name.

RETRIES = 2  # extra attempts after a failed or corrupted download (pooch waits 1 s, then 2 s)


class _Retryable(ValueError):
    """A failed attempt pooch should retry (pooch retries ValueError)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


def fetch_verified(
    url: str, dest: Path, *, what: str, verify: Callable[[Path], list[str]], timeout: float = DEFAULT_TIMEOUT,
    progress: ProgressCallback | None = None, remedy: str = "", retries: int | None = None,
) -> Path:
    """Download ``url`` to ``dest`` through pooch; FetchError after the last failed attempt.

    ``verify(path)`` returns what is wrong with a downloaded file (empty when
    it is the registry's); it runs before the file is moved into place.
    """
    import logging

    import pooch

    # pooch logs "Downloading file ..." and each retry at INFO to stderr: run.log material, not terminal output.
    pooch.get_logger().setLevel(logging.WARNING)
    attempts = 1 + (RETRIES if retries is None else retries)
    # ``timeout`` bounds the whole fetch, retries included: an attempt gets
    # what is left, and a failure after the deadline is final.
    deadline = time.monotonic() + timeout
    last: list[FetchError] = []  # the previous attempt's error: the reason to report once time is up

    def downloader(u: str, output_file: str, pooch_instance: object) -> None:  # noqa: ARG001 - pooch's signature
        left = deadline - time.monotonic()
        if left <= 0 and last:
            raise last[-1]  # not a ValueError: pooch does not retry it
        try:
            download_to(u, Path(output_file), what=what, timeout=max(left, 0.001), progress=progress, remedy=remedy, stated_timeout=timeout)
        except FetchError as exc:
            if deadline - time.monotonic() <= 0:
                raise
            last.append(exc)
            raise _Retryable(str(exc).split("\n", 1)[0], exc.problems) from None
        problems = verify(Path(output_file))
        if problems:
            raise _Retryable(
                f"checksum mismatch for {what} from {u}: the server sent a file that is not the registry's "
                f"(corrupted or changed upstream). Nothing was saved. {remedy}",
                problems,
            )

    fetcher = pooch.create(
        path=dest.parent, base_url="", urls={dest.name: url}, registry={dest.name: None},
        retry_if_failed=attempts - 1,
    )
    try:
        return Path(fetcher.fetch(dest.name, downloader=downloader))
    except _Retryable as exc:
        suffix = f" ({attempts} attempts)" if attempts > 1 else ""
        raise FetchError(f"{exc}{suffix}", problems=exc.problems) from None
