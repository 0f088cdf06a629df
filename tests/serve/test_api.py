"""POST /v1/upscale gives byte for byte what `sropt upscale` writes; GET /v1/models, /healthz, the page, OpenAPI.

The reference is `sropt upscale`'s own library call on the same file, with the
same artifact and options, so nothing here compares the server with itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.serve.helpers import DEMO, TINY_MARGIN, TINY_ONNX, TINY_PB, decoded, png, random_image, sropt_upscale

RUNTIME = {TINY_PB: "opencv", TINY_ONNX: "ort", DEMO: "opencv"}
# EDSR's receptive field: head 1 + 2 per block + tail 1 + last conv 1 LR px; the demo model has 8 blocks.
DEMO_MARGIN = 1 + 2 * 8 + 1 + 1


@pytest.mark.parametrize("name", [TINY_PB, TINY_ONNX, DEMO])
def test_png_identical_to_sropt_upscale(name, artifact_files, make_client, tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    src.write_bytes(png(random_image(20, 28, seed=1)))
    ref = sropt_upscale(artifact_files[name], src, tmp_path / "out.png")
    client, _ = make_client()
    r = client.post("/v1/upscale", files={"image": ("photo.jpg", src.read_bytes())}, params={"artifact": name})
    assert r.status_code == 200, r.text
    assert r.content == ref
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-model"] == name and r.headers["x-runtime"] == RUNTIME[name]
    assert r.headers["x-model-sha256"] == hashlib.sha256(artifact_files[name].read_bytes()).hexdigest()
    assert (r.headers["x-input-size"], r.headers["x-output-size"], r.headers["x-tiling"]) == ("28x20", "84x60", "none")
    assert float(r.headers["x-latency-ms"]) > 0


# The demo model on 300x270 runs twice (server and reference): 16 s on a loaded 2-core machine.
@pytest.mark.parametrize("name,margin", [(TINY_PB, TINY_MARGIN), pytest.param(DEMO, DEMO_MARGIN, marks=pytest.mark.slow)])
def test_large_input_tiled_as_sropt_upscale_tiles(name, margin, artifact_files, make_client, tmp_path: Path) -> None:
    # 300x270 is above the server's default tile (256): tiled, with the overlap defaulting to the receptive field.
    src = tmp_path / "big.png"
    src.write_bytes(png(random_image(270, 300, seed=2)))
    ref = sropt_upscale(artifact_files[name], src, tmp_path / "out.png", tile=256)
    client, _ = make_client()
    r = client.post("/v1/upscale", content=src.read_bytes(), params={"artifact": name})
    assert r.status_code == 200, r.text
    assert r.headers["x-tiling"] == f"tile=256,overlap={margin}"
    assert r.content == ref and decoded(r.content).shape == (810, 900, 3)


def test_explicit_tile_and_overlap_as_sropt_upscale(artifact_files, make_client, tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    src.write_bytes(png(random_image(40, 36, seed=3)))
    ref = sropt_upscale(artifact_files[TINY_PB], src, tmp_path / "out.png", tile=20, overlap=9)
    client, _ = make_client()
    r = client.post("/v1/upscale", content=src.read_bytes(), params={"artifact": TINY_PB, "tile": 20, "overlap": 9})
    assert r.status_code == 200 and r.headers["x-tiling"] == "tile=20,overlap=9"
    assert r.content == ref


def test_jpeg_as_sropt_upscale_writes_it(artifact_files, make_client, tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    src.write_bytes(png(random_image(24, 20, seed=4)))
    client, _ = make_client()
    # `sropt upscale -o out.jpg` encodes with OpenCV's default JPEG quality, 95.
    ref95 = sropt_upscale(artifact_files[DEMO], src, tmp_path / "out.jpg")
    r = client.post("/v1/upscale", content=src.read_bytes(), params={"artifact": DEMO, "format": "jpeg", "quality": 95})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content == ref95
    # Any other quality: the lossless PNG result, encoded by OpenCV at that quality.
    sr = decoded(sropt_upscale(artifact_files[DEMO], src, tmp_path / "out.png"))
    r = client.post("/v1/upscale", content=src.read_bytes(), params={"artifact": DEMO, "format": "jpeg", "quality": 40})
    assert r.content == cv2.imencode(".jpg", sr, [cv2.IMWRITE_JPEG_QUALITY, 40])[1].tobytes()
    assert len(r.content) < len(ref95)


@pytest.mark.parametrize("channels,dtype", [(1, np.uint8), (1, np.uint16), (4, np.uint8), (3, np.uint16), (4, np.uint16)],
                         ids=["gray8", "gray16", "bgra8", "bgr16", "bgra16"])
def test_gray_alpha_16bit_as_sropt_upscale(channels, dtype, artifact_files, make_client, tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    src.write_bytes(png(random_image(18, 22, seed=5, channels=channels, dtype=dtype)))
    ref = sropt_upscale(artifact_files[TINY_PB], src, tmp_path / "out.png")
    client, _ = make_client()
    r = client.post("/v1/upscale", content=src.read_bytes(), params={"artifact": TINY_PB})
    assert r.status_code == 200, r.text
    assert r.content == ref and decoded(r.content).shape == (54, 66, 3)


def test_models_lists_each_artifact_with_its_file_facts(artifact_files, make_client) -> None:
    client, _ = make_client()
    listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert list(listed) == [TINY_PB, TINY_ONNX, DEMO]  # in the order given on the command line
    for name, path in artifact_files.items():
        data = path.read_bytes()
        assert listed[name] == {"name": name, "family": "edsr", "scale": 3, "runtime": RUNTIME[name], "size_bytes": len(data),
                                "sha256": hashlib.sha256(data).hexdigest(), "validation": []}


def test_run_folder_served_under_step_names_with_its_psnr(artifact_files, tmp_path: Path) -> None:
    import json
    import shutil

    from sropt.serve.models import load_models

    run = tmp_path / "run"
    (run / "artifacts").mkdir(parents=True)
    shutil.copy(artifact_files[TINY_PB], run / "artifacts" / "m.prune.pb")
    shutil.copy(artifact_files[TINY_ONNX], run / "artifacts" / "m.export.onnx.onnx")
    row = {"dataset": "Set5", "degradation": "matlab-bicubic", "metric_protocol": "BT.601 Y, crop_border=3", "ssim_y": 0.9}
    # The layout of a real run's report.json (sropt/pipeline/reports.py): step -> artifact, and one row per runtime.
    report = {"pipeline": {"artifacts": {"prune": "artifacts/m.prune.pb", "export.onnx": "artifacts/m.export.onnx.onnx"}},
              "results": [{**row, "stage": None, "runtime": "bicubic", "psnr_y": 30.4},
                          {**row, "stage": "prune", "runtime": "opencv", "psnr_y": 32.97},
                          {**row, "stage": "export.onnx", "runtime": "ort", "psnr_y": 32.96},
                          {**row, "stage": "export.onnx", "runtime": "opencv", "psnr_y": None}]}
    (run / "report.json").write_text(json.dumps(report))
    models = load_models([str(run)])
    assert list(models) == ["prune", "export.onnx"]
    v = {n: m.describe()["validation"] for n, m in models.items()}
    assert v["prune"] == [{"dataset": "Set5", "psnr_y_db": 32.97, "ssim_y": 0.9, "runtime": "opencv",
                           "degradation": "matlab-bicubic", "protocol": "BT.601 Y, crop_border=3"}]
    assert [(r["runtime"], r["psnr_y_db"]) for r in v["export.onnx"]] == [("ort", 32.96)]


def test_healthz_page_and_openapi(make_client) -> None:
    client, _ = make_client()
    assert client.get("/healthz").json() == {"status": "ok", "models": 3}
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="go"' in page.text and "Upscale" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN: everything comes from this server
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/upscale", "/v1/models", "/healthz", "/metrics"} <= set(paths)
    params = {p["name"] for p in paths["/v1/upscale"]["post"]["parameters"]}
    assert params == {"artifact", "format", "quality", "tile", "overlap"}
