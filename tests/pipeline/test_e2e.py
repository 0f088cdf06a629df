"""End to end: the shipped fsrcnn_x3_ci pipeline on the real FSRCNN_x3 and Set5 (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sropt.core.locations import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.shared]


def _sropt(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    # A fresh process per run: the warm run must not import TensorFlow, which
    # only a clean interpreter can show.
    code = (
        "import sys\n"
        "from sropt.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "print('TF_IMPORTED=%s' % ('tensorflow' in sys.modules), file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    return subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_fsrcnn_x3_ci_cold_then_warm(tmp_path, shared_models, datasets):
    env = {
        **os.environ,
        "SROPT_MODEL_MIRROR": str(shared_models),
        "SROPT_DATASETS_DIR": str(datasets),
        "SROPT_CACHE_DIR": str(tmp_path / "cache"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    args = ["run", str(PROJECT_ROOT / "pipelines.yaml"), "--pipeline", "fsrcnn_x3_ci", "--out", "run", "--json"]
    cold = _sropt(args, env, tmp_path)
    assert cold.returncode == 0, cold.stderr[-3000:]
    summary = json.loads(cold.stdout)
    steps = ["source", "prune", "export.onnx", "quantize.tflite.int8", "quantize.onnx.int8", "validate"]
    assert [(s["name"], s["status"]) for s in summary["steps"]] == [(n, "ran") for n in steps]

    run = tmp_path / "run"
    report = json.loads((run / "report.json").read_text())
    rows = {(r.get("stage"), r["runtime"]): r for r in report["results"]}
    assert set(rows) == {
        ("source", "opencv"), ("prune", "opencv"), ("export.onnx", "opencv"), ("export.onnx", "ort"),
        ("quantize.tflite.int8", "tflite"), ("quantize.onnx.int8", "opencv"), ("quantize.onnx.int8", "ort"),
        (None, "bicubic"),
    }
    for r in report["results"]:
        assert r["dataset"].endswith("Set5") and r["scale"] == 3 and r["degradation"] == "matlab-bicubic"
        assert len(r["images"]) == 5
    # FACTS.md §4: bicubic 30.40 dB, FSRCNN_x3 30.59 dB on Set5 x3 under this protocol.
    assert rows[(None, "bicubic")]["psnr_y"] == pytest.approx(30.40, abs=0.05)
    assert rows[("source", "opencv")]["psnr_y"] == pytest.approx(30.59, abs=0.05)
    # The ONNX export is the same function: within 0.01 dB of the source in both runtimes.
    for rt in ("opencv", "ort"):
        assert abs(rows[("export.onnx", rt)]["psnr_y"] - rows[("prune", "opencv")]["psnr_y"]) < 0.01
    # Pruning stays inside its 0.3 dB budget; INT8 costs FSRCNN something but stays above bicubic - 1 dB.
    assert rows[("prune", "opencv")]["psnr_y"] >= rows[("source", "opencv")]["psnr_y"] - 0.3
    for key in (("quantize.tflite.int8", "tflite"), ("quantize.onnx.int8", "ort")):
        assert 29.0 < rows[key]["psnr_y"] < rows[("source", "opencv")]["psnr_y"]
        assert rows[key]["latency_ms"]["median"] > 0
    assert rows[("quantize.tflite.int8", "tflite")]["size_bytes"] < rows[("source", "opencv")]["size_bytes"]

    summary_rows = {s["step"]: s for s in report["pipeline"]["summary"]}
    expected = rows[("quantize.tflite.int8", "tflite")]["psnr_y"] - rows[("source", "opencv")]["psnr_y"]
    assert summary_rows["quantize.tflite.int8"]["psnr_delta"]["Set5"] == pytest.approx(expected, abs=1e-3)
    assert report["pipeline"]["passed"] is True
    suite = ET.parse(run / "junit.xml").getroot().find("testsuite")
    assert int(suite.get("tests")) > 0 and suite.get("failures") == "0" and suite.get("errors") == "0"
    html = (run / "report.html").read_text()
    assert "sropt-pipeline" in html and "data:image/png;base64," in html
    for name in ("resolved.yaml", "run.log", "report.md", "gates.md"):
        assert (run / name).stat().st_size > 0

    warm = _sropt(args, env, tmp_path)
    assert warm.returncode == 0, warm.stderr[-3000:]
    assert [(s["name"], s["status"]) for s in json.loads(warm.stdout)["steps"]] == [(n, "cached") for n in steps]
    assert "TF_IMPORTED=False" in warm.stderr
    assert json.loads((run / "report.json").read_text())["results"] == report["results"]
