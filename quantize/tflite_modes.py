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


def convert_mode(
    prepared: PreparedGraph, mode: Mode, calib: "CalibrationSet | None", io: IOType,
    fixed_shape: tuple[int, int] | None = None,
) -> bytes:
    """Convert ``prepared`` with the recipe of ``mode``; StageError listing unsupported ops on failure."""
    converter = make_converter(prepared, fixed_shape)
    CONFIGURERS[mode](converter, calib, io)
    return run_converter(converter, prepared.source.artifact.path)
