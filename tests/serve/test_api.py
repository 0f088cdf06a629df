"""In-process API tests of `sropt serve` on a tiny synthetic EDSR (B=2, F=16, x3)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from sropt.serve.app import ServeConfig, create_app  # noqa: E402
from sropt.serve.models import load_models  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from sropt.models.synth import write_synthetic_edsr

    d = tmp_path_factory.mktemp("serve")
    pb = d / "edsr_b2f16_x3.pb"
    write_synthetic_edsr(pb, blocks=2, filters=16, scale=3, seed=0)
    models = load_models([str(pb)])
    return pb, models, d


def client(served, **cfg) -> TestClient:
    pb, models, d = served
    cache = d / f"cache{len(list(d.iterdir()))}"
    return TestClient(create_app(models, ServeConfig(cache_dir=cache, **cfg)))


def png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def test_served_png_identical_to_sropt_upscale(served, tmp_path: Path) -> None:
    from sropt.validate.upscale import upscale_files

    pb = served[0]
    img = np.random.default_rng(1).integers(0, 256, (20, 28, 3), dtype=np.uint8)
    src = tmp_path / "in.png"
    src.write_bytes(png(img))
    ref = cv2.imread(str(upscale_files(pb, [src], tmp_path / "out.png")[0]), cv2.IMREAD_UNCHANGED)
    r = client(served).post("/v1/upscale", files={"image": ("x.bin", src.read_bytes())}, params={"tile": 0})
    assert r.status_code == 200, r.text
    assert r.headers["x-runtime"] == "opencv" and r.headers["x-tiling"] == "none"
    got = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert got.shape == (60, 84, 3) and np.array_equal(got, ref)


def test_tiled_and_gray16_match_sropt_upscale(served, tmp_path: Path) -> None:
    from sropt.validate.upscale import upscale_files

    img = (np.random.default_rng(2).integers(0, 65536, (40, 36), dtype=np.uint16))
    src = tmp_path / "g16.png"
    src.write_bytes(png(img))
    # B=2 EDSR: receptive field 1 + 2*2 + 1 + 1 = 7 LR px, the smallest overlap allowed.
    ref = cv2.imread(str(upscale_files(served[0], [src], tmp_path / "o.png", tile=16, overlap=7)[0]))
    r = client(served).post("/v1/upscale", content=src.read_bytes(), params={"tile": 16, "overlap": 7})
    assert r.status_code == 200 and r.headers["x-tiling"] == "tile=16,overlap=7"
    assert np.array_equal(cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR), ref)


def _png_header_only(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + iend


@pytest.mark.parametrize("body,code", [
    (b"", 400),
    (b"hello, not an image", 400),
    (png(np.zeros((30, 30, 3), np.uint8))[:-40], 400),
    (cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))[1].tobytes()[:200], 400),
    (_png_header_only(20000, 20000), 413),
    (_png_header_only(0, 0), 400),
])
def test_bad_input_codes(served, body: bytes, code: int) -> None:
    c = client(served)
    r = c.post("/v1/upscale", content=body)
    assert r.status_code == code, r.text
    assert r.json()["error"]
    assert c.get("/healthz").status_code == 200  # still serving


def test_unknown_artifact_and_malformed_multipart(served) -> None:
    c = client(served)
    r = c.post("/v1/upscale", content=png(np.zeros((8, 8, 3), np.uint8)), params={"artifact": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["error"]
    r = c.post("/v1/upscale", content=b"--xx\r\ngarbage", headers={"content-type": "multipart/form-data; boundary=yy"})
    assert r.status_code == 400 and "multipart" in r.json()["error"]


def test_upload_limit_413_names_limit(served) -> None:
    r = client(served, max_upload_bytes=1000).post("/v1/upscale", content=b"\0" * 6000)
    assert r.status_code == 413 and "1000" in r.json()["error"]


def test_rate_limit_429_with_retry_after(served) -> None:
    c = client(served, rate_per_minute=2)
    body = png(np.zeros((8, 8, 3), np.uint8))
    codes = [c.post("/v1/upscale", content=body).status_code for _ in range(3)]
    assert codes[:2] == [200, 200] and codes[2] == 429


def test_cache_hit_and_metrics(served) -> None:
    c = client(served)
    body = png(np.random.default_rng(3).integers(0, 256, (10, 12, 3), dtype=np.uint8))
    a, b = c.post("/v1/upscale", content=body), c.post("/v1/upscale", content=body)
    assert a.headers["x-cache"] == "miss" and b.headers["x-cache"] == "hit" and a.content == b.content
    m = c.get("/metrics").text
    name = next(iter(served[1]))
    assert f'sropt_requests_total{{artifact="{name}",code="200"}} 2.0' in m
    assert f'sropt_cache_hits_total{{artifact="{name}"}} 1.0' in m
    models = c.get("/v1/models").json()["models"]
    assert models[0]["scale"] == 3 and len(models[0]["sha256"]) == 64


def test_refuses_to_start_on_bad_model(tmp_path: Path) -> None:
    from sropt.core.errors import InputError, StageError, SroptError  # noqa: F401

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(Exception) as e:
        load_models([str(bad)])
    assert "bad.onnx" in str(e.value)


def test_page_served(served) -> None:
    r = client(served).get("/")
    assert r.status_code == 200 and "Upscale" in r.text and "http" not in r.text.split("<script>")[1].split("fetch(")[0]
