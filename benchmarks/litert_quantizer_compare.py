"""Google's litert-quantizer (formerly ai-edge-quantizer) on sropt's float .tflite files (issue 15, item 6).

Two halves, because the quantizer was measured from its own venv (docs/litert_quantizer.md):

    # 1. in sropt's venv: sropt's 64 T91 LR calibration crops of a model, as one .npy
    .venv/bin/python -m benchmarks.litert_quantizer_compare crops FSRCNN_x3 -o work/FSRCNN_x3.calib.npy
    # 2. in a venv with `pip install litert-quantizer` (imports no sropt code)
    /tmp/aeq-venv/bin/python benchmarks/litert_quantizer_compare.py quantize work/FSRCNN_x3.f32.tflite \
        work/FSRCNN_x3.calib.npy --algorithm min_max_uniform_quantize --update minmax -o work/FSRCNN_x3.aeq.tflite

The float file comes from ``sropt quantize M --to tflite --mode float32``;
score both with ``sropt validate FILE -d Set5 -d Set14 -r tflite --threads 2``.
"""

from __future__ import annotations

import argparse
import collections
import json
import time

import numpy as np


def dump_crops(model: str, out: str) -> dict:
    """sropt's INT8 calibration inputs for ``model`` (validate/calibration.py defaults) stacked into one array."""
    from sropt.convert.frozen import describe_frozen_graph
    from sropt.models import resolve_model
    from sropt.quantize.calibration import load_calibration_inputs
    from sropt.quantize.config import CalibrationConfig

    artifact, _ = describe_frozen_graph(resolve_model(model))
    calib = load_calibration_inputs(CalibrationConfig(), artifact.contract, artifact.scale)
    np.save(out, np.concatenate(calib.inputs, axis=0))
    return calib.describe()


def quantize_static(src: str, crops: str, out: str, algorithm: str, update: str) -> dict:
    """Static-range INT8 (int8 weights and activations) of ``src`` with litert-quantizer, timed."""
    from litert_quantizer import Quantizer, calibrator, recipe
    from litert_quantizer.algorithm_manager import AlgorithmName
    from litert_quantizer.utils import qsv_utils

    x = np.load(crops).astype(np.float32)
    data = {"serving_default": [{"lr_image": x[i:i + 1]} for i in range(len(x))]}
    wall, cpu = time.perf_counter(), time.process_time()
    quantizer = Quantizer(src, recipe.static_wi8_ai8(algorithm_key=AlgorithmName(algorithm)))
    if update == "minmax":
        # Global min/max over all crops, as the TFLite converter calibrates. The quantizer's own
        # default is a moving average (0.95) of each crop's min/max, which narrows the ranges.
        cal = calibrator.Calibrator(quantizer._float_model_buffer, num_threads=2,
                                    qsv_update_func=qsv_utils.min_max_update)
        cal.calibrate(data, quantizer._recipe_manager)
        qsvs = cal.get_model_qsvs()
    else:
        qsvs = quantizer.calibrate(data, num_threads=2)
    quantizer.quantize(qsvs, enable_progress_report=False).export_model(out, overwrite=True)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    from ai_edge_litert.interpreter import Interpreter

    ops = collections.Counter(op["op_name"] for op in Interpreter(model_path=out)._get_ops_details())
    with open(out, "rb") as f:
        size = len(f.read())
    return {"src": src, "algorithm": algorithm, "update": update, "out": out, "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "bytes": size, "ops": dict(ops)}


def main() -> None:
    """``crops`` (sropt venv) or ``quantize`` (litert-quantizer venv); prints one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("crops")
    c.add_argument("model")
    c.add_argument("-o", "--out", required=True)
    q = sub.add_parser("quantize")
    q.add_argument("src")
    q.add_argument("crops")
    q.add_argument("-o", "--out", required=True)
    q.add_argument("--algorithm", default="min_max_uniform_quantize")
    q.add_argument("--update", choices=["default", "minmax"], default="default")
    a = ap.parse_args()
    if a.cmd == "crops":
        print(json.dumps(dump_crops(a.model, a.out)))
    else:
        print(json.dumps(quantize_static(a.src, a.crops, a.out, a.algorithm, a.update)))


if __name__ == "__main__":
    main()
