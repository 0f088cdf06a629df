"""True exit codes of `sropt validate` and `sropt upscale` (issue 20, items 1-3 and 10).

Bad inputs are exit 2 before any runtime runs (no report is written); a run
that measured nothing is never exit 0; a runtime that crashes its process
(a real SIGSEGV in a spawned worker, from tests/validate/crashing_runner.py)
is exit 4 naming the artifact and the runtime.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sropt.cli import main
from tests.validate.crashing_runner import registered

pytestmark = pytest.mark.shared


@pytest.fixture
def fake_runtimes():
    """segfault-test and raising-test in the runtime registry for one test."""
    with registered():
        yield


def _png(path: Path, h: int, w: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))
    return path


def _empty(d: Path) -> list[str]:
    (d / "empty").mkdir()
    return ["--dataset", str(d / "empty")]


def _tiny(d: Path) -> list[str]:
    _png(d / "tiny" / "a.png", 2, 2)
    _png(d / "tiny" / "b.png", 1, 1)
    return ["--dataset", str(d / "tiny")]


def _truncated(d: Path) -> list[str]:
    data = _png(d / "whole.png", 60, 60).read_bytes()
    (d / "cut").mkdir()
    (d / "cut" / "t.png").write_bytes(data[: len(data) // 2])
    return ["--dataset", str(d / "cut")]


BAD_VALIDATE_INPUTS = {
    "empty dataset": (None, _empty, "empty holds no images"),
    "unknown dataset": (None, lambda d: ["--dataset", "Set99"], "--dataset Set99: no such folder"),
    "only 1x1 and 2x2 images": (None, _tiny, "a.png: 2x2 px is smaller than scale x 8 = 24 px"),
    "only a truncated png": (None, _truncated, "t.png: cannot decode this file as an image"),
    "corrupt onnx": ("bad.onnx", lambda d: [], "bad.onnx: not a readable ONNX model"),
    "corrupt tflite": ("bad.tflite", lambda d: [], "bad.tflite: not a readable .tflite model"),
    "scale 2 on a x3 model": (None, lambda d: ["--scale", "2"], "FSRCNN-small_x3.pb: artifact scale x3 differs from the requested x2"),
}


@pytest.mark.parametrize("case", list(BAD_VALIDATE_INPUTS))
def test_validate_bad_input_is_exit_2_before_any_work(case, shared_models: Path, small_dataset: Path, tmp_path: Path, capsys) -> None:
    artifact, options, message = BAD_VALIDATE_INPUTS[case]
    model = shared_models / "FSRCNN-small_x3.pb"
    if artifact is not None:
        model = tmp_path / artifact
        model.write_bytes(b"not a model " * 8)
    extra = options(tmp_path)
    dataset = [] if "--dataset" in extra else ["--dataset", str(small_dataset)]
    out = tmp_path / "rep"
    code = main(["validate", str(model), *dataset, *extra, "--repeats", "1", "--bench-size", "0", "--no-isolate", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in " ".join(err.split())
    assert not out.exists()  # refused before the runtimes ran: no report of error rows


def test_validate_unwritable_report_folder_is_exit_2(shared_models: Path, small_dataset: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "afile").write_text("x")
    code = main(["validate", str(shared_models / "FSRCNN-small_x3.pb"), "--dataset", str(small_dataset), "--no-isolate",
                 "-o", str(tmp_path / "afile" / "rep")])
    assert code == 2
    assert f"{tmp_path / 'afile'} is a file, not a folder" in " ".join(capsys.readouterr().err.split())


def test_validate_crashing_runtime_is_exit_4_naming_artifact_and_runtime(fake_runtimes, shared_models: Path, small_dataset: Path, tmp_path: Path, capsys) -> None:
    model = shared_models / "FSRCNN-small_x3.pb"
    out = tmp_path / "rep"
    # Default isolation: the worker dies of SIGSEGV (BrokenProcessPool in the parent).
    code = main(["validate", str(model), "--dataset", str(small_dataset), "-r", "segfault-test", "--repeats", "1",
                 "--bench-size", "0", "-o", str(out)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 4
    assert f"{model}: runtime 'segfault-test' crashed its process" in err
    rows = json.loads((out / "report.json").read_text())["results"]
    crashed = [r for r in rows if r["runtime"] == "segfault-test"]
    assert len(crashed) == 1 and "crashed its process (BrokenProcessPool" in crashed[0]["errors"][0]


def test_validate_every_row_failing_in_its_runtime_is_exit_4(fake_runtimes, shared_models: Path, small_dataset: Path, tmp_path: Path, capsys) -> None:
    code = main(["validate", str(shared_models / "FSRCNN-small_x3.pb"), "--dataset", str(small_dataset), "-r", "raising-test",
                 "--repeats", "1", "--bench-size", "0", "--no-isolate", "-o", str(tmp_path / "rep")])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 4
    assert "nothing was measured: every artifact x runtime row failed in its runtime" in err
    assert "runtime 'raising-test' failed on input (1, 32, 40, 1): fake runtime: kernel failed" in err


def test_validate_partial_failure_keeps_exit_0(fake_runtimes, shared_models: Path, small_dataset: Path, tmp_path: Path) -> None:
    # One runtime measured, one failed: the documented partial case (--strict makes it 4).
    code = main(["validate", str(shared_models / "FSRCNN-small_x3.pb"), "--dataset", str(small_dataset), "-r", "opencv,raising-test",
                 "--repeats", "1", "--bench-size", "0", "--no-isolate", "-o", str(tmp_path / "rep")])
    assert code == 0
    rows = {r["runtime"]: r for r in json.loads((tmp_path / "rep" / "report.json").read_text())["results"]}
    assert rows["opencv"]["errors"] == [] and rows["opencv"]["psnr_y"] > 20
    assert "fake runtime: kernel failed" in rows["raising-test"]["errors"][0]


def test_upscale_crashing_runtime_is_exit_4_and_writes_nothing(fake_runtimes, shared_models: Path, tmp_path: Path, capsys) -> None:
    model, src = shared_models / "FSRCNN_x3.pb", _png(tmp_path / "in.png", 20, 27)
    code = main(["upscale", str(model), str(src), "--runtime", "segfault-test", "-o", str(tmp_path / "out" / "sr.png")])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 4
    assert f"{model}: runtime 'segfault-test' crashed its process while upscaling {src}" in err
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_upscale_isolated_output_equals_in_process(shared_models: Path, tmp_path: Path) -> None:
    model, src = shared_models / "FSRCNN_x3.pb", _png(tmp_path / "in.png", 20, 27)
    assert main(["upscale", str(model), str(src), "-o", str(tmp_path / "a.png")]) == 0
    assert main(["upscale", str(model), str(src), "--no-isolate", "-o", str(tmp_path / "b.png")]) == 0
    a, b = cv2.imread(str(tmp_path / "a.png")), cv2.imread(str(tmp_path / "b.png"))
    assert a.shape == (60, 81, 3) and np.array_equal(a, b)


@pytest.mark.parametrize(
    "images, out, message",
    [
        (2, "out.png", "-o {out}: names a file, but 2 images are given; -o must be a folder"),
        (1, "x.txt", "-o {out}: not an image file name (supported suffixes: .png, .bmp, .jpg"),
        (1, "afile/o.png", "cannot write the upscaled image: {tmp}/afile is a file, not a folder"),
    ],
)
def test_upscale_output_names_that_cannot_be_meant_are_exit_2(images, out, message, shared_models: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "afile").write_text("x")
    srcs = [str(_png(tmp_path / f"in{i}.png", 20, 27, seed=i)) for i in range(images)]
    dest = tmp_path / out
    code = main(["upscale", str(shared_models / "FSRCNN_x3.pb"), *srcs, "-o", str(dest)])
    assert code == 2
    assert message.format(out=dest, tmp=tmp_path) in " ".join(capsys.readouterr().err.split())
    assert not dest.exists()  # no folder of that name was created


@pytest.mark.parametrize(
    "runtime, message",
    [
        ("trt", "--runtime: unknown runtime 'trt'; choose from"),
        ("ort", "FSRCNN_x3.pb: --runtime ort cannot load .pb files; choose one of tf, opencv."),
    ],
)
def test_upscale_bad_runtime_names_the_runtime_option(runtime, message, shared_models: Path, tmp_path: Path, capsys) -> None:
    src = _png(tmp_path / "in.png", 20, 27)
    assert main(["upscale", str(shared_models / "FSRCNN_x3.pb"), str(src), "--runtime", runtime, "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "--runtimes" not in err
