"""Each artifact on the full sets only in the runtime it is made for; parity on fixed crops everywhere it loads.

Issue 13 item 4 and issue 19 item 5. The parity figures are checked against
an independent computation: the LR crops cut from the MATLAB-bicubic LR
images at the boxes the report names, each runtime run through
``upscale_image`` (not the validation row loop), pixels compared with numpy.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sropt.cli import main
from sropt.validate import ValidationConfig, validate_artifacts
from sropt.validate import prepare

pytestmark = pytest.mark.shared


def _cfg(small_dataset: Path, **kw) -> ValidationConfig:
    return ValidationConfig(datasets=[small_dataset], repeats=1, threads=1, bench_size=16, isolate=False, **kw)


def _rows(report) -> list[tuple[str, str, str, int]]:
    return [(Path(r.artifact).name, r.runtime, r.scope, len(r.images)) for r in report.results]


def _independent_crops(report, small_dataset: Path) -> list[np.ndarray]:
    """The LR parity crops, cut from LR images made here from the HR files (mod-crop, MATLAB bicubic)."""
    from sropt.validate.degradation import get_degradation, mod_crop

    [(set_key, boxes)] = report.config["parity_crops"].items()
    assert set_key == "mini/matlab-bicubic"
    out = []
    for name, y0, x0, n in boxes:
        hr = mod_crop(cv2.imread(str(small_dataset / name)), 3)
        lr = get_degradation("matlab-bicubic")(hr, 3)
        out.append(np.ascontiguousarray(lr[y0 : y0 + n, x0 : x0 + n]))
    return out


def _upscale_all(path: Path, runtime: str, crops: list[np.ndarray]) -> list[np.ndarray]:
    from sropt.validate.inference import upscale_image
    from sropt.validate.resolve import open_artifact
    from sropt.validate.runners import get_runner

    runner = get_runner(runtime)().load(open_artifact(path).artifact, 1)
    return [upscale_image(runner, c) for c in crops]


def test_full_rows_in_own_runtime_parity_crops_elsewhere(exported: dict, small_dataset: Path) -> None:
    files = exported["FSRCNN_x3"]
    report = validate_artifacts([files["pb"], files["onnx"], files["tflite"]], _cfg(small_dataset))
    # Two images in the mini set; a parity-only row carries no full-set images.
    assert _rows(report) == [
        ("bicubic", "bicubic", "full", 2),
        ("FSRCNN_x3.pb", "opencv", "full", 2), ("FSRCNN_x3.pb", "tf", "parity", 0),
        ("FSRCNN_x3.onnx", "ort", "full", 2), ("FSRCNN_x3.onnx", "opencv", "parity", 0),
        ("FSRCNN_x3.tflite", "tflite", "full", 2),
    ]
    assert report.warnings == [] and report.errors == []
    boxes = report.config["parity_crops"]["mini/matlab-bicubic"]
    assert [b[0] for b in boxes] == ["a_baby.png", "b_bird.png"] and all(b[3] == 32 for b in boxes)

    crops = _independent_crops(report, small_dataset)
    ref = _upscale_all(files["pb"], "opencv", crops)
    for r in report.results[2:]:
        assert r.parity["reference"] == f"{files['pb']} [opencv]", r.runtime
        got = _upscale_all(Path(r.artifact), r.runtime, crops)
        diffs = np.concatenate([np.abs(a.astype(np.int16) - b.astype(np.int16)).ravel() for a, b in zip(ref, got)])
        # Tolerance: none beyond rounding of the 6-digit fractions; the runtimes are deterministic at 1 thread.
        assert r.parity["within_1_level"] == pytest.approx(float((diffs <= 1).mean()), abs=2e-6)
        assert r.parity["identical"] == pytest.approx(float((diffs == 0).mean()), abs=2e-6)
        assert r.parity["max_abs_diff"] == int(diffs.max()) and r.parity["crops"] == 2
        assert r.parity["within_1_level"] >= 0.999  # one model, float32 everywhere (FACTS.md parity)
    assert report.timing["model_s"] > 0 and 0 <= report.timing["outside_model_share"] < 1


def test_all_runtimes_restores_full_rows_everywhere(exported: dict, small_dataset: Path) -> None:
    files = exported["FSRCNN_x3"]
    report = validate_artifacts([files["pb"], files["onnx"], files["tflite"]], _cfg(small_dataset, all_runtimes=True))
    assert _rows(report) == [
        ("bicubic", "bicubic", "full", 2),
        ("FSRCNN_x3.pb", "tf", "full", 2), ("FSRCNN_x3.pb", "opencv", "full", 2),
        ("FSRCNN_x3.onnx", "opencv", "full", 2), ("FSRCNN_x3.onnx", "ort", "full", 2),
        ("FSRCNN_x3.tflite", "tflite", "full", 2),
    ]
    tf_row = report.results[1]
    assert tf_row.parity is None  # the reference itself
    for r in report.results[2:]:
        assert r.parity["reference"].endswith("FSRCNN_x3.pb [tf]")
        assert r.psnr_y == pytest.approx(tf_row.psnr_y, abs=0.02)


def test_explicit_unloadable_runtime_is_one_warning(exported: dict, small_dataset: Path) -> None:
    files = exported["FSRCNN_x3"]
    report = validate_artifacts([files["pb"], files["tflite"]], _cfg(small_dataset, runtimes=["tflite"]))
    assert _rows(report) == [("bicubic", "bicubic", "full", 2), ("FSRCNN_x3.tflite", "tflite", "full", 2)]
    assert report.warnings == [
        "runtime 'tflite' loads only .tflite files; not used for FSRCNN_x3.pb (not validated: no listed runtime loads it)"
    ]
    assert report.errors == []


def test_cli_unloadable_runtime_prints_one_warning(exported: dict, small_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    files = exported["FSRCNN_x3"]
    code = main([
        "validate", str(files["onnx"]), str(files["tflite"]), "--dataset", str(small_dataset), "--runtimes", "ort,tflite",
        "--repeats", "1", "--threads", "1", "--bench-size", "16", "--no-isolate", "--out", str(tmp_path / "rep"), "--strict",
    ])
    err = capsys.readouterr().err
    assert code == 0  # --strict: a warning is not an error row
    assert err.count("warning:") == 2  # one per listed runtime that skips a file (ort: .tflite; tflite: .onnx)
    assert "problem:" not in err
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "**Warnings**" in md and "runtime 'ort' loads only .onnx files; not used for FSRCNN_x3.tflite" in md


def test_cli_runtime_loading_nothing_is_exit_2(shared_models: Path, small_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main([
        "validate", str(shared_models / "FSRCNN-small_x3.pb"), "--dataset", str(small_dataset), "--runtimes", "ort",
        "--repeats", "1", "--no-isolate", "--out", str(tmp_path / "rep"),
    ])
    assert code == 2
    assert "runtime 'ort' loads only .onnx files; not used for FSRCNN-small_x3.pb" in capsys.readouterr().err


def test_sets_are_prepared_once_per_content(shared_models: Path, small_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str, int]] = []
    real = prepare._prepare

    def counting(dataset, degradation, scale, **kw):
        calls.append((dataset.name, degradation, scale))
        return real(dataset, degradation, scale, **kw)

    monkeypatch.setattr(prepare, "_prepare", counting)
    monkeypatch.setattr(prepare, "_CACHE", type(prepare._CACHE)())
    cfg = _cfg(small_dataset, degradations=["matlab-bicubic", "opencv-cubic"], runtimes=["tf", "opencv"], all_runtimes=True)
    validate_artifacts([shared_models / "FSRCNN-small_x3.pb"], cfg)  # two runtime rows x two degradations
    validate_artifacts([shared_models / "ESPCN_x3.pb"], cfg)  # another validation in the same process
    assert calls == [("mini", "matlab-bicubic", 3), ("mini", "opencv-cubic", 3)]
    # By content: a copy elsewhere is the same set; a rewritten image is a new one.
    copy = tmp_path / "elsewhere" / "mini"
    copy.mkdir(parents=True)
    for f in small_dataset.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    one = _cfg(copy, runtimes=["opencv"])
    validate_artifacts([shared_models / "FSRCNN-small_x3.pb"], one)
    assert len(calls) == 2
    img = cv2.imread(str(copy / "a_baby.png"))
    cv2.imwrite(str(copy / "a_baby.png"), 255 - img)
    validate_artifacts([shared_models / "FSRCNN-small_x3.pb"], one)
    assert calls[2:] == [("mini", "matlab-bicubic", 3)]


def test_parity_tasks_ride_in_the_first_full_process_of_their_runtime() -> None:
    from types import SimpleNamespace

    from sropt.validate.evaluate import RowTask, group_tasks

    def task(name: str, runtime: str, full: bool) -> RowTask:
        return RowTask(SimpleNamespace(name=name), runtime, [], {}, None, full=full)  # type: ignore[arg-type]

    a_cv, a_tf = task("a.pb", "opencv", True), task("a.pb", "tf", False)
    b_ort, b_cv = task("b.onnx", "ort", True), task("b.onnx", "opencv", False)
    c_cv, c_tf = task("c.pb", "opencv", True), task("c.pb", "tf", False)
    groups = group_tasks([a_cv, a_tf, b_ort, b_cv, c_cv, c_tf])
    names = [[(t.opened.name, t.runtime) for t in g] for g in groups]
    assert names == [
        [("a.pb", "opencv"), ("b.onnx", "opencv")],  # b's parity crops after a's full set (and its RSS reading)
        [("b.onnx", "ort")],
        [("c.pb", "opencv")],
        [("a.pb", "tf"), ("c.pb", "tf")],  # no artifact is made for tf: its parity tasks share one process
    ]


@pytest.mark.slow
def test_isolated_grouped_run_keeps_rows_and_rss_per_artifact(exported: dict, small_dataset: Path) -> None:
    files = exported["FSRCNN_x3"]
    cfg = ValidationConfig(datasets=[small_dataset], repeats=1, threads=1, bench_size=16, runtimes=["opencv", "ort"])
    report = validate_artifacts([files["pb"], files["onnx"]], cfg)
    assert _rows(report) == [
        ("bicubic", "bicubic", "full", 2), ("FSRCNN_x3.pb", "opencv", "full", 2),
        ("FSRCNN_x3.onnx", "ort", "full", 2), ("FSRCNN_x3.onnx", "opencv", "parity", 0),
    ]
    pb, onnx_ort, onnx_cv = report.results[1:]
    assert pb.peak_rss_mb > 30 and onnx_ort.peak_rss_mb > 30 and onnx_cv.peak_rss_mb is None
    assert onnx_cv.parity["reference"] == f"{files['pb']} [opencv]" and onnx_cv.parity["max_abs_diff"] <= 1
    t = report.timing
    assert t["row_startup_s"] > 0 and t["model_s"] > 0 and t["wall_s"] > t["model_s"] + t["row_startup_s"]
