"""QAT variants scored on T91, the set QAT choices are made on (docs/qat.md, issue 15).

Runs the parts of ``sropt.quantize.qat.quantize_aware_train`` with one
variant's settings, writes the int8 file, and prints one JSON line with the
mean PSNR-Y (FACTS.md §4 protocol) over every image of ``--eval`` for the
lifted float model (TF), the fake-quant model and the LiteRT int8 file:

    SROPT_MODEL_MIRROR=/work/shared/models SROPT_DATASETS_DIR=/work/shared/datasets \\
    .venv/bin/python -m benchmarks.qat_variants FSRCNN_x3 --steps 1000 --ranges learned -o f.tflite

Held-out sets are scored on the written file with ``sropt validate``, never here.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def score(model_fns: dict, pairs: list, contract, scale: int) -> dict[str, float]:
    """Mean PSNR-Y of each named model function over (name, LR, HR) pairs."""
    from sropt.validate.metrics import calculate_psnr

    scores: dict[str, list[float]] = {k: [] for k in model_fns}
    for _, lr, hr in pairs:
        x = contract.preprocess(lr)
        for name, fn in model_fns.items():
            scores[name].append(calculate_psnr(contract.postprocess(fn(x), lr), hr, scale))
    return {k: round(float(np.mean(v)), 4) for k, v in scores.items()}


def litert_fn(data: bytes):
    """A function running the int8 file in LiteRT on one NHWC input."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data)

    def run(x: np.ndarray) -> np.ndarray:
        index = interp.get_input_details()[0]["index"]
        interp.resize_tensor_input(index, list(x.shape), strict=False)
        interp.allocate_tensors()
        interp.set_tensor(index, x.astype(np.float32))
        interp.invoke()
        return interp.get_tensor(interp.get_output_details()[0]["index"])

    return run


def run_variant(a: argparse.Namespace) -> dict:
    """Train one variant as ``quantize_aware_train`` does, convert, check parity, score on ``a.eval``."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf

    from sropt.convert.frozen import load_frozen_graph
    from sropt.convert.keras_lift import lift_to_keras
    from sropt.convert.tflite_export import prepare_graph
    from sropt.core.locations import datasets_dir
    from sropt.models import resolve_model
    from sropt.quantize import qat
    from sropt.quantize.calibration import load_calibration_inputs
    from sropt.quantize.config import CalibrationConfig
    from sropt.quantize.tflite_quantize import _qat_start
    from sropt.validate.calibration import load_pairs

    qat.use_legacy_keras()
    prepared = prepare_graph(load_frozen_graph(resolve_model(a.model)))
    src = prepared.source.artifact
    calib = load_calibration_inputs(CalibrationConfig(), src.contract, src.scale)
    lr_images = [lr for _, lr, _ in load_pairs(calib.folder, src.scale)]
    settings = qat.QatSettings(steps=a.steps, learning_rate=a.lr, ranges=a.ranges, seed=a.seed)
    prepared, lifted, start = _qat_start(prepared, lift_to_keras(prepared), calib, settings.ranges)
    tf.keras.utils.set_random_seed(settings.seed)
    student = qat.build_qat_model(lifted, settings.ranges)
    _, frozen = qat.start_activation_ranges(student, calib.inputs, settings.ranges)
    cpu = time.process_time()
    record = qat.train_qat(student, lifted.model, src.contract, lr_images, settings, frozen=frozen)
    cpu = round(time.process_time() - cpu, 1)
    data = qat.convert_qat(student, calib)
    parity = qat.check_converted(data, student, calib.inputs[:qat.PARITY_CROPS],
                                 255.0 if src.contract.input_channels == 1 else 1.0)
    with open(a.out, "wb") as f:
        f.write(data)
    fns = {"float": lambda x: lifted.model(x).numpy(), "fake": lambda x: student(x, training=False).numpy(),
           "int8": litert_fn(data)}
    psnr = score(fns, load_pairs(datasets_dir() / a.eval, src.scale), src.contract, src.scale)
    return {"model": a.model, "eval": a.eval, "steps": a.steps, "ranges": a.ranges, "seed": a.seed,
            "learning_rate": record["learning_rate"], "start": start.get("equalize"), "psnr": psnr,
            "fake_drop": round(psnr["fake"] - psnr["float"], 4), "int8_drop": round(psnr["int8"] - psnr["float"], 4),
            "train_s": record["seconds"], "train_cpu_s": cpu, "last_loss": record["last_loss"], "parity": parity}


def main() -> None:
    """Parse the variant, run it, print its JSON line."""
    from sropt.quantize.qat import RANGE_MODES  # imports no TensorFlow

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="registry name or frozen .pb (e.g. a pruned EDSR from a run folder)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--ranges", choices=RANGE_MODES, default="frozen")
    ap.add_argument("--lr", type=float, default=None, help="Adam's starting rate (default: qat.LEARNING_RATE)")
    ap.add_argument("--seed", type=int, default=0, help="QAT's seed (crops drawn, Keras state)")
    ap.add_argument("--eval", default="T91", help="dataset folder under SROPT_DATASETS_DIR to score on")
    ap.add_argument("-o", "--out", required=True, help="where to write the int8 .tflite")
    print(json.dumps(run_variant(ap.parse_args())))


if __name__ == "__main__":
    main()
