"""Typed quantization configs: enums validated on construction.

The CLI turns flags into a ``QuantizeConfig`` and calls the library; the
pipeline runner builds the same object from pipelines.yaml. Every invalid
combination is rejected here, once, with an InputError naming the field
and listing the supported values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from sropt.core.cpu_targets import DEFAULT_CPU_TARGET, CpuTarget, parse_cpu_target
from sropt.core.errors import InputError

DEFAULT_CALIB_DATASET = "T91"  # never the evaluation sets (Set5/Set14)
EVALUATION_SETS = ("Set5", "Set14")


class Target(str, enum.Enum):
    """The file format a quantized model is written in."""

    TFLITE = "tflite"
    ONNX = "onnx"


class Mode(str, enum.Enum):
    """Numeric form of the quantized model."""

    FLOAT32 = "float32"
    FP16 = "fp16"
    DYNAMIC = "dynamic"  # int8 weights, float activations (dynamic range)
    INT8 = "int8"  # int8 weights and activations, calibrated
    INT16X8 = "int16x8"  # int8 weights, int16 activations, calibrated


class IOType(str, enum.Enum):
    """dtype of the model's input and output tensors."""

    FLOAT = "float"
    INT8 = "int8"
    UINT8 = "uint8"


SUPPORTED_MODES: dict[Target, tuple[Mode, ...]] = {
    Target.TFLITE: (Mode.FLOAT32, Mode.FP16, Mode.DYNAMIC, Mode.INT8, Mode.INT16X8),
    Target.ONNX: (Mode.INT8, Mode.FP16),
}
CALIBRATED_MODES = (Mode.INT8, Mode.INT16X8)


def _enum(kind: type[enum.Enum], value: object, option: str) -> enum.Enum:
    if isinstance(value, kind):
        return value
    try:
        return kind(str(value).lower())
    except ValueError:
        raise InputError(
            f"{option} {value!r}: unknown; choose one of {', '.join(m.value for m in kind)}."
        ) from None


@dataclass(frozen=True)
class CalibrationConfig:
    """Where calibration crops come from and how many.

    ``folder`` None means ``datasets_dir()/T91``. Each image is degraded to
    LR as at inference, then one random crop of ``crop`` x ``crop`` LR pixels
    is taken per image (seeded), so ``calib_count`` can be at most the number
    of images whose LR is at least that large. 32 leaves 86 of T91's 91
    images usable at x4 (48 left 40). ``calib_count`` is named as in
    pipelines.yaml, ``--calib-count`` and ``PruneConfig``: one name for the
    number of calibration crops everywhere.
    """

    folder: Path | None = None
    calib_count: int = 64
    crop: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if self.folder is not None:
            object.__setattr__(self, "folder", Path(self.folder))
        if int(self.calib_count) < 1:
            raise InputError(f"--calib-count {self.calib_count}: give at least 1 calibration crop (32-64 is typical).")
        if int(self.crop) < 8:
            raise InputError(f"calibration crop size {self.crop}: use at least 8 pixels (32 is the default).")

    def resolved_folder(self) -> Path:
        """The calibration folder, defaulting to T91 in the shared datasets."""
        from sropt.core.locations import datasets_dir

        return self.folder if self.folder is not None else datasets_dir() / DEFAULT_CALIB_DATASET


@dataclass(frozen=True)
class QuantizeConfig:
    """Everything ``quantize_tflite`` / ``quantize_onnx`` need besides the model and output path."""

    target: Target
    mode: Mode
    io: IOType = IOType.FLOAT
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    max_psnr_drop: float | None = None  # dB, measured on calibration images (TFLite int8 only)
    fixed_shape: tuple[int, int] | None = None  # TFLite only; default dynamic H/W
    # TFLite only: DepthToSpace as the converter writes it (native) or as a fixed 0/1
    # TRANSPOSE_CONV (sropt.convert.tflite_depth_to_space; needs fixed_shape).
    depth_to_space: str = "native"
    # Images of the calibration folder (first N by name) the TFLite budget measures on: all of T91 by
    # default (the mean over 16 images swung by ~0.1 dB with the choice of images); the ORT INT8 check
    # uses at most ORT_CHECK_IMAGES of them.
    budget_images: int = 91
    rewrite_prelu: bool = True  # FSRCNN PReLU -> relu(x) - a*relu(-x) before integer quantization
    # Cross-layer equalization before TFLite INT8 (sropt.quantize.equalize): "auto" measures
    # off and each of EQUALIZE_ALPHAS on calibration images and keeps the best, "off", or a
    # migration strength in [0, 1] applied without measuring.
    equalize: str = "auto"
    # How conv weights reach the int8 grid in int8/int16x8 (sropt.quantize.rounding): "auto"
    # measures GPTQ against the converter's nearest rounding (sropt.quantize.weights), or
    # "nearest" / "gptq".
    weight_rounding: str = "auto"
    # The CPU an ORT INT8 model will run on (sropt.core.cpu_targets): it picks the activation type
    # and reduce_range, so the build machine never does. None: portable for onnx int8, unused otherwise.
    cpu_target: CpuTarget | str | None = None
    # Quantization-aware training steps before the TFLite INT8 conversion (sropt.quantize.qat); 0: none.
    qat_steps: int = 0

    def __post_init__(self) -> None:
        target = _enum(Target, self.target, "--to")
        mode = _enum(Mode, self.mode, "--mode")
        io = _enum(IOType, self.io, "--io")
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "io", io)
        supported = SUPPORTED_MODES[target]
        if mode not in supported:
            raise InputError(
                f"--mode {mode.value} is not supported for --to {target.value}; "
                f"choose one of {', '.join(m.value for m in supported)}."
            )
        if io is not IOType.FLOAT and not (target is Target.TFLITE and mode is Mode.INT8):
            raise InputError(
                f"--io {io.value}: integer input/output needs --to tflite --mode int8 "
                f"(got --to {target.value} --mode {mode.value}); use --io float."
            )
        if self.max_psnr_drop is not None:
            if not (target is Target.TFLITE and mode is Mode.INT8):
                raise InputError(
                    "--max-psnr-drop applies to --to tflite --mode int8 only "
                    f"(got --to {target.value} --mode {mode.value})."
                )
            if float(self.max_psnr_drop) < 0:
                raise InputError(f"--max-psnr-drop {self.max_psnr_drop}: give a drop in dB >= 0, e.g. 0.1.")
        if self.fixed_shape is not None and self.max_psnr_drop is not None:
            raise InputError(
                "--fixed-shape with --max-psnr-drop is not supported: the budget measures on whole images. "
                "Drop --fixed-shape (the model then accepts any H/W)."
            )
        if self.fixed_shape is not None and target is not Target.TFLITE:
            raise InputError("--fixed-shape applies to --to tflite only; ONNX exports keep H and W dynamic.")
        _check_depth_to_space(self, target)
        object.__setattr__(self, "equalize", parse_equalize(self.equalize))
        if self.equalize != "auto" and not (target is Target.TFLITE and mode is Mode.INT8):
            raise InputError(
                f"--equalize {self.equalize} applies to --to tflite --mode int8 only "
                f"(got --to {target.value} --mode {mode.value})."
            )
        object.__setattr__(self, "weight_rounding", parse_weight_rounding(self.weight_rounding))
        if self.weight_rounding != "auto" and not (target is Target.TFLITE and mode in CALIBRATED_MODES):
            raise InputError(
                f"--weight-rounding {self.weight_rounding} applies to --to tflite --mode int8 or int16x8 only "
                f"(got --to {target.value} --mode {mode.value})."
            )
        object.__setattr__(self, "cpu_target", _cpu_target(self.cpu_target, target, mode))
        _check_qat(self)
        if int(self.budget_images) < 1:
            raise InputError(f"budget_images {self.budget_images}: use at least 1 image to measure the PSNR drop.")

    @property
    def equalize_alpha(self) -> float | None:
        """The fixed migration strength, or None for "auto" and "off"."""
        return None if self.equalize in ("auto", "off") else float(self.equalize)

    @property
    def calibrated(self) -> bool:
        """True when the mode needs calibration data."""
        return self.mode in CALIBRATED_MODES


def _cpu_target(value: CpuTarget | str | None, target: Target, mode: Mode) -> CpuTarget | None:
    """``--target``: the deployment CPU of an ORT INT8 model; portable unless named."""
    ort_int8 = target is Target.ONNX and mode is Mode.INT8
    if value is None:
        return DEFAULT_CPU_TARGET if ort_int8 else None
    cpu = parse_cpu_target(value)
    if not ort_int8:
        # TFLite's int8 kernels (XNNPACK, ruy) widen int8 products to int32 on every CPU and the
        # converter has no CPU-dependent setting, so there is nothing a target could change.
        raise InputError(
            f"--target {cpu.value} applies to --to onnx --mode int8 only (got --to {target.value} "
            f"--mode {mode.value}): that model's numbers do not depend on the CPU; drop --target."
        )
    return cpu


def parse_equalize(value: object) -> str:
    """``--equalize``: "auto", "off" or a number in [0, 1] (kept as its string)."""
    text = str(value).strip().lower()
    if text in ("auto", "off"):
        return text
    try:
        alpha = float(text)
    except ValueError:
        alpha = -1.0
    if not 0.0 <= alpha <= 1.0:
        raise InputError(
            f"--equalize {value}: give auto (measure and keep the best), off, "
            "or a migration strength between 0 and 1 such as 0.75."
        )
    return repr(alpha)


WEIGHT_ROUNDINGS = ("auto", "nearest", "gptq")


def parse_weight_rounding(value: object) -> str:
    """``--weight-rounding``: auto, nearest or gptq."""
    text = str(value).strip().lower()
    if text not in WEIGHT_ROUNDINGS:
        raise InputError(
            f"--weight-rounding {value}: choose auto (measure GPTQ against nearest on calibration images, "
            "keep the better), nearest (the converter's rounding) or gptq."
        )
    return text


def _check_depth_to_space(config: "QuantizeConfig", target: Target) -> None:
    """``--depth-to-space``: native or transpose_conv (TFLite only, with a fixed shape)."""
    from sropt.convert.tflite_depth_to_space import DepthToSpaceForm, check_depth_to_space, parse_depth_to_space

    form = parse_depth_to_space(config.depth_to_space)
    object.__setattr__(config, "depth_to_space", form.value)
    if form is not DepthToSpaceForm.NATIVE and target is not Target.TFLITE:
        raise InputError(f"--depth-to-space {form.value} applies to --to tflite only (the GPU delegate is LiteRT's).")
    check_depth_to_space(form, config.fixed_shape)


def _check_qat(config: "QuantizeConfig") -> None:
    """``--qat-steps``: TFLite full INT8 with float I/O only, and not with the post-training searches it replaces."""
    steps = int(config.qat_steps)
    if steps < 0:
        raise InputError(f"--qat-steps {config.qat_steps}: give a number of training steps >= 0 (0: no QAT).")
    if steps == 0:
        return
    if not (config.target is Target.TFLITE and config.mode is Mode.INT8):
        raise InputError(f"--qat-steps applies to --to tflite --mode int8 only (got --to {config.target.value} "
                         f"--mode {config.mode.value}).")
    clashes = [flag for flag, used in (
        ("--max-psnr-drop", config.max_psnr_drop is not None), ("--io int8/uint8", config.io is not IOType.FLOAT),
        ("--fixed-shape", config.fixed_shape is not None), ("--equalize", config.equalize != "auto"),
        ("--weight-rounding", config.weight_rounding != "auto")) if used]
    if clashes:
        raise InputError(f"--qat-steps cannot be combined with {', '.join(clashes)}: QAT trains the weights and "
                         "ranges itself (no equalization, rounding or float-layer search) and writes float I/O.")
