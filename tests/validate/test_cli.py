"""`sropt validate --json` and `sropt upscale` through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sropt.cli import main

pytestmark = pytest.mark.shared


def test_validate_json_to_stdout(shared_models: Path, small_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main([
        "validate", str(shared_models / "FSRCNN-small_x3.pb"), "--dataset", str(small_dataset),
        "--runtimes", "opencv", "--degradation", "matlab-bicubic,opencv-cubic", "--repeats", "1",
        "--threads", "1", "--bench-size", "24", "--no-isolate", "--out", str(tmp_path / "rep"), "--json",
    ])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(r["runtime"], r["degradation"]) for r in doc["results"]] == [
        ("bicubic", "matlab-bicubic"), ("bicubic", "opencv-cubic"), ("opencv", "matlab-bicubic"), ("opencv", "opencv-cubic"),
    ]
    assert doc["results"][2]["latency_input"] == "synthetic [1, 24, 24, 1] NHWC"
    assert (tmp_path / "rep" / "report.html").is_file()


def test_validate_strict_fails_on_error_rows(shared_models: Path, small_dataset: Path, tmp_path: Path) -> None:
    code = main([
        "validate", str(shared_models / "FSRCNN-small_x3.pb"), "--dataset", str(small_dataset), "--runtimes", "ort",
        "--repeats", "1", "--no-isolate", "--out", str(tmp_path / "rep"), "--strict", "--all-runtimes",
    ])
    assert code == 4
    assert "cannot load .pb files" in (tmp_path / "rep" / "report.md").read_text()


def test_upscale_writes_and_never_overwrites(shared_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "in.png"
    img = np.random.default_rng(0).integers(0, 256, (30, 41, 3), dtype=np.uint8)
    cv2.imwrite(str(src), img)
    before = src.read_bytes()
    assert main(["upscale", str(shared_models / "FSRCNN_x3.pb"), str(src), "-o", str(tmp_path / "out")]) == 0
    out = tmp_path / "out" / "in_x3.png"
    assert capsys.readouterr().out.strip() == str(out)
    assert cv2.imread(str(out)).shape == (90, 123, 3)
    assert main(["upscale", str(shared_models / "FSRCNN_x3.pb"), str(src), "-o", str(src)]) == 2
    assert "would overwrite the input image" in capsys.readouterr().err
    assert src.read_bytes() == before
    assert main(["upscale", str(shared_models / "FSRCNN_x3.pb"), str(tmp_path / "nope.png"), "-o", str(tmp_path / "o.png")]) == 2
