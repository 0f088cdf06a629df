"""The real HTTP download path, against a server this test starts on 127.0.0.1.

Every failure mode must raise FetchError naming the URL and leave the cache
folder empty: no model, no ``.part`` temp file.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sropt.core.errors import FetchError
from sropt.core.families import Family
from sropt.models import ModelEntry, ModelSource, fetch_model, git_blob_id, resolve_model

BODY = bytes(range(256)) * 40 + b"tail"  # 10244 bytes, several read chunks
SLEEP_S = 2.0  # the "hung" server's delay; the client's timeout is far shorter
CLIENT_TIMEOUT_S = 0.3

Route = Callable[[BaseHTTPRequestHandler], None]

# Bounded: a bug in the client or server must fail the test, not hang CI.
pytestmark = pytest.mark.timeout(30)


def _send(body: bytes, *, claimed: int | None = None) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(body) if claimed is None else claimed))
        h.end_headers()
        h.wfile.write(body)
        h.wfile.flush()
        # HTTP/1.0 handler: the connection closes after this, so a body shorter
        # than Content-Length reaches the client as EOF mid-body.

    return route


def _redirect(location: str) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return route


def _hang(h: BaseHTTPRequestHandler) -> None:
    time.sleep(SLEEP_S)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        try:
            if route is None:
                self.send_error(404, "Not Found")
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a sleeping handler must not block shutdown

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    """An HTTP server on an ephemeral port, stopped after the test."""
    # A proxy from the environment must not intercept requests to 127.0.0.1.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("SROPT_MODEL_MIRROR", raising=False)
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _entry(url: str, body: bytes = BODY) -> ModelEntry:
    return ModelEntry(
        name="Tiny_x2",
        file="Tiny_x2.pb",
        family=Family.ESPCN,
        scale=2,
        url=url,
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        git_blob=git_blob_id(body),
        source=ModelSource.RELEASED,
        description="test fixture",
    )


def _fail(entry: ModelEntry, cache: Path, **kw: object) -> str:
    with pytest.raises(FetchError) as info:
        fetch_model(entry, cache=cache, **kw)
    assert info.value.exit_code == 3
    assert list(cache.iterdir()) == [], "a failed fetch left files in the cache"
    return str(info.value)


def test_good_file_is_downloaded_verified_and_reports_progress(server: _Server, tmp_path: Path) -> None:
    server.routes["/m/Tiny_x2.pb"] = _send(BODY)
    cache = tmp_path / "cache"
    seen: list[tuple[int, int | None]] = []
    path = fetch_model(_entry(f"{server.base}/m/Tiny_x2.pb"), cache=cache, progress=lambda d, t: seen.append((d, t)))
    assert path == cache / "Tiny_x2.pb"
    assert path.read_bytes() == BODY
    assert [p.name for p in cache.iterdir()] == ["Tiny_x2.pb"]
    assert seen[-1] == (len(BODY), len(BODY))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_redirect_is_followed(server: _Server, tmp_path: Path) -> None:
    # GitHub "raw" URLs answer with a redirect to the content host.
    server.routes["/raw/Tiny_x2.pb"] = _redirect("/content/Tiny_x2.pb")
    server.routes["/content/Tiny_x2.pb"] = _send(BODY)
    path = fetch_model(_entry(f"{server.base}/raw/Tiny_x2.pb"), cache=tmp_path / "c")
    assert path.read_bytes() == BODY


def test_corrupted_body_is_a_checksum_mismatch(server: _Server, tmp_path: Path) -> None:
    bad = bytearray(BODY)
    bad[5000] ^= 0xFF
    server.routes["/m/Tiny_x2.pb"] = _send(bytes(bad))
    url = f"{server.base}/m/Tiny_x2.pb"
    msg = _fail(_entry(url), tmp_path / "cache")
    assert f"checksum mismatch for Tiny_x2 from {url}" in msg
    assert f"sha256 is {hashlib.sha256(bad).hexdigest()}, the registry says {hashlib.sha256(BODY).hexdigest()}" in msg
    assert f"git blob id is {git_blob_id(bytes(bad))}" in msg
    assert "Nothing was saved" in msg
    assert "SROPT_MODEL_MIRROR" in msg  # says how to provide the model instead


def test_short_body_is_reported_as_truncated(server: _Server, tmp_path: Path) -> None:
    # The server promises 10244 bytes but closes after 4000.
    server.routes["/m/Tiny_x2.pb"] = _send(BODY[:4000], claimed=len(BODY))
    url = f"{server.base}/m/Tiny_x2.pb"
    msg = _fail(_entry(url), tmp_path / "cache")
    assert f"download of Tiny_x2 from {url} was truncated" in msg
    assert f"4000 of {len(BODY)} bytes" in msg
    assert "Nothing was saved" in msg


def test_404_names_the_url_and_status(server: _Server, tmp_path: Path) -> None:
    url = f"{server.base}/missing/Tiny_x2.pb"
    msg = _fail(_entry(url), tmp_path / "cache")
    assert f"{url} answered HTTP 404 Not Found" in msg
    assert "Nothing was saved" in msg


def test_hung_server_times_out(server: _Server, tmp_path: Path) -> None:
    server.routes["/slow/Tiny_x2.pb"] = _hang
    url = f"{server.base}/slow/Tiny_x2.pb"
    started = time.monotonic()
    msg = _fail(_entry(url), tmp_path / "cache", timeout=CLIENT_TIMEOUT_S)
    assert time.monotonic() - started < SLEEP_S  # gave up before the server answered
    assert f"download of Tiny_x2 from {url} failed: not finished within the 0.3 s download timeout" in msg


def _trickle(h: BaseHTTPRequestHandler) -> None:
    """Headers, then one byte per 0.05 s: each read succeeds, the whole never ends in time."""
    h.send_response(200)
    h.send_header("Content-Length", str(len(BODY)))
    h.end_headers()
    for byte in BODY[:100]:
        h.wfile.write(bytes([byte]))
        h.wfile.flush()
        time.sleep(0.05)


def test_trickling_server_is_cut_off_by_the_whole_download_timeout(server: _Server, tmp_path: Path) -> None:
    """Issue 20 #6: --timeout bounds the whole download, not each read (100 bytes take 5 s)."""
    server.routes["/trickle/Tiny_x2.pb"] = _trickle
    url = f"{server.base}/trickle/Tiny_x2.pb"
    msg = _fail(_entry(url), tmp_path / "cache", timeout=0.5)
    assert f"download of Tiny_x2 from {url} failed: not finished within the 0.5 s download timeout" in msg
    assert not list((tmp_path / "cache").glob("*"))


def test_connection_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SROPT_MODEL_MIRROR", raising=False)
    with socket.socket() as s:  # a port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/Tiny_x2.pb"
    msg = _fail(_entry(url), tmp_path / "cache", timeout=2.0)
    assert f"from {url} failed: connection refused" in msg


@pytest.mark.shared
def test_registry_name_through_an_http_mirror(server: _Server, shared_models: Path, tmp_path: Path) -> None:
    """A real registry entry (ESPCN_x2) fetched via an http(s) base-URL mirror."""
    data = (shared_models / "ESPCN_x2.pb").read_bytes()
    server.routes["/mirror/ESPCN_x2.pb"] = _send(data)
    path = resolve_model("espcn_x2", mirror=f"{server.base}/mirror/", cache=tmp_path / "cache")
    assert path == tmp_path / "cache" / "ESPCN_x2.pb"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == (
        "59f77351e1d7c0057bf6fe088b4a8a07e42c468c8c8aebb674a6b4ea1823221d"
    )


def test_http_mirror_without_the_file_never_falls_back_to_upstream(server: _Server, tmp_path: Path) -> None:
    msg = _fail_name("FSRCNN_x3", mirror=f"{server.base}/empty", cache=tmp_path / "cache")
    assert f"{server.base}/empty/FSRCNN_x3.pb answered HTTP 404" in msg
    assert "github.com" not in msg.split("To provide")[0]


def _fail_name(name: str, **kw: object) -> str:
    cache: Path = kw["cache"]  # type: ignore[assignment]
    with pytest.raises(FetchError) as info:
        fetch_model(name, **kw)
    assert list(cache.iterdir()) == []
    return str(info.value)
