"""Quantization-aware training: tfmot fake-quant, int8 conversion, parity, the Keras routing and bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.graphs_tiny import build_tiny_graph

ROOT = Path(__file__).resolve().parents[2]


def _tiny(name: str):
    from sropt.convert.tflite_export import PreparedGraph
    from sropt.core.contracts import Y_CHANNEL_CONTRACT

    graph_def, scale, _ = build_tiny_graph(name)
    stub = SimpleNamespace(artifact=SimpleNamespace(path=Path(f"{name}.pb"), contract=Y_CHANNEL_CONTRACT, scale=scale))
    return PreparedGraph(stub, graph_def, "lr", "sr", 1, [])


def _lr_images(count: int = 6, side: int = 40) -> list[np.ndarray]:
    """Smooth uint8 BGR images (a blurred random field), like LR photos rather than noise."""
    import cv2

    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        img = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        out.append(cv2.GaussianBlur(img, (7, 7), 2.0))
    return out


def _calibration(images: list[np.ndarray]):
    from sropt.core.contracts import Y_CHANNEL_CONTRACT
    from sropt.validate.calibration import CalibrationSet

    crops = [img[:16, :16].copy() for img in images]
    return CalibrationSet(crops, crops, Path("synthetic"), ["x"] * len(crops), 16, 0).preprocessed(Y_CHANNEL_CONTRACT)


def test_activation_ranges_start_at_the_batch_range() -> None:
    """After init, the last conv's EMA range is the float output's range over the batch, not tfmot's [-6, 6]."""
    from sropt.convert.keras_lift import lift_to_keras
    from sropt.quantize.qat import build_qat_model, init_activation_ranges, use_legacy_keras

    use_legacy_keras()
    lifted = lift_to_keras(_tiny("espcn"))
    student = build_qat_model(lifted)
    batch = np.concatenate(_calibration(_lr_images()).inputs)
    init_activation_ranges(student, batch)
    conv3 = lifted.model.get_layer("conv3") if "conv3" in [l.name for l in lifted.model.layers] else None
    last_conv = conv3 or [l for l in lifted.model.layers if type(l).__name__ == "Conv2D"][-1]
    import tf_keras

    float_out = tf_keras.Model(lifted.model.input, last_conv.output)(batch).numpy()
    want = (min(float(float_out.min()), 0.0), max(float(float_out.max()), 0.0))  # tfmot keeps 0 in range
    wrapper = next(l for l in student.layers if getattr(l, "layer", None) is not None and l.layer.name == last_conv.name)
    got = [float(v.numpy()) for v in wrapper.weights if "post_activation_m" in v.name]
    # Upstream layers are fake-quantized during the pass, so the range is close, not equal.
    np.testing.assert_allclose(got, want, atol=0.05 * (want[1] - want[0]))


def test_every_contract_has_a_qat_learning_rate() -> None:
    """QAT picks Adam's rate by the model's contract; a contract without one would be a KeyError mid-run."""
    from sropt.core.contracts import BGR_MEAN_CONTRACT, Y_CHANNEL_CONTRACT
    from sropt.quantize.qat import LEARNING_RATE

    assert set(LEARNING_RATE) == {BGR_MEAN_CONTRACT.name, Y_CHANNEL_CONTRACT.name}
    assert LEARNING_RATE[BGR_MEAN_CONTRACT.name] < LEARNING_RATE[Y_CHANNEL_CONTRACT.name]


def test_learned_range_fake_quant_values_and_lsq_gradient() -> None:
    """Forward = TF's fake-quant; gradients = LSQ+'s, computed by hand on the grid [0, 2.55] (step 0.01)."""
    import tensorflow as tf

    from sropt.quantize.qat import learned_range_fake_quant, use_legacy_keras

    use_legacy_keras()
    x = tf.constant([-0.5, 0.004, 1.2345, 1.2351, 3.0])
    lo, hi = tf.Variable(0.0), tf.Variable(2.55)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = learned_range_fake_quant(x, lo, hi, training=True)
    # 0 is on the grid, so no nudging: round(x / 0.01) * 0.01 clipped to [0, 2.55].
    np.testing.assert_allclose(y.numpy(), [0.0, 0.0, 1.23, 1.24, 2.55], atol=1e-6)
    v = np.array([-50.0, 0.4, 123.45, 123.51, 300.0])  # x / step
    inside = (v >= 0) & (v <= 255)
    # d/dhi: (round(v) - v) / 255 inside, 1 above, 0 below; d/dlo: the negated rounding term inside, 1 below.
    want_hi = np.where(inside, (np.round(v) - v) / 255, (v > 255).astype(float))
    want_lo = np.where(inside, -(np.round(v) - v) / 255, (v < 0).astype(float))
    np.testing.assert_allclose(tape.jacobian(y, hi).numpy(), want_hi, atol=1e-5)
    np.testing.assert_allclose(tape.jacobian(y, lo).numpy(), want_lo, atol=1e-5)
    # Straight-through for the input: 1 inside the range, 0 where it clips.
    np.testing.assert_allclose(np.diag(tape.jacobian(y, x).numpy()), inside.astype(float), atol=1e-6)
    # Inference is the plain op the converter reads, with no surrogate term.
    np.testing.assert_array_equal(learned_range_fake_quant(x, lo, hi, training=False).numpy(),
                                  tf.quantization.fake_quant_with_min_max_vars(x, lo, hi).numpy())


def test_learned_ranges_are_trainable_and_start_at_the_batch_range() -> None:
    """ranges='learned': every EMA activation range becomes a trainable pair set from the calibration batch."""
    import tf_keras

    from sropt.convert.keras_lift import lift_to_keras
    from sropt.quantize.qat import build_qat_model, init_activation_ranges, learned_range_variables, use_legacy_keras

    use_legacy_keras()
    lifted = lift_to_keras(_tiny("fsrcnn"))
    ema, learned = build_qat_model(lifted), build_qat_model(lifted, "learned")
    ema_ranges = [v for v in ema.non_trainable_variables if "activation_m" in v.name or "output_m" in v.name]
    assert learned_range_variables(ema) == []
    assert len(learned_range_variables(learned)) == len(ema_ranges) > 0
    batch = np.concatenate(_calibration(_lr_images()).inputs)
    assert init_activation_ranges(learned, batch) == len(ema_ranges)
    last_conv = [l for l in lifted.model.layers if type(l).__name__ == "Conv2D"][-1]
    float_out = tf_keras.Model(lifted.model.input, last_conv.output)(batch).numpy()
    wrapper = next(l for l in learned.layers if getattr(l, "layer", None) is not None and l.layer.name == last_conv.name)
    got = sorted(float(v.numpy()) for v in wrapper.trainable_weights if "post_activation_m" in v.name)
    # Upstream layers are fake-quantized during the pass, so the range is close to the float one, not equal.
    want = (min(float(float_out.min()), 0.0), max(float(float_out.max()), 0.0))
    np.testing.assert_allclose(got, want, atol=0.05 * (want[1] - want[0]))


def test_frozen_ranges_ignore_the_most_extreme_crops_and_stay_fixed_in_training() -> None:
    """ranges='frozen': hidden ranges are the 3rd most extreme per-crop values of 32 crops (2 ignored at each end),
    the last conv (pixels) keeps every crop's extreme, and training puts them back after every step."""
    import tf_keras

    from sropt.convert.keras_lift import lift_to_keras
    from sropt.core.contracts import Y_CHANNEL_CONTRACT
    from sropt.quantize.qat import QatSettings, build_qat_model, start_activation_ranges, train_qat, use_legacy_keras
    from sropt.quantize.ranges import trim_count

    use_legacy_keras()
    lifted = lift_to_keras(_tiny("fsrcnn"))
    student = build_qat_model(lifted, "frozen")
    images = _lr_images(count=32)
    crops = _calibration(images).inputs
    assert trim_count(len(crops)) == 2
    note, frozen = start_activation_ranges(student, crops, "frozen")
    assert "2 crop(s) ignored at each end" in note and len(frozen) > 0
    convs = [l for l in lifted.model.layers if type(l).__name__ == "Conv2D"]

    def per_crop(layer):  # extremes of one layer's output on each crop, from the float model itself
        sub = tf_keras.Model(lifted.model.input, layer.output)
        outs = [sub(c).numpy() for c in crops]
        return np.sort([min(o.min(), 0.0) for o in outs]), np.sort([max(o.max(), 0.0) for o in outs])

    def stored(layer):
        wrapper = next(l for l in student.layers if getattr(l, "layer", None) is not None and l.layer.name == layer.name)
        values = {v.name.rsplit("_", 1)[-1].split(":")[0]: float(v.numpy()) for v in wrapper.weights
                  if "post_activation_m" in v.name}
        return values["min"], values["max"]

    lows, highs = per_crop(convs[0])
    # The per-crop passes quantize the input and weights (as at inference): measured 0.2% of the range apart here.
    tol = 0.004 * (highs[-1] - lows[0])
    got = stored(convs[0])
    np.testing.assert_allclose(got, (lows[2], highs[-3]), atol=tol)
    assert got[1] < highs[-1] - tol  # the two brightest crops were really ignored
    lows, highs = per_crop(convs[-1])
    # After five quantized layers: measured 1.6% of the range apart.
    np.testing.assert_allclose(stored(convs[-1]), (lows[0], highs[-1]), atol=0.025 * (highs[-1] - lows[0]))
    before = [float(var.numpy()) for var, _ in frozen]
    train_qat(student, lifted.model, Y_CHANNEL_CONTRACT, images, QatSettings(steps=3, batch=4, crop=16), frozen=frozen)
    assert [float(var.numpy()) for var, _ in frozen] == before
    moved = build_qat_model(lifted, "ema")  # without the pairs, tfmot's EMA follows the batches
    _, none = start_activation_ranges(moved, crops, "ema")
    ema_before = [float(v.numpy()) for v in moved.non_trainable_variables if "post_activation_m" in v.name]
    train_qat(moved, lifted.model, Y_CHANNEL_CONTRACT, images, QatSettings(steps=3, batch=4, crop=16), frozen=none)
    assert [float(v.numpy()) for v in moved.non_trainable_variables if "post_activation_m" in v.name] != ema_before


@pytest.mark.slow
@pytest.mark.parametrize("ranges", ["frozen", "ema", "learned"])
def test_tiny_fsrcnn_qat_converts_to_int8_and_matches_its_fake_quant(ranges: str) -> None:
    """A few QAT steps on the tiny FSRCNN: int8 PRELU/CONV_2D/DEPTH_TO_SPACE, LiteRT close to the float graph."""
    from ai_edge_litert.interpreter import Interpreter

    from sropt.convert import run_graph
    from sropt.convert.keras_lift import lift_to_keras
    from sropt.quantize.qat import PARITY_TOLERANCE, QatSettings, quantize_aware_train

    prepared = _tiny("fsrcnn")
    images = _lr_images()
    calib = _calibration(images)
    outcome = quantize_aware_train(prepared, lift_to_keras(prepared), calib, images,
                                   QatSettings(steps=5, batch=4, crop=16, ranges=ranges))
    interp = Interpreter(model_content=outcome.data)
    ops = {op["op_name"] for op in interp._get_ops_details()}
    assert {"CONV_2D", "PRELU", "DEPTH_TO_SPACE"} <= ops and not ops & {"ABS", "SUB", "MUL"}
    kernels = [t for t in interp.get_tensor_details() if len(t["shape"]) == 4 and t["dtype"] == np.int8]
    assert kernels  # int8 weights and activations, not float with int8 storage
    parity = outcome.record["parity"]
    assert parity["psnr_db"] >= PARITY_TOLERANCE["psnr_db"] and parity["mean_abs"] <= PARITY_TOLERANCE["mean_abs"]
    assert outcome.record["steps"] == 5 and np.isfinite(outcome.record["last_loss"])
    assert outcome.record["ranges"] == ranges and outcome.record["learning_rate"] == 1e-3  # the Y contract's
    # Independent of the Keras model: the int8 file against the frozen graph run by TF, in grey levels.
    x = calib.inputs[0]
    interp.resize_tensor_input(interp.get_input_details()[0]["index"], list(x.shape), strict=False)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    got = interp.get_tensor(interp.get_output_details()[0]["index"])
    want = run_graph(prepared.graph_def, {"lr": x}, ["sr"])[0]
    # Six int8 layers on random weights: within a few 8-bit steps of the float output's range.
    step = float(want.max() - want.min()) / 255
    assert float(np.abs(got - want).mean()) < 4 * step, (float(np.abs(got - want).mean()) / step)


def _python(code: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env.update(env_extra or {}, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_cli_routes_tf_keras_to_tf_keras_2() -> None:
    """main() sets TF_USE_LEGACY_KERAS before any TF import, so tf.keras in that process is tf-keras."""
    code = ("from sropt.cli import main\nmain(['--version'])\nimport tensorflow as tf, tf_keras\n"
            "print('legacy' if tf.keras.Model is tf_keras.Model else 'keras3')")
    proc = _python(code)
    assert proc.stdout.strip().splitlines()[-1] == "legacy", proc.stderr[-2000:]


def test_qat_refuses_a_process_already_bound_to_keras_3() -> None:
    """Without the variable, tf.keras binds to Keras 3 on first use; QAT then says what to set instead of mixing Kerases."""
    code = ("import tensorflow as tf\ntf.keras.layers\nfrom sropt.quantize.qat import use_legacy_keras\n"
            "from sropt.core.errors import StageError\ntry:\n    use_legacy_keras()\nexcept StageError as e:\n"
            "    print('refused:', e)")
    proc = _python(code)
    assert "refused:" in proc.stdout and "TF_USE_LEGACY_KERAS=1" in proc.stdout, proc.stderr[-2000:]


@pytest.mark.parametrize("kwargs,fragment", [
    ({"target": "onnx", "mode": "int8"}, "--qat-steps applies to --to tflite --mode int8 only"),
    ({"target": "tflite", "mode": "fp16"}, "--qat-steps applies to --to tflite --mode int8 only"),
    ({"target": "tflite", "mode": "int8", "max_psnr_drop": 0.1}, "cannot be combined with --max-psnr-drop"),
    ({"target": "tflite", "mode": "int8", "io": "int8"}, "cannot be combined with --io int8/uint8"),
])
def test_qat_config_refuses_what_it_cannot_do(kwargs: dict, fragment: str) -> None:
    from sropt.core.errors import InputError
    from sropt.quantize.config import QuantizeConfig

    with pytest.raises(InputError, match=fragment.replace("-", r"\-").replace(".", r"\.")):
        QuantizeConfig(qat_steps=10, **kwargs)
    with pytest.raises(InputError, match="give a number of training steps >= 0"):
        QuantizeConfig(target="tflite", mode="int8", qat_steps=-1)


@pytest.mark.shared
def test_cli_qat_on_an_unliftable_model_is_exit_2_and_writes_nothing(
    shared_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    """LapSRN's ladders hold ops the lift has no rule for: exit 2, the ops named, no file."""
    from sropt.cli import main

    out = tmp_path / "lapsrn.tflite"
    code = main(["quantize", str(shared_models / "LapSRN_x2.pb"), "--to", "tflite", "--mode", "int8",
                 "--qat-steps", "5", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "QAT cannot lift" in err and "unsupported op: add (Add with a constant operand)" in err
    assert list(tmp_path.iterdir()) == []


def test_qat_starts_from_equalized_weights_only_when_they_quantize_closer() -> None:
    """The start is a measured choice: equalized iff its fake-quant L1 to float is lower, both recorded."""
    from sropt.convert.keras_lift import lift_to_keras
    from sropt.quantize.qat import fake_quant_l1
    from sropt.quantize.tflite_quantize import QAT_EQUALIZE_ALPHA, _qat_start

    prepared = _tiny("fsrcnn")
    calib = _calibration(_lr_images())
    lifted = lift_to_keras(prepared)
    chosen, chosen_lifted, record = _qat_start(prepared, lifted, calib, "frozen")
    l1 = record["fake_quant_l1"]
    plain, equalized = l1["plain"], l1[f"equalize {QAT_EQUALIZE_ALPHA}"]
    assert record["equalize"] == (QAT_EQUALIZE_ALPHA if equalized < plain else None)
    assert (chosen is prepared) == (record["equalize"] is None)
    # The recorded number is the chosen model's own fake-quant error, recomputed independently.
    assert fake_quant_l1(chosen_lifted, calib, "frozen") == pytest.approx(min(plain, equalized), abs=1e-5)
