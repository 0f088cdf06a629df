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
    progress: ProgressCallback | None = None, remedy: str = "",
) -> int:
    """GET ``url`` into ``out``; return the byte count. FetchError naming ``what`` and ``url`` on any failure.

    ``timeout`` bounds the whole download; each socket operation also waits
    at most CONNECT_TIMEOUT (or what is left).
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
            f"download of {what} from {url} failed: {_describe(exc, timeout)}. "
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
