"""The real CLI in a fresh process without a terminal (a CI log): no third-party noise unless -v.

A tiny ESPCN-like graph and four synthetic calibration images; TensorFlow,
tf2onnx, the TFLite converter and LiteRT all run for real, which is what
prints the lines below.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

#: What users saw on every command (issue 13 item 5), one pattern per source.
NOISE = {
    "absl pre-init": "All log messages before absl::InitializeLog() is called",
    "oneDNN": "oneDNN custom operations are on",
    "cudart": "cudart_stub.cc",
    "cuInit": "failed call to cuInit",
    "TFLite converter print": "fully_quantize: 0, inference_type: 6",
    "XNNPACK": "Created TensorFlow Lite XNNPACK delegate for CPU",
    "tf2onnx deprecation": "tf_loader.py",
}
#: LiteRT's accelerator registry, from C++ destructors at process exit (inspect runs CompiledModel probes).
EXIT_NOISE = "DestroyAccelerator"


@pytest.fixture(scope="module")
def tiny_inputs(tmp_path_factory) -> Path:
    import cv2

    from tests.graphs_tiny import build_tiny_graph

    root = tmp_path_factory.mktemp("noise")
    graph_def, scale, _ = build_tiny_graph("espcn")
    assert scale == 3
    (root / "tiny.pb").write_bytes(graph_def.SerializeToString())
    rng = np.random.default_rng(0)
    (root / "calib").mkdir()
    for i in range(4):  # 120 px: an LR crop of 32 px at x3 fits
        img = cv2.GaussianBlur(rng.integers(0, 255, (120, 120, 3), dtype=np.uint8), (7, 7), 2)
        cv2.imwrite(str(root / "calib" / f"{i}.png"), img)
    return root


def _sropt(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES", "SROPT_VERBOSITY")}
    proc = subprocess.run([sys.executable, "-m", "sropt", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


QUANTIZE = ["quantize", "tiny.pb", "--to", "tflite", "--mode", "int8", "--calib", "calib", "--calib-count", "4",
            "--equalize", "off", "--weight-rounding", "nearest"]


def test_quantize_and_export_print_no_third_party_noise(tiny_inputs):
    quantize = _sropt([*QUANTIZE, "-o", "q.tflite"], tiny_inputs)
    export = _sropt(["export", "tiny.pb", "--to", "onnx", "-o", "t.onnx"], tiny_inputs)
    for proc in (quantize, export):
        found = {name: p for name, p in NOISE.items() if p in proc.stdout + proc.stderr}
        assert not found, proc.stderr
        assert proc.stderr == ""  # nothing else slipped through either
    assert quantize.stdout.startswith("wrote q.tflite (") and "loaded and ran in LiteRT" in quantize.stdout
    assert export.stdout.startswith("wrote t.onnx (") and "onnxruntime" in export.stdout


def test_verbose_brings_the_third_party_output_back(tiny_inputs):
    quantize = _sropt(["-v", *QUANTIZE, "-o", "qv.tflite"], tiny_inputs)
    export = _sropt(["-v", "export", "tiny.pb", "--to", "onnx", "-o", "tv.onnx"], tiny_inputs)
    shown = {name for name, p in NOISE.items() if p in quantize.stdout + quantize.stderr + export.stdout + export.stderr}
    assert shown == set(NOISE)


def test_inspect_of_a_tflite_prints_no_exit_time_noise(tiny_inputs):
    if not (tiny_inputs / "q.tflite").exists():
        _sropt([*QUANTIZE, "-o", "q.tflite"], tiny_inputs)
    quiet = _sropt(["inspect", "q.tflite"], tiny_inputs)
    assert EXIT_NOISE not in quiet.stdout + quiet.stderr and quiet.stderr == ""
    assert "CompiledModel" in quiet.stdout  # the probes that create LiteRT's accelerators did run
    verbose = _sropt(["-v", "inspect", "q.tflite"], tiny_inputs)
    assert EXIT_NOISE in verbose.stderr
