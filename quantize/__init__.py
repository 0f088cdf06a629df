"""Quantization: TFLite fp16/dynamic/INT8/16x8 (with a PSNR budget) and ONNX Runtime INT8/fp16.

Public entry points::

    from sropt.quantize import QuantizeConfig, CalibrationConfig, quantize_tflite, quantize_onnx
"""

from sropt.quantize.config import CalibrationConfig, IOType, Mode, QuantizeConfig, Target
from sropt.quantize.onnx_quantize import quantize_onnx
from sropt.quantize.result import QuantizeResult
from sropt.quantize.tflite_quantize import quantize_tflite

__all__ = [
    "CalibrationConfig",
    "IOType",
    "Mode",
    "QuantizeConfig",
    "QuantizeResult",
    "Target",
    "quantize_onnx",
    "quantize_tflite",
]
