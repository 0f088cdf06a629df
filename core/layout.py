"""The one decision whether a model output is NHWC or NCHW: read from its shape.

Every place that turns a model output into an image goes through ``to_nhwc``:
the validation runners (TF, OpenCV, ONNX Runtime, LiteRT), the pair
evaluator (``sropt.validate.pairs``), prune's batched calibration runs and
``FrozenGraph.predict``.

Why the shape and not the graph's last op or the artifact's metadata
(FACTS.md §1-2): the zoo graphs end in ``Transpose(0,3,1,2)`` named
``NCHW_output``, but the same model also exists without it (the TFLite
export cuts before it, ``sropt export --layout nhwc`` drops it, tf2onnx's
NCHW export keeps it), and an ONNX or TFLite output carries no op a caller
could inspect. The shape always tells: an SR output is the input upscaled by
the known scale with the input's channel count, so NHWC ``[N,sH,sW,C]`` and
NCHW ``[N,C,sH,sW]`` differ unless ``C == sH == sW`` (a 1x1 px, 3-channel
input at x3, which no set holds; NHWC wins that tie). An op check ("the
main output is a Transpose") only sees TF graphs, and takes any Transpose
for the zoo's one.
"""

from __future__ import annotations

import numpy as np

from sropt.core.errors import StageError


def to_nhwc(out: np.ndarray, in_shape: tuple[int, ...], scale: int | None, *, source: str = "model") -> np.ndarray:
    """``out`` as float32 NHWC ``[N,sH,sW,C]`` for an NHWC input of ``in_shape`` ``[N,H,W,C]``; StageError otherwise.

    ``scale`` None reads it from the output's height. Test inputs use H != W
    so a swapped layout can't pass unnoticed.
    """
    out = np.asarray(out, dtype=np.float32)
    n, h, w, c = in_shape
    scales = [scale] if scale else [out.shape[1] // h if out.ndim == 4 and h else 0, out.shape[2] // h if out.ndim == 4 and h else 0]
    for s in scales:
        if not s:
            continue
        if out.shape == (n, s * h, s * w, c):
            return out
        if out.shape == (n, c, s * h, s * w):
            return np.ascontiguousarray(out.transpose(0, 2, 3, 1))
    raise StageError(
        f"{source}: output shape {tuple(out.shape)} does not match input {tuple(in_shape)} "
        f"upscaled x{scale or '?'} in NHWC or NCHW; is the artifact's scale right?"
    )
