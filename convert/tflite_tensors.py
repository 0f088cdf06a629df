"""Float <-> integer values of a LiteRT tensor, from its (scale, zero_point).

Full-INT8 models may have int8/uint8 input and output tensors
(``--io int8|uint8``). Everything that feeds or reads a LiteRT interpreter
(the export's load check, the validation runner) converts through here.
"""

from __future__ import annotations

import numpy as np


def quantize_tensor(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float -> the tensor's dtype using its (scale, zero_point); floats pass through."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return x.astype(dtype)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.rint(x / scale + zero), info.min, info.max).astype(dtype)


def dequantize_tensor(q: np.ndarray, detail: dict) -> np.ndarray:
    """The tensor's values as float32, using its (scale, zero_point) when integer."""
    if np.dtype(detail["dtype"]).kind == "f":
        return q.astype(np.float32)
    scale, zero = detail["quantization"]
    return ((q.astype(np.float32) - zero) * scale).astype(np.float32)
