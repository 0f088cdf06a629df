"""`sropt inspect` on .tflite/.onnx and `sropt package`: contract shown, snippet == `sropt upscale`, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from sropt.cli import main
from sropt.core.contracts import DIV2K_MEAN_BGR


@pytest.fixture(scope="module")
def tiny_edsr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sropt.models.synth import write_synthetic_edsr

    path = tmp_path_factory.mktemp("edsr") / "edsr_b2f16_x3.pb"
    write_synthetic_edsr(path, blocks=2, filters=16, scale=3, seed=1)
    return path


@pytest.fixture(scope="module")
def tiny_tflite(tiny_edsr: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sropt.convert.tflite_export import export_tflite

    return export_tflite(tiny_edsr, tmp_path_factory.mktemp("tfl") / "edsr_x3.tflite").path


@pytest.fixture
def lr_png(tmp_path: Path) -> Path:
    """A 21x34 (H != W) image with edges and flat areas, so chroma and rounding are exercised."""
    rng = np.random.default_rng(7)
    img = cv2.resize((rng.random((6, 9, 3)) * 255).astype(np.uint8), (34, 21), interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "lr.png"
    cv2.imwrite(str(path), img)
    return path


def _sropt(*argv: str) -> subprocess.CompletedProcess:
    env_cmd = [sys.executable, "-m", "sropt", *argv]
    return subprocess.run(env_cmd, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def _snippet_equals_upscale(model: Path, lr_png: Path, tmp_path: Path) -> None:
    """Package ``model``, run its upscale.py in a subprocess, compare the PNG bytes with `sropt upscale`'s."""
    pkg = tmp_path / "pkg"
    assert main(["package", str(model), "-o", str(pkg)]) == 0
    done = subprocess.run([sys.executable, "upscale.py", str(lr_png), str(tmp_path / "snippet.png")],
                          cwd=pkg, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    up = _sropt("upscale", str(model), str(lr_png), "-o", str(tmp_path / "sropt.png"))
    assert up.returncode == 0, up.stderr[-2000:]
    ours, theirs = (tmp_path / "snippet.png").read_bytes(), (tmp_path / "sropt.png").read_bytes()
    h, w = cv2.imread(str(lr_png)).shape[:2]
    assert cv2.imread(str(tmp_path / "sropt.png")).shape == (3 * h, 3 * w, 3)
    assert ours == theirs


def test_inspect_shows_the_contract_of_a_tflite(tiny_tflite: Path, capsys) -> None:
    assert main(["inspect", str(tiny_tflite), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    c = facts["contract"]
    assert (facts["family"], facts["scale"], facts["sidecar"]) == ("edsr", 3, True)
    assert (c["name"], c["mean"], c["std"], c["layout"]) == ("bgr-div2k-mean", list(DIV2K_MEAN_BGR), [1.0] * 3, "NHWC")
    assert c["io"]["input"] == {"name": "lr_image", "dtype": "float32", "shape": [1, -1, -1, 3]}
    assert facts["tflite_metadata"]["contract"]["scale"] == 3
    assert main(["inspect", str(tiny_tflite)]) == 0
    text = capsys.readouterr().out
    assert "B,G,R" in text and "lr_image float32" in text and "min parser 1.5.0" in text


def test_inspect_onnx_without_sidecar_says_what_it_inferred(tiny_edsr: Path, tmp_path: Path, capsys) -> None:
    from sropt.convert.onnx_export import export_onnx

    art = export_onnx(tiny_edsr, tmp_path / "e.onnx")
    art.path.with_name("e.onnx.sropt.json").unlink()
    assert main(["inspect", str(art.path), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["sidecar"] is False and facts["scale"] == 3
    assert facts["contract"]["layout"] == "NCHW" and facts["contract"]["io"]["input"]["shape"] == [1, 3, -1, -1]
    assert any("probe run" in x for x in facts["inferred"])
    assert any("provenance" in x for x in facts["unknown"])


def test_python_snippet_equals_sropt_upscale_edsr_tflite(tiny_tflite: Path, lr_png: Path, tmp_path: Path) -> None:
    _snippet_equals_upscale(tiny_tflite, lr_png, tmp_path)


@pytest.mark.shared
def test_python_snippet_equals_sropt_upscale_y_model_onnx(shared_models: Path, lr_png: Path, tmp_path: Path) -> None:
    from sropt.convert.onnx_export import export_onnx

    art = export_onnx(shared_models / "FSRCNN_x3.pb", tmp_path / "fsrcnn_x3.onnx")
    _snippet_equals_upscale(art.path, lr_png, tmp_path)


@pytest.mark.shared
def test_python_snippet_equals_sropt_upscale_int8_uint8_io(shared_models: Path, datasets: Path, lr_png: Path,
                                                          tmp_path: Path) -> None:
    from sropt.quantize.config import CalibrationConfig, QuantizeConfig
    from sropt.quantize.tflite_quantize import quantize_tflite

    config = QuantizeConfig("tflite", "int8", io="uint8", calibration=CalibrationConfig(datasets / "T91", calib_count=4),
                            equalize="off", weight_rounding="nearest")
    model = quantize_tflite(shared_models / "ESPCN_x3.pb", tmp_path / "espcn_int8.tflite", config).artifact.path
    _snippet_equals_upscale(model, lr_png, tmp_path)


def test_package_contents_and_measured_numbers(tiny_tflite: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "artifacts").mkdir(parents=True)
    model = run / "artifacts" / tiny_tflite.name
    shutil.copyfile(tiny_tflite, model)
    shutil.copyfile(tiny_tflite.with_name(tiny_tflite.name + ".sropt.json"), model.with_name(model.name + ".sropt.json"))
    # A report laid out as `sropt run` writes it: report.json one folder above the artifacts.
    row = {"artifact": f"artifacts/{model.name}", "runtime": "tflite", "dataset": "Set5", "degradation": "matlab-bicubic",
           "psnr_y": 31.2345, "ssim_y": 0.8765, "latency_ms": {"median": 4.321}, "latency_input": "synthetic [1, 48, 40, 3] NHWC",
           "threads": 2, "metric_protocol": "BT.601 Y, crop_border=3"}
    other = {**row, "artifact": "artifacts/other.tflite", "psnr_y": 99.0}
    (run / "report.json").write_text(json.dumps({"environment": {"cpu": "Test CPU 9000", "machine": "x86_64"},
                                                 "results": [row, other]}))
    pkg = tmp_path / "pkg"
    assert main(["package", str(model), "-o", str(pkg)]) == 0
    names = sorted(p.name for p in pkg.iterdir())
    assert names == sorted(["README.md", "SuperResolution.kt", "edsr_x3.tflite", "edsr_x3.tflite.sropt.json",
                            "metadata.json", "upscale.py"])
    assert (pkg / "edsr_x3.tflite").read_bytes() == tiny_tflite.read_bytes()
    readme = (pkg / "README.md").read_text()
    assert "31.2345" in readme and "99.0" not in readme and "Test CPU 9000" in readme
    assert f"{tiny_tflite.stat().st_size:,} bytes" in readme
    # benchmark_model at the size our latency was measured at, input named as the signature.
    assert "--input_layer=lr_image --input_layer_shape=1,48,40,3" in readme
    kotlin = (pkg / "SuperResolution.kt").read_text()
    assert '"lr_image" to' in kotlin and "103.154578f" in kotlin and "org.tensorflow.lite.Interpreter" in kotlin
    meta = json.loads((pkg / "metadata.json").read_text())
    assert meta["contract"]["scale"] == 3 and meta["unknown"] == []


@pytest.mark.shared
def test_package_of_a_file_sropt_did_not_write(shared_models: Path, tmp_path: Path, capsys) -> None:
    from tests.validate.exports import export_tflite

    model = export_tflite(shared_models / "ESPCN_x3.pb", tmp_path / "foreign.tflite", sidecar=False)
    pkg = tmp_path / "pkg"
    assert main(["package", str(model), "-o", str(pkg)]) == 0
    out = capsys.readouterr().out
    assert "inferred: family espcn: from the op list" in out and "could not determine: TFLite metadata" in out
    meta = json.loads((pkg / "metadata.json").read_text())
    assert (meta["family"], meta["scale"], meta["sidecar"]) == ("espcn", 3, False)
    assert meta["contract"]["std"] == [255.0] and meta["contract"]["io"]["input"]["name"] != "lr_image"
    assert "## Inferred, not known" in (pkg / "README.md").read_text()


def test_package_bad_output_folders_exit_2(tiny_tflite: Path, tmp_path: Path, capsys) -> None:
    before = tiny_tflite.read_bytes()
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    cases = {
        str(a_file): "is a file",
        str(a_file / "sub"): "not a writable folder",
        str(tiny_tflite.parent): "not empty",  # the model's own folder: would put the copy over the input
    }
    for out, message in cases.items():
        assert main(["package", str(tiny_tflite), "-o", out]) == 2
        assert message in capsys.readouterr().err
    assert tiny_tflite.read_bytes() == before and a_file.read_text() == "x"
    assert not list(tmp_path.glob(".*.part"))  # nothing half-written left behind


def test_package_refuses_a_frozen_graph(tiny_edsr: Path, tmp_path: Path, capsys) -> None:
    assert main(["package", str(tiny_edsr), "-o", str(tmp_path / "p")]) == 2
    assert "convert it first" in capsys.readouterr().err and not (tmp_path / "p").exists()


def test_onnx_sidecars_state_their_own_io(tiny_edsr: Path, tmp_path: Path) -> None:
    from sropt.convert.onnx_export import export_onnx
    from sropt.quantize.config import QuantizeConfig
    from sropt.quantize.onnx_quantize import quantize_onnx

    export_onnx(tiny_edsr, tmp_path / "e.onnx")
    quantize_onnx(tmp_path / "e.onnx", tmp_path / "h.onnx", QuantizeConfig("onnx", "fp16"))
    for name in ("e.onnx", "h.onnx"):
        side = json.loads((tmp_path / f"{name}.sropt.json").read_text())
        # fp16 keeps float32 I/O (keep_io_types): the sidecar reads the written file, not its source.
        assert side["contract"]["io"]["input"] == {"name": "lr_image", "dtype": "float32", "shape": [1, 3, -1, -1]}
        assert side["contract"]["mean"] == list(DIV2K_MEAN_BGR) and side["contract"]["scale"] == 3
