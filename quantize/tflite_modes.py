"""The TFLite converter recipe of each mode, registered in ``CONFIGURERS``, and ``convert_mode``.

Kept apart from ``tflite_quantize`` (the stage entry point) so that the
weights search and the quality budget, which convert many candidates, import
the recipes without importing the stage that calls them (no import cycle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from sropt.convert.tflite_export import PreparedGraph, make_converter, run_converter
from sropt.quantize.config import IOType, Mode

if TYPE_CHECKING:
    from sropt.quantize.calibration import CalibrationSet

Configurer = Callable[[Any, "CalibrationSet | None", IOType], None]
CONFIGURERS: dict[Mode, Configurer] = {}


def register_mode(mode: Mode) -> Callable[[Configurer], Configurer]:
    """Decorator: ``fn(converter, calibration, io)`` sets up ``converter`` for ``mode``."""

    def wrap(fn: Configurer) -> Configurer:
        CONFIGURERS[mode] = fn
        return fn

    return wrap


def representative_dataset(calib: "CalibrationSet") -> Callable[[], Iterator[list]]:
    """The converter's representative_dataset: one crop per step, as the model input."""

    def gen() -> Iterator[list]:
        for x in calib.inputs:
            yield [x]

    return gen


@register_mode(Mode.FLOAT32)
def _float32(converter: Any, calib: "CalibrationSet | None", io: IOType) -> None:
    """No optimization: the plain float32 conversion."""


@register_mode(Mode.FP16)
def _fp16(converter: Any, calib: "CalibrationSet | None", io: IOType) -> None:
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


@register_mode(Mode.DYNAMIC)
def _dynamic(converter: Any, calib: "CalibrationSet | None", io: IOType) -> None:
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]


@register_mode(Mode.INT8)
def _int8(converter: Any, calib: "CalibrationSet | None", io: IOType) -> None:
    import tensorflow as tf

    assert calib is not None
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(calib)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io is not IOType.FLOAT:
        dtype = tf.int8 if io is IOType.INT8 else tf.uint8
        converter.inference_input_type = dtype
        converter.inference_output_type = dtype


@register_mode(Mode.INT16X8)
def _int16x8(converter: Any, calib: "CalibrationSet | None", io: IOType) -> None:
    import tensorflow as tf

    assert calib is not None
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset(calib)
    # TFLITE_BUILTINS: float fallback for DEPTH_TO_SPACE, which has no int16 kernel.
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
        tf.lite.OpsSet.TFLITE_BUILTINS,
    ]


def mosaic_calibration(calib: "CalibrationSet", shape: tuple[int, int]) -> "CalibrationSet":
    """``calib`` with its inputs tiled into ``shape``-sized mosaics, every crop once (the last mosaic wraps around).

    The converter's calibrator resizes the model input to each sample, but a
    TRANSPOSE_CONV's output shape is a constant (``tflite_depth_to_space``), so
    crops smaller than the fixed shape leave most of its output unwritten and
    the calibrated range is garbage (measured: scale inf on ESPCN_x3 at
    128x128 with 32 px crops). Samples of exactly the fixed shape avoid that.
    """
    import dataclasses

    import numpy as np

    h, w = shape
    crop = calib.inputs[0].shape[1]
    rows, cols = -(-h // crop), -(-w // crop)
    per, n = rows * cols, len(calib.inputs)
    mosaics = []
    for start in range(0, n, per):
        tiles = [calib.inputs[(start + i) % n][0] for i in range(per)]
        grid = np.concatenate([np.concatenate(tiles[r * cols:(r + 1) * cols], axis=1) for r in range(rows)], axis=0)
        mosaics.append(grid[None, :h, :w].astype(np.float32))
    return dataclasses.replace(calib, inputs=mosaics)


def _has_constant_shapes(prepared: PreparedGraph) -> bool:
    """True when ``prepared`` holds ops whose output shape is fixed at conversion (the TRANSPOSE_CONV rewrite)."""
    from sropt.convert.tflite_depth_to_space import REWRITE_NAME

    return any(step.get("rewrite") == REWRITE_NAME for step in prepared.steps)


def convert_mode(
    prepared: PreparedGraph, mode: Mode, calib: "CalibrationSet | None", io: IOType,
    fixed_shape: tuple[int, int] | None = None,
) -> bytes:
    """Convert ``prepared`` with the recipe of ``mode``; StageError listing unsupported ops on failure."""
    converter = make_converter(prepared, fixed_shape)
    if calib is not None and fixed_shape is not None and _has_constant_shapes(prepared):
        calib = mosaic_calibration(calib, fixed_shape)
    CONFIGURERS[mode](converter, calib, io)
    return run_converter(converter, prepared.source.artifact.path)
