"""Every limit and bad input of issue 16 gets its code and a message; the cache, /metrics, and what is written.

A WatchedRunner around the tiny model counts model calls (so "never reaches
the model" is checked, not assumed) and can hold them (a busy model, for the
queue and the timeout). Concurrent requests go through httpx's ASGI transport.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from sropt.serve.app import ServeConfig, create_app
from tests.serve.helpers import DEMO, TINY_MARGIN, TINY_PB, metric_samples, png, random_image, watched

SMALL = png(random_image(8, 10, seed=0))


def _png_header_only(w: int, h: int) -> bytes:
    """A valid PNG signature and IHDR declaring w x h RGB, no pixel data (a decompression-bomb header)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + iend


BAD_BODIES = {
    "empty": (b"", 400, "empty body"),
    "not an image": (b"hello, not an image", 400, "not an image"),
    "truncated png": (png(random_image(30, 30, seed=1))[:-40], 400, "truncated"),
    "truncated jpeg": (cv2.imencode(".jpg", random_image(64, 64, seed=2))[1].tobytes()[:300], 400, "truncated"),
    # Pillow's bomb guard (above 2 x 89.5 Mpx) answers before the server's own pixel check.
    "20000x20000 header": (_png_header_only(20000, 20000), 413, "more pixels than this server accepts (at most 4000000 px): "
                           "Image size (400000000 pixels) exceeds limit"),
    "0x0 image": (_png_header_only(0, 0), 400, "not an image this server can read; send one of: PNG"),
    "2001x2000 header": (_png_header_only(2001, 2000), 413, "image is 2001x2000 = 4002000 px; this server accepts at most 4000000 px"),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_body_is_refused_before_the_model(case, served, make_client) -> None:
    body, code, words = BAD_BODIES[case]
    models, runner = watched(served, TINY_PB)
    client, _ = make_client(models)
    r = client.post("/v1/upscale", content=body)
    assert r.status_code == code and words in r.json()["error"], r.text
    assert runner.calls == 0  # the probe ran at load time, before the wrapper
    assert client.post("/v1/upscale", content=SMALL).status_code == 200  # still serving
    assert runner.calls == 1


@pytest.mark.parametrize("params,code,words", [
    ({"artifact": "nope"}, 404, "unknown artifact 'nope'; served: edsr_b2f16_x3"),
    # No request names a file: a path is only an unknown name.
    ({"artifact": "../../models/bundled/EDSR-T91-b8f64_x3.pb"}, 404, "unknown artifact"),
    ({"format": "gif"}, 400, "format=gif"),
    ({"format": "jpeg", "quality": 0}, 400, "quality 1-100"),
    ({"tile": 64, "overlap": TINY_MARGIN - 1}, 400, f"below the model's receptive field of {TINY_MARGIN} LR pixels"),
])
def test_bad_options(params, code, words, served, make_client) -> None:
    client, _ = make_client(watched(served, TINY_PB)[0])
    r = client.post("/v1/upscale", content=SMALL, params=params)
    assert r.status_code == code and words in r.json()["error"], r.text


def test_malformed_multipart(served, make_client) -> None:
    client, _ = make_client(watched(served, TINY_PB)[0])
    for body, ctype in [(b"--xx\r\ngarbage", "multipart/form-data; boundary=yy"), (SMALL, "multipart/form-data")]:
        r = client.post("/v1/upscale", content=body, headers={"content-type": ctype})
        assert r.status_code == 400 and "multipart" in r.json()["error"], r.text


def test_upload_over_the_limit_is_413_naming_it(served, make_client) -> None:
    client, _ = make_client(watched(served, TINY_PB)[0], max_upload_bytes=1000)
    r = client.post("/v1/upscale", content=b"\0" * 6000)  # refused on its Content-Length
    assert r.status_code == 413 and r.json()["error"] == "upload is 6000 bytes; this server accepts at most 1000 bytes."
    r = client.post("/v1/upscale", content=iter([b"\0" * 3000, b"\0" * 3000]))  # chunked: refused while streaming
    assert r.status_code == 413 and r.json()["error"] == "upload exceeds 1000 bytes, the limit of this server."
    r = client.post("/v1/upscale", files={"image": ("a.png", b"\0" * 1500)})  # the part, not the multipart envelope
    assert r.status_code == 413 and r.json()["error"] == "image is 1500 bytes; this server accepts at most 1000 bytes."


def test_image_over_the_pixel_limit_is_413_naming_it(served, make_client) -> None:
    models, runner = watched(served, TINY_PB)
    client, _ = make_client(models, max_pixels=5000)
    r = client.post("/v1/upscale", content=png(random_image(60, 100, seed=3)))
    assert r.status_code == 413
    assert r.json()["error"] == "image is 100x60 = 6000 px; this server accepts at most 5000 px."
    assert client.post("/v1/upscale", content=png(random_image(50, 100, seed=3))).status_code == 200
    assert runner.calls == 1


def test_rate_limit_is_429_with_retry_after(served, make_client) -> None:
    client, _ = make_client(watched(served, TINY_PB)[0], rate_per_minute=2)
    codes = [client.post("/v1/upscale", content=SMALL) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    # The bucket refills 2 tokens a minute: one token is 30 s away.
    assert codes[2].headers["retry-after"] == "30"
    assert codes[2].json()["error"] == "rate limit of 2 requests/minute reached; retry in 30 s."


def _async_client(models, tmp_path: Path, **limits) -> httpx.AsyncClient:
    app = create_app(models, ServeConfig(cache_dir=tmp_path / "cache", **limits))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=60)


async def _queue_depth(client: httpx.AsyncClient, want: float) -> None:
    for _ in range(600):
        if metric_samples((await client.get("/metrics")).text)[("sropt_queue_depth", ())] == want:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"queue depth never reached {want}")


def test_full_queue_is_503_with_retry_after(served, tmp_path: Path) -> None:
    models, runner = watched(served, TINY_PB)
    runner.gate.clear()  # the model is busy until the test says so

    async def scenario():
        async with _async_client(models, tmp_path, workers=1, queue=1) as c:
            held = [asyncio.create_task(c.post("/v1/upscale", content=png(random_image(8, 8, seed=i)))) for i in range(2)]
            await _queue_depth(c, 2)  # one running, one waiting: workers + queue slots taken
            over = await c.post("/v1/upscale", content=png(random_image(8, 8, seed=9)))
            runner.gate.set()
            return over, await asyncio.gather(*held)

    over, held = asyncio.run(scenario())
    assert over.status_code == 503 and over.headers["retry-after"] == "1"
    assert over.json()["error"] == "busy: 2 requests in progress; retry shortly."
    assert [r.status_code for r in held] == [200, 200] and runner.calls == 2


def test_timeout_is_504_and_the_slot_stays_taken_until_the_model_ends(served, tmp_path: Path) -> None:
    models, runner = watched(served, TINY_PB)
    runner.gate.clear()

    async def scenario():
        async with _async_client(models, tmp_path, workers=1, queue=0, timeout_s=0.2) as c:
            late = await c.post("/v1/upscale", content=SMALL)
            # The timed-out job still runs on its thread: its slot is not free, so no unbounded pile-up behind it.
            busy = await c.post("/v1/upscale", content=png(random_image(8, 8, seed=1)))
            runner.gate.set()
            await _queue_depth(c, 0)
            return late, busy, await c.post("/v1/upscale", content=png(random_image(8, 8, seed=2)))

    late, busy, after = asyncio.run(scenario())
    assert late.status_code == 504 and late.json()["error"] == "the request took longer than 0.2 s; try a smaller image."
    assert busy.status_code == 503
    assert after.status_code == 200


def test_slow_client_is_408(served, tmp_path: Path) -> None:
    models, runner = watched(served, TINY_PB)

    async def trickle():
        yield SMALL[:10]
        await asyncio.sleep(1.0)
        yield SMALL[10:]

    async def scenario():
        async with _async_client(models, tmp_path, body_timeout_s=0.2) as c:
            return await c.post("/v1/upscale", content=trickle()), await c.post("/v1/upscale", content=SMALL)

    slow, fine = asyncio.run(scenario())
    assert slow.status_code == 408 and slow.json()["error"] == "the upload did not arrive within 0.2 s; send it again."
    assert fine.status_code == 200 and runner.calls == 1


def test_cache_serves_repeats_and_is_bounded_in_bytes(served, make_client) -> None:
    models, runner = watched(served, TINY_PB)
    a, b = png(random_image(10, 12, seed=4)), png(random_image(10, 12, seed=5))
    client, _ = make_client(models)
    first = client.post("/v1/upscale", content=a)
    size = len(first.content)
    # Room for one result only: b evicts a.
    client, _ = make_client(models, cache_bytes=size + size // 2)
    seen = [client.post("/v1/upscale", content=x, params=p) for x, p in
            [(a, {}), (a, {}), (a, {"format": "jpeg"}), (b, {}), (a, {})]]
    assert [r.headers["x-cache"] for r in seen] == ["miss", "hit", "miss", "miss", "miss"]
    assert seen[1].content == seen[0].content == first.content
    cache = client.app.state.upscaler.cache
    assert cache.size <= size + size // 2 and len(cache.items) == 1
    assert runner.calls == 5  # the first client's one + four misses


def test_metrics_count_exactly_the_requests_made(served, make_client) -> None:
    client, _ = make_client({**watched(served, TINY_PB)[0], DEMO: served[DEMO]})
    before = metric_samples(client.get("/metrics").text)
    for body, params in [(SMALL, {}), (SMALL, {}), (png(random_image(9, 9, seed=6)), {}), (b"junk", {}),
                         (SMALL, {"artifact": "nope"}), (SMALL, {"artifact": DEMO})]:
        client.post("/v1/upscale", content=body, params=params)
    after = metric_samples(client.get("/metrics").text)
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
    tiny, demo = (("artifact", TINY_PB),), (("artifact", DEMO),)
    assert {k: v for k, v in delta.items() if k[0] != "sropt_model_latency_seconds_bucket" and not k[0].endswith("_created")
            and k[0] != "sropt_model_latency_seconds_sum"} == {
        ("sropt_requests_total", (("artifact", TINY_PB), ("code", "200"))): 3,
        ("sropt_requests_total", (("artifact", TINY_PB), ("code", "400"))): 1,
        ("sropt_requests_total", (("artifact", "unknown"), ("code", "404"))): 1,
        ("sropt_requests_total", (("artifact", DEMO), ("code", "200"))): 1,
        ("sropt_errors_total", (("artifact", TINY_PB), ("code", "400"))): 1,
        ("sropt_errors_total", (("artifact", "unknown"), ("code", "404"))): 1,
        ("sropt_cache_hits_total", tiny): 1,
        ("sropt_model_latency_seconds_count", tiny): 2,  # the hit did not run the model
        ("sropt_model_latency_seconds_count", demo): 1,
    }
    assert after[("sropt_queue_depth", ())] == 0


def test_writes_nothing_outside_its_cache_folder(served, make_client, tmp_path: Path, monkeypatch) -> None:
    import tempfile

    cwd, tmp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir(), tmp.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    client, cache = make_client(watched(served, TINY_PB)[0])
    for body in [SMALL, png(random_image(300, 20, seed=7)), b"", b"junk", BAD_BODIES["truncated png"][0]]:
        client.post("/v1/upscale", content=body)
        client.post("/v1/upscale", files={"image": ("../../x.png", body)})
    assert list(cwd.iterdir()) == [] and list(tmp.iterdir()) == []
    assert list(cache.iterdir()) == []  # the scratch decode files are gone too
