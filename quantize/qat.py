"""Quantization-aware training (tensorflow-model-optimization) -> full-INT8 TFLite.

Plain post-training INT8 loses 0.55-1.5 dB on FSRCNN_x3, more than its 0.19
dB margin over bicubic (issue 15; GPTQ and equalization bring it to 0.19).
QAT lets the weights adapt to int8 rounding (measured in docs/qat.md):

1. lift the frozen graph into a tf-keras model (``sropt.convert.keras_lift``);
2. wrap it with tfmot fake-quant (``quantize_apply``): the default 8-bit
   scheme for Conv2D/ReLU/Add/Activation, and our own QuantizeConfigs for
   PReLU (tfmot has none: quantize ``alpha`` and the output), DepthToSpace
   (a pure rearrangement: nothing of its own to quantize, the converter
   requires its output to share its input's scale) and Scale (the output);
   calibrate its activation ranges as post-training INT8 does (per-crop
   extremes, the most extreme crops ignored: ``calibrate_frozen_ranges``)
   and hold them fixed while training (``QatSettings.ranges``);
3. train it against the float model as teacher on unlabeled LR crops (the
   data path of prune's distillation, ``sample_training_batch``): L1 loss,
   Adam with cosine decay;
4. convert with ``TFLiteConverter.from_keras_model`` to int8 builtins only;
5. check that LiteRT's int8 output matches the fake-quantized Keras output
   within ``PARITY_TOLERANCE`` on the calibration crops, else StageError.

tfmot and the converter were measured with ``TF_USE_LEGACY_KERAS=1`` (FACTS.md
§5): ``tf.keras`` must then be tf-keras 2, so tfmot, our layers and the
converter's Keras front end see one Keras. The CLI sets it before anything
imports TensorFlow (spawned stage processes inherit it); ``use_legacy_keras``
sets it for library callers and refuses a process whose ``tf.keras`` was
already bound to Keras 3.
"""

from __future__ import annotations

import functools
import os
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sropt.core.errors import InputError, StageError

if TYPE_CHECKING:
    from sropt.convert.keras_lift import LiftedKeras
    from sropt.convert.tflite_export import PreparedGraph
    from sropt.core.contracts import Contract
    from sropt.validate.calibration import CalibrationSet

# LiteRT int8 vs the fake-quantized Keras model, on the 0..255 output scale
# (Y x255, or EDSR's BGR). Int8 kernels requantize in fixed point where
# fake-quant rounds float values, so some outputs land one step apart and
# that spreads through the following convs. Measured after 300 steps:
# FSRCNN_x3 45.2 dB / mean 0.86 levels, ESPCN_x3 52.1 / 0.53 (TANH's fixed
# 1/128 output step, which tfmot does not model), pruned EDSR layout 52.6 /
# 0.31; all far above the ~30 dB of the model against HR. Found with it:
# a PReLU alpha fake-quantized asymmetrically (the converter re-quantizes it
# symmetrically: 42.0 dB / 1.31) and a conv whose kernel tfmot left
# unquantized (ESPCN_x3: 23 steps on one layer).
PARITY_TOLERANCE = {"psnr_db": 35.0, "mean_abs": 3.0}
PARITY_CROPS = 8


def use_legacy_keras() -> None:
    """Route ``tf.keras`` to tf-keras 2 (``TF_USE_LEGACY_KERAS=1``); StageError if it is bound to Keras 3 already."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    import tf_keras

    if tf.keras.Model is not tf_keras.Model:
        raise StageError(
            f"QAT needs tf.keras to be tf-keras 2 (tensorflow-model-optimization's Keras), but this process "
            f"bound tf.keras to {tf.keras.__name__} (Keras 3) before QAT started. Set TF_USE_LEGACY_KERAS=1 in the "
            "environment before Python starts (the sropt CLI does this itself)."
        )


@dataclass(frozen=True)
class QatSettings:
    """How long and how QAT trains."""

    steps: int
    batch: int = 16
    crop: int = 32  # LR crop side
    learning_rate: float | None = None  # None: LEARNING_RATE for the model's contract
    seed: int = 0
    # "frozen": tfmot's activation quantizers with trimmed per-crop calibration ranges, held
    # fixed while the weights train (``calibrate_frozen_ranges``); "ema": tfmot's ranges, from
    # the calibration batch on following an EMA of each batch's min/max; "learned": trainable
    # ranges with the LSQ+ gradient (``LearnedRangeQuantizer``). Chosen on T91 (docs/qat.md).
    ranges: str = "frozen"

    def __post_init__(self) -> None:
        if int(self.steps) < 1:
            raise InputError(f"--qat-steps {self.steps}: give at least 1 training step (0 means no QAT).")
        if self.ranges not in RANGE_MODES:
            raise InputError(f"QAT ranges {self.ranges!r}: use one of {', '.join(RANGE_MODES)}.")


RANGE_MODES = ("frozen", "ema", "learned")

# Adam's starting learning rate (cosine decay to 0) per input/output contract, chosen on T91.
# Y models (FSRCNN_x3, 300 steps, T91 training L1): 1e-4 0.00737, 3e-4 0.00743, 1e-3 0.00715.
# The EDSR layout (0..255 BGR; 25%-pruned, distilled EDSR-T91-b8f64_x3, 300 steps): 1e-3 diverges
# (training L1 on T91 crops 1.66 -> 4.96 grey levels; Set5 -2.06 dB), 1e-4 ends at a T91
# int8 drop of 0.061 dB against the pruned float model; prune's distillation also uses 2e-4.
LEARNING_RATE = {"y-channel": 1e-3, "bgr-div2k-mean": 1e-4}


@dataclass(frozen=True)
class QatOutcome:
    """The converted int8 bytes and what training and the parity check measured."""

    data: bytes
    record: dict[str, Any]


@functools.cache
def _quantize_configs() -> dict[str, Any]:
    """QuantizeConfig per custom-handled layer class name (built once: they are registered for tfmot's clone)."""
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    QuantizeConfig = tfmot.quantization.keras.QuantizeConfig
    quantizers = tfmot.quantization.keras.quantizers

    def output_quantizer():
        # tfmot's default activation quantizer (asymmetric per-tensor, EMA ranges).
        return quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)

    @keras.saving.register_keras_serializable(package="sropt")
    class PReLUQuantizeConfig(QuantizeConfig):
        """PReLU: ``alpha`` as int8 weights (TFLite's PRELU takes a quantized alpha), the output as int8."""

        def get_weights_and_quantizers(self, layer):
            # Symmetric, narrow: the converter re-quantizes PRELU's alpha as max|alpha|/127 with zero point 0
            # whatever range fake-quant used (asymmetric ranges measured 0.004 apart per alpha on FSRCNN_x3).
            return [(layer.alpha, quantizers.LastValueQuantizer(
                num_bits=8, per_axis=False, symmetric=True, narrow_range=True))]

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            layer.alpha = quantize_weights[0]

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [output_quantizer()]

        def get_config(self):
            return {}

    @keras.saving.register_keras_serializable(package="sropt")
    class PassThroughQuantizeConfig(PReLUQuantizeConfig):
        """DepthToSpace: no weights, output keeps its input's (already quantized) values and scale."""

        def get_weights_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def get_output_quantizers(self, layer):
            return []

    @keras.saving.register_keras_serializable(package="sropt")
    class OutputQuantizeConfig(PassThroughQuantizeConfig):
        """Scale: a constant factor, only its output is quantized."""

        def get_output_quantizers(self, layer):
            return [output_quantizer()]

    return {"PReLU": PReLUQuantizeConfig, "DepthToSpace": PassThroughQuantizeConfig, "Scale": OutputQuantizeConfig}


def build_qat_model(lifted: "LiftedKeras", ranges: str = "ema") -> Any:
    """The lifted float model with tfmot fake-quant on every layer (its weights start as the float ones).

    ``ranges="learned"`` swaps every EMA activation quantizer (ours and
    tfmot's defaults) for a ``LearnedRangeQuantizer``.
    """
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    from sropt.convert.keras_lift import keras_layers

    if ranges not in RANGE_MODES:
        raise InputError(f"QAT ranges {ranges!r}: use one of {', '.join(RANGE_MODES)}.")
    configs = _quantize_configs()
    learned = {"LearnedRangeQuantizer": _learned_range_quantizer(), "LearnedRangeConfig": _learned_range_config()}
    qk = tfmot.quantization.keras
    registry = qk.default_8bit.Default8BitQuantizeRegistry()

    def annotate(layer):
        config = configs.get(type(layer).__name__)
        config = config() if config else None
        if ranges == "learned" and (config or registry.supports(layer)):
            config = learned["LearnedRangeConfig"](config or registry.get_quantize_config(layer))
        return qk.quantize_annotate_layer(layer, config)

    annotated = keras.models.clone_model(lifted.model, clone_function=annotate)
    custom = {**{cls.__name__: cls for cls in configs.values()}, **learned,
              "DepthToSpace": keras_layers().DepthToSpace, "Scale": keras_layers().Scale}
    with qk.quantize_scope(custom):
        return qk.quantize_apply(annotated)


# While set, every LearnedRangeQuantizer takes its range from the tensor it sees
# (calibration), as tfmot's EMA init does through init_activation_ranges.
_OBSERVING = {"on": False}


def learned_range_fake_quant(x: Any, lo: Any, hi: Any, training: bool) -> Any:
    """8-bit asymmetric fake-quant of ``x`` on [lo, hi]; in training, the LSQ+ gradient for lo and hi.

    The value is always TF's ``fake_quant_with_min_max_vars`` (what the TFLite
    converter reads as the tensor's quantization). Its own gradient for the
    range is the clipping term only (PACT), which never shrinks a range; the
    LSQ+ form (Esser et al. 2020, Bhalgat et al. 2020) adds the rounding error
    term round(v) - v inside the range, so a range can trade clipping for
    resolution.
    """
    import tensorflow as tf

    y = tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, num_bits=8, narrow_range=False)
    if not training:
        return y
    step = (hi - lo) / 255.0
    level = tf.clip_by_value((x - lo) / step, 0.0, 255.0)
    level = level + tf.stop_gradient(tf.round(level) - level)  # straight-through rounding
    surrogate = level * step + lo
    return tf.stop_gradient(y) + surrogate - tf.stop_gradient(surrogate)


@functools.cache
def _learned_range_quantizer() -> Any:
    """The learned-range activation quantizer class (registered for tfmot's clone)."""
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    qk = tfmot.quantization.keras

    @keras.saving.register_keras_serializable(package="sropt")
    class LearnedRangeQuantizer(qk.quantizers.Quantizer):
        """Per-tensor asymmetric 8-bit activations with a trainable range (``learned_range_fake_quant``)."""

        def build(self, tensor_shape, name, layer):
            return {bound: layer.add_weight(f"{name}_{bound}", initializer=keras.initializers.Constant(start),
                                            trainable=True) for bound, start in (("min", -6.0), ("max", 6.0))}

        def __call__(self, inputs, training, weights, **kwargs):
            if _OBSERVING["on"]:  # tfmot keeps 0 inside every range; so does the int8 zero point
                weights["min"].assign(tf.minimum(tf.reduce_min(inputs), 0.0))
                weights["max"].assign(tf.maximum(tf.reduce_max(inputs), 0.0))
            return learned_range_fake_quant(inputs, weights["min"], weights["max"], bool(training))

        def get_config(self):
            return {}

    return LearnedRangeQuantizer


@functools.cache
def _learned_range_config() -> Any:
    """The QuantizeConfig wrapper that puts ``_learned_range_quantizer()`` where EMA ranges were."""
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    qk = tfmot.quantization.keras
    LearnedRangeQuantizer = _learned_range_quantizer()

    @keras.saving.register_keras_serializable(package="sropt")
    class LearnedRangeConfig(qk.QuantizeConfig):
        """Another layer's QuantizeConfig with each EMA activation/output quantizer made a learned-range one."""

        def __init__(self, base):
            self.base = base

        @staticmethod
        def _swap(quantizer):
            ema = isinstance(quantizer, qk.quantizers.MovingAverageQuantizer)
            return LearnedRangeQuantizer() if ema else quantizer

        def get_weights_and_quantizers(self, layer):
            return self.base.get_weights_and_quantizers(layer)

        def get_activations_and_quantizers(self, layer):
            return [(a, self._swap(q)) for a, q in self.base.get_activations_and_quantizers(layer)]

        def set_quantize_weights(self, layer, quantize_weights):
            self.base.set_quantize_weights(layer, quantize_weights)

        def set_quantize_activations(self, layer, quantize_activations):
            self.base.set_quantize_activations(layer, quantize_activations)

        def get_output_quantizers(self, layer):
            return [self._swap(q) for q in self.base.get_output_quantizers(layer)]

        def get_config(self):
            return {"base": keras.saving.serialize_keras_object(self.base)}

        @classmethod
        def from_config(cls, config):
            return cls(keras.saving.deserialize_keras_object(config["base"]))

    return LearnedRangeConfig


# tfmot's MovingAverageQuantizer: ranges start at [-6, 6] and follow an EMA of
# the batch range with this decay (fixed inside tfmot), so a few hundred steps
# would leave Y (0..1) activations on a grid 12x too coarse.
EMA_DECAY = 0.999
RANGE_PASSES = 3  # each pass sees the ranges the previous one set upstream
_EMA_RANGE = re.compile(r"(pre_activation|post_activation|output)_(min|max):\d+$")


def init_activation_ranges(student: Any, batch: np.ndarray) -> int:
    """Set every EMA activation range to the calibration batch's range, as post-training calibration would.

    One training-mode pass moves each EMA variable from ``old`` to
    ``d*old + (1-d)*r``; solving for ``r`` (the batch's range at that point)
    and assigning it starts QAT from calibrated ranges. Returns the number of
    range variables set.
    """
    import tensorflow as tf

    x = tf.constant(batch)
    learned = learned_range_variables(student)
    if learned:  # one pass in order: each range is set before its tensor is quantized for the next layer
        _OBSERVING["on"] = True
        try:  # training mode: tfmot's weight quantizers take their ranges from the weights only then
            student(x, training=True)
        finally:
            _OBSERVING["on"] = False
        return len(learned)
    ranges = ema_range_variables(student)
    for _ in range(RANGE_PASSES):
        old = [float(v.numpy()) for v in ranges]
        student(x, training=True)
        for var, before in zip(ranges, old):
            var.assign(np.float32(batch_range(var, before)))
    return len(ranges)


def batch_range(var: Any, before: float) -> float:
    """The batch range that moved EMA variable ``var`` from ``before`` in one training pass (solving d*old + (1-d)*r)."""
    return (float(var.numpy()) - EMA_DECAY * before) / (1.0 - EMA_DECAY)


def ema_range_variables(student: Any) -> list[Any]:
    """tfmot's EMA activation-range variables (non-trainable), in the model's order."""
    return [v for v in student.non_trainable_variables if _EMA_RANGE.search(v.name)]


def per_crop_ranges(student: Any, crops: list[np.ndarray]) -> np.ndarray:
    """``[crops, variables]``: the range each EMA variable would take from each crop alone, the others unchanged.

    The EMA solve of ``init_activation_ranges`` on one crop at a time, every
    variable put back after each crop: each crop's extremes with the
    upstream tensors quantized on the ranges set before (as at inference).
    """
    import tensorflow as tf

    ranges = ema_range_variables(student)
    base = [float(v.numpy()) for v in ranges]
    out = np.empty((len(crops), len(ranges)))
    for i, crop in enumerate(crops):
        student(tf.constant(crop), training=True)
        for j, (var, before) in enumerate(zip(ranges, base)):
            out[i, j] = batch_range(var, before)
            var.assign(np.float32(before))
    return out


def full_range_layers(student: Any) -> set[str]:
    """Wrappers whose output holds pixels or feeds a residual Add: their ranges keep every crop's extreme.

    The rule of ``sropt.quantize.ranges.image_valued_tensors``: from the last
    Conv2D on, the tensors are the image (clipping them clips pixels), and
    the inputs of an Add carry the residual the block adds back.
    """
    layers = student.layers
    kinds = [type(getattr(l, "layer", l)).__name__ for l in layers]
    convs = [i for i, k in enumerate(kinds) if k == "Conv2D"]
    keep = {l.name for l in layers[convs[-1]:]} if convs else set()
    for layer, kind in zip(layers, kinds):
        if kind == "Add":
            for node in layer.inbound_nodes:
                inbound = node.inbound_layers
                keep |= {l.name for l in (inbound if isinstance(inbound, list) else [inbound])}
    return keep


def calibrate_frozen_ranges(student: Any, crops: list[np.ndarray]) -> list[tuple[Any, np.float32]]:
    """Set every EMA range from per-crop extremes, ignoring the most extreme crops at each end; ``(var, value)`` s.

    The post-training rule (``sropt.quantize.ranges``): ``trim_count(len(crops))``
    crops ignored at each end of each hidden tensor's range, every crop's
    extreme for ``full_range_layers``. ``train_qat`` puts these values back
    after each step. Measured on T91 (FSRCNN_x3, 1000 steps, docs/qat.md):
    the same ranges without the trimming trained to the EMA ranges' result.
    """
    from sropt.quantize.ranges import trim_count

    init_activation_ranges(student, np.concatenate(crops, axis=0))  # upstream ranges for the per-crop passes
    ranges = ema_range_variables(student)
    extremes = np.sort(per_crop_ranges(student, crops), axis=0)
    keep = full_range_layers(student)
    frozen = []
    for j, var in enumerate(ranges):
        k = 0 if var.name.split("/")[0] in keep else trim_count(len(crops))
        value = np.float32(extremes[k, j] if var.name.split(":")[0].endswith("_min") else extremes[-1 - k, j])
        var.assign(value)
        frozen.append((var, value))
    return frozen


def start_activation_ranges(student: Any, calib_inputs: list[np.ndarray], ranges: str) -> tuple[str, list]:
    """Calibrate ``student``'s activation ranges for QAT mode ``ranges``: what was done, and the ranges to hold."""
    from sropt.quantize.ranges import trim_count

    if ranges == "frozen":
        frozen = calibrate_frozen_ranges(student, calib_inputs)
        return (f"{len(frozen)} activation ranges from {len(calib_inputs)} calibration crops, "
                f"{trim_count(len(calib_inputs))} crop(s) ignored at each end of each hidden range, "
                "held fixed while training", frozen)
    count = init_activation_ranges(student, np.concatenate(calib_inputs, axis=0))
    return f"{count} activation ranges from the {len(calib_inputs)} calibration crops", []


def learned_range_variables(student: Any) -> list[Any]:
    """The trainable activation-range variables of a ``ranges="learned"`` QAT model (none for EMA ranges)."""
    return [v for v in student.trainable_variables if _EMA_RANGE.search(v.name)]


def fake_quant_l1(lifted: "LiftedKeras", calib: "CalibrationSet", ranges: str = "frozen") -> float:
    """Mean |fake-quant - float| of ``lifted`` on the calibration crops, ranges calibrated, before training."""
    use_legacy_keras()
    student = build_qat_model(lifted, ranges)
    batch = np.concatenate(calib.inputs, axis=0)
    start_activation_ranges(student, calib.inputs, ranges)
    return float(np.mean(np.abs(student(batch, training=False).numpy() - lifted.model(batch).numpy())))


def train_qat(
    student: Any, teacher: Any, contract: "Contract", lr_images: list[np.ndarray], settings: QatSettings,
    progress: Any = None, frozen: list[tuple[Any, Any]] = (),
) -> dict[str, Any]:
    """Fit ``student`` (fake-quant) to ``teacher`` (float) on random LR crops; return the training record.

    ``frozen``: ``(range variable, value)`` pairs put back after every step
    (tfmot's EMA moves them towards each batch's extremes in training mode).
    """
    import tensorflow as tf
    import tf_keras as keras

    from sropt.validate.calibration import sample_training_batch

    usable = [img for img in lr_images if min(img.shape[:2]) >= settings.crop]
    if not usable:
        raise InputError(f"QAT: no calibration image is at least {settings.crop}x{settings.crop} LR pixels; "
                         "use a smaller crop or larger training images.")
    rate = settings.learning_rate or LEARNING_RATE[contract.name]
    schedule = keras.optimizers.schedules.CosineDecay(rate, decay_steps=settings.steps)
    optimizer = keras.optimizers.Adam(schedule)
    variables = student.trainable_variables
    bounds = learned_range_variables(student)

    @tf.function(reduce_retracing=True)
    def train_step(x):
        target = teacher(x, training=False)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(student(x, training=True) - target))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        for bound in bounds:  # keep 0 inside every learned range (int8 zero points must exist)
            bound.assign(tf.minimum(bound, 0.0) if bound.name.endswith("_min:0") else tf.maximum(bound, 1e-6))
        for var, value in frozen:
            var.assign(value)
        return loss

    rng = np.random.default_rng(settings.seed)
    start, losses = time.perf_counter(), []
    for step in range(settings.steps):
        xb = sample_training_batch(usable, contract, rng, settings.batch, settings.crop)
        losses.append(float(train_step(tf.constant(xb))))
        if progress and (step + 1) % 50 == 0:
            progress(f"QAT step {step + 1}/{settings.steps}: L1 {losses[-1]:.5f}")
    tail = losses[-max(1, settings.steps // 10):]
    return {"steps": settings.steps, "batch": settings.batch, "crop": settings.crop,
            "learning_rate": rate, "schedule": "cosine", "loss": "L1 vs the float model",
            "ranges": settings.ranges,
            "seed": settings.seed, "first_loss": losses[0], "last_loss": float(np.mean(tail)),
            "seconds": round(time.perf_counter() - start, 2)}


def convert_qat(student: Any, calib: "CalibrationSet") -> bytes:
    """Full-INT8 TFLite (int8 builtins only, float I/O) from the fake-quant model.

    The representative dataset only fills ranges tfmot leaves unset (none for
    the supported layers); the trained fake-quant ranges are what the
    converter uses, which the parity check confirms.
    """
    import tensorflow as tf

    from sropt.quantize.tflite_modes import representative_dataset

    converter = tf.lite.TFLiteConverter.from_keras_model(student)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.representative_dataset = representative_dataset(calib)
    try:
        return converter.convert()
    except Exception as exc:  # ConverterError, ValueError from MLIR
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StageError(f"QAT: the TFLite converter could not convert the trained model to int8: {first}") from exc


def check_converted(data: bytes, student: Any, inputs: list[np.ndarray], scale_255: float) -> dict[str, Any]:
    """LiteRT int8 vs fake-quant Keras on ``inputs``, in 0..255 units; StageError beyond ``PARITY_TOLERANCE``."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data)
    diffs = []
    for x in inputs:
        inp = interp.get_input_details()[0]
        interp.resize_tensor_input(inp["index"], list(x.shape), strict=False)
        interp.allocate_tensors()
        interp.set_tensor(interp.get_input_details()[0]["index"], x.astype(np.float32))
        interp.invoke()
        got = interp.get_tensor(interp.get_output_details()[0]["index"])
        want = student(x, training=False).numpy()
        diffs.append(np.abs(got.astype(np.float64) - want) * scale_255)
    flat = np.concatenate([d.ravel() for d in diffs])
    psnr = 10 * np.log10(255.0 ** 2 / max(float(np.mean(flat ** 2)), 1e-12))
    parity = {"crops": len(inputs), "max_abs": round(float(flat.max()), 4), "mean_abs": round(float(flat.mean()), 4),
              "psnr_db": round(float(psnr), 2), "units": "0..255 output levels", "tolerance": dict(PARITY_TOLERANCE)}
    if parity["psnr_db"] < PARITY_TOLERANCE["psnr_db"] or parity["mean_abs"] > PARITY_TOLERANCE["mean_abs"]:
        raise StageError(
            f"QAT: the converted int8 model differs from the trained fake-quant model by max {parity['max_abs']} / "
            f"mean {parity['mean_abs']} levels (0..255) on {len(inputs)} calibration crops, beyond the tolerance "
            f"{PARITY_TOLERANCE}: the converter did not keep the trained ranges. Nothing was written."
        )
    return parity


def quantize_aware_train(
    prepared: "PreparedGraph", lifted: "LiftedKeras", calib: "CalibrationSet", lr_images: list[np.ndarray],
    settings: QatSettings, progress: Any = None,
) -> QatOutcome:
    """Fake-quantize ``lifted`` (``lift_to_keras(prepared)``), train it against itself in float, convert, check parity."""
    use_legacy_keras()
    import tensorflow as tf

    tf.keras.utils.set_random_seed(settings.seed)  # quantizer/optimizer state and any initializer
    student = build_qat_model(lifted, settings.ranges)
    contract = prepared.source.artifact.contract
    if progress:
        progress(f"QAT: {settings.steps} steps against the float model")
    started, frozen = start_activation_ranges(student, calib.inputs, settings.ranges)
    record = train_qat(student, lifted.model, contract, lr_images, settings, progress, frozen)
    record["ranges_initialized"] = started
    data = convert_qat(student, calib)
    # Y models output 0..1 (x255 to grey levels); EDSR outputs 0..255 already.
    scale_255 = 255.0 if contract.input_channels == 1 else 1.0
    record["parity"] = check_converted(data, student, calib.inputs[:PARITY_CROPS], scale_255)
    record["folds"] = lifted.folds
    return QatOutcome(data, record)
