"""Deterministic artifacts (issue 20 item 5): the same input, config and library versions give
byte-identical files for every stage, across processes (slow).

Each stage runs twice in fresh processes with different hash seeds, writing
a file of the same name into two folders (the TFLite metadata carries the
file's name). Found by this test: protobuf maps (NodeDef.attr) serialized in
a different order per process, so three identical prunes gave three .pb
files; tf2onnx's graph varied between processes (convert/onnx_tidy.py).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sropt.core.locations import bundled_dir

pytestmark = pytest.mark.slow

MODEL = bundled_dir() / "EDSR-T91-b8f64_x3.pb"
CALIB = bundled_dir() / "datasets" / "T91"


def _sropt(args: list[str], cwd: Path, seed: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": seed, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "sropt", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_stage_writes_the_same_bytes_twice(tmp_path: Path) -> None:
    runs = []
    for seed in ("0", "1"):
        d = tmp_path / f"run{seed}"
        d.mkdir()
        _sropt(["prune", str(MODEL), "--ratio", "0.25", "-o", "m.prune.pb", "--calib", str(CALIB), "--calib-count", "8"], d, seed)
        _sropt(["export", "m.prune.pb", "--to", "onnx", "-o", "m.onnx"], d, seed)
        _sropt(["quantize", "m.prune.pb", "--to", "tflite", "--mode", "int8", "-o", "m.int8.tflite",
                "--calib", str(CALIB), "--calib-count", "8", "--weight-rounding", "nearest", "--equalize", "off"], d, seed)
        _sropt(["quantize", "m.onnx", "--to", "onnx", "--mode", "int8", "-o", "m.int8.onnx", "--calib", str(CALIB), "--calib-count", "8"], d, seed)
        runs.append({name: _digest(d / name) for name in ("m.prune.pb", "m.onnx", "m.int8.tflite", "m.int8.onnx")})
    assert runs[0] == runs[1]
