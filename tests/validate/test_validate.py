"""validate_artifacts end to end: the report's schema, baseline, parity, and every bad input as a row."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from sropt.validate import ValidationConfig, validate_artifacts, write_report
from sropt.core.errors import ConfigError

pytestmark = pytest.mark.shared


def _bad_inputs(root: Path) -> None:
    """Add one of each bad image to ``root`` (a copy of small_dataset)."""
    (root / "c_unreadable.png").write_bytes(b"\x89PNG but not really")
    rng = np.random.default_rng(0)
    cv2.imwrite(str(root / "d_gray.png"), rng.integers(0, 256, (60, 75), dtype=np.uint8))
    cv2.imwrite(str(root / "e_16bit.png"), rng.integers(0, 65536, (60, 75, 3), dtype=np.uint16))
    cv2.imwrite(str(root / "f_alpha.png"), rng.integers(0, 256, (60, 75, 4), dtype=np.uint8))
    cv2.imwrite(str(root / "g_tiny.png"), rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))


def test_report_with_bad_inputs_completes(shared_models: Path, exported: dict, small_dataset: Path, tmp_path: Path) -> None:
    _bad_inputs(small_dataset)
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = ValidationConfig(
        datasets=[small_dataset, empty], degradations=["matlab-bicubic"], runtimes=["tf", "opencv", "tflite"],
        repeats=2, threads=1, bench_size=32, isolate=False, all_runtimes=True,  # the old rows: every listed runtime
    )
    artifacts = [
        shared_models / "FSRCNN_x3.pb",
        exported["FSRCNN_x3"]["tflite"],
        shared_models / "FSRCNN-small_x2.pb",  # scale mismatch
        tmp_path / "missing.pb",  # no such file
    ]
    report = validate_artifacts(artifacts, cfg)
    doc = report.to_json()
    assert doc["schema_version"] == "1.0"
    assert {"cpu", "cores", "threads", "python", "packages"} <= set(doc["environment"])
    assert doc["environment"]["threads"] == 1 and doc["environment"]["packages"]["onnxruntime"]

    problems = "\n".join(report.problems)
    assert "c_unreadable.png: cannot decode" in problems
    assert "g_tiny.png: 30x20 px is smaller than scale x 8 = 24 px" in problems
    assert "d_gray.png: grayscale image converted to BGR" in problems
    assert "e_16bit.png: 16-bit image converted to 8-bit" in problems
    assert "f_alpha.png: alpha channel dropped" in problems
    assert re.search(r"--dataset .*empty: .* holds no images", problems)

    rows = {(Path(r["artifact"]).name, r["runtime"]): r for r in doc["results"]}
    base = rows[("bicubic", "bicubic")]
    assert base["scale"] == 3 and base["degradation"] == "matlab-bicubic" and base["dataset"] == "mini"
    names = [i["name"] for i in base["images"]]
    assert names == ["a_baby.png", "b_bird.png", "d_gray.png", "e_16bit.png", "f_alpha.png"]

    tf_row = rows[("FSRCNN_x3.pb", "tf")]
    assert tf_row["errors"] == [] and tf_row["size_bytes"] == 40093 and tf_row["params"] == 8777
    assert tf_row["psnr_y"] == pytest.approx(np.mean([i["psnr_y"] for i in tf_row["images"]]), abs=1e-3)
    assert set(tf_row["latency_ms"]) >= {"median", "p90", "min"}
    assert tf_row["latency_ms"]["min"] <= tf_row["latency_ms"]["median"] <= tf_row["latency_ms"]["p90"]
    assert tf_row["psnr_y"] > base["psnr_y"]  # a trained SR model beats bicubic on real crops
    for key in [("FSRCNN_x3.pb", "opencv"), ("FSRCNN_x3.tflite", "tflite")]:
        assert rows[key]["parity"]["within_1_level"] >= 0.999, key
        assert rows[key]["psnr_y"] == pytest.approx(tf_row["psnr_y"], abs=0.02)
    # The bicubic baseline is the same MATLAB function the Set5 reproduction test checks.
    assert "baseline" in base["notes"][0]

    assert "cannot load .tflite files" in rows[("FSRCNN_x3.tflite", "tf")]["errors"][0]
    assert "cannot load .pb files" in rows[("FSRCNN_x3.pb", "tflite")]["errors"][0]
    assert "artifact scale x2 differs from the requested x3" in rows[("FSRCNN-small_x2.pb", "tf")]["errors"][0]
    assert "no such file" in rows[("missing.pb", "-")]["errors"][0]

    paths = write_report(report, tmp_path / "out")
    on_disk = json.loads(paths["json"].read_text())  # strict JSON (no Infinity)
    assert on_disk["results"][0]["artifact"] == "bicubic"
    html = paths["html"].read_text()
    imgs = re.findall(r'<img [^>]*alt="([^"]*)"[^>]*src="data:image/png;base64,', html)
    assert imgs[:2] == ["HR", "bicubic"] and "FSRCNN_x3.pb [tf]" in imgs
    assert '<img class="plot" alt="mini: PSNR-Y against latency and against file size" src="data:image/png;base64,' in html
    md = paths["md"].read_text()
    assert "| FSRCNN_x3.pb [pb/float32] | tf | mini | x3 | matlab-bicubic |" in md


def test_identical_output_is_inf_in_json_safe_form(tmp_path: Path) -> None:
    from sropt.validate.report import report_json
    from sropt.validate.results import ImageResult, ValidationReport, ValidationResult

    row = ValidationResult("m.pb", "tf", "d", 3, "matlab-bicubic", images=[ImageResult("x.png", float("inf"), 1.0, (8, 8))])
    doc = json.loads(report_json(ValidationReport({}, {}, [row])))
    assert doc["results"][0]["psnr_y"] is None and doc["results"][0]["psnr_y_inf"] is True
    assert doc["results"][0]["images"][0] == {"name": "x.png", "psnr_y": None, "ssim_y": 1.0, "lr_size": [8, 8], "psnr_y_inf": True}


def test_isolated_run_records_per_runtime_rss(shared_models: Path, small_dataset: Path) -> None:
    cfg = ValidationConfig(datasets=[small_dataset], runtimes=["opencv"], repeats=1, threads=1, bench_size=0)
    report = validate_artifacts([shared_models / "FSRCNN-small_x3.pb"], cfg)
    row = report.results[-1]
    assert row.ok and row.runtime == "opencv"
    # A fresh spawned interpreter with cv2 + numpy: well above 30 MiB, far below a TF process.
    assert 30 < row.peak_rss_mb < 600
    assert row.latency_input == "dataset images (statistics over per-image medians)"


def test_config_validation_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as err:
        ValidationConfig(degradations=["nope"], runtimes=["trt"], repeats=0, scale=1)
    msg = str(err.value)
    for part in ["degradation 'nope'", "runtime 'trt'", "repeats 0", "scale 1"]:
        assert part in msg


def test_skip_incompatible_runs_each_artifact_where_it_loads(shared_models: Path, exported: dict, small_dataset: Path) -> None:
    cfg = ValidationConfig(
        datasets=[small_dataset], runtimes=["tf", "tflite"], skip_incompatible=True, repeats=1, threads=1, bench_size=16, isolate=False,
    )
    report = validate_artifacts([shared_models / "FSRCNN_x3.pb", exported["FSRCNN_x3"]["tflite"]], cfg)
    rows = [(Path(r.artifact).name, r.runtime, r.ok) for r in report.results]
    assert rows == [("bicubic", "bicubic", True), ("FSRCNN_x3.pb", "tf", True), ("FSRCNN_x3.tflite", "tflite", True)]
    assert report.results[2].parity["reference"].endswith("FSRCNN_x3.pb [tf]")
    assert report.results[2].parity["within_1_level"] >= 0.999
