"""MIN_FIRST quint8 weight storage, as graph_transforms ``quantize_weights`` writes it.

The released EDSR .pb files were exported with TF1's graph_transforms
``quantize_weights`` (FACTS.md §1). For a float Const with at least 1024
elements it computes, in ``tensorflow/tools/graph_transforms/quantize_weights.cc``
and ``core/kernels/quantization_utils.h``:

* ``min = min(min(w), 0)``, ``max = max(max(w), 0)`` (the range must hold 0);
  a degenerate range is widened exactly as the C++ does;
* ``FloatToQuantized<quint8>``: ``scale = 256 / ((max - min) * 256/255)`` in
  double, ``q = round(w * scale) - round(min * scale)`` with C ``round``
  (half away from zero), clamped to 0..255.

The graph then holds ``q`` (quint8), ``min`` and ``max`` (float scalars)
feeding a ``Dequantize`` (mode MIN_FIRST), and TF's own kernel decodes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# quantize_weights' default ``minimum_size``: smaller Consts stay float32.
MIN_QUANTIZED_ELEMENTS = 1024


@dataclass(frozen=True)
class QuantizedWeights:
    """A tensor in MIN_FIRST quint8 form: codes plus the float range."""

    codes: np.ndarray  # uint8, same shape as the float tensor
    min: np.float32
    max: np.float32


def _round_half_away(x: np.ndarray) -> np.ndarray:
    """C ``round()``: halves go away from zero (np.round would go to even)."""
    return np.copysign(np.floor(np.abs(x) + 0.5), x)


def quantize_range(weights: np.ndarray) -> tuple[np.float32, np.float32]:
    """The (min, max) quantize_weights picks for ``weights``: includes 0, never empty."""
    w = np.asarray(weights, dtype=np.float32)
    lo = np.float32(min(float(w.min()), 0.0))
    hi = np.float32(max(float(w.max()), 0.0))
    if lo == hi:  # same widening as quantize_weights.cc
        if abs(lo) < 0.000001:
            hi = np.float32(lo + np.float32(1.0))
        elif lo > 0:
            hi = np.float32(2.0 * lo)
        else:
            hi = np.float32(lo / 2.0)
    return lo, hi


def quantize_min_first(weights: np.ndarray) -> QuantizedWeights:
    """Quantize a float32 tensor exactly as graph_transforms ``quantize_weights`` does."""
    w = np.asarray(weights, dtype=np.float32)
    lo, hi = quantize_range(w)
    return QuantizedWeights(codes=quantize_with_range(w, lo, hi), min=lo, max=hi)


def quantize_with_range(weights: np.ndarray, lo: np.float32, hi: np.float32) -> np.ndarray:
    """``FloatToQuantized<quint8>`` of every element for a given float range."""
    steps = 256
    # (hi - lo) is a float subtraction in the C++ (both operands are float),
    # only then promoted to double.
    span = float(np.float32(np.float32(hi) - np.float32(lo)))
    scale = steps / (span * (steps / (steps - 1.0)))
    w = np.asarray(weights, dtype=np.float32).astype(np.float64)
    q = _round_half_away(w * scale) - _round_half_away(np.float64(np.float32(lo)) * scale)
    return np.clip(q, 0, 255).astype(np.uint8)


def should_quantize(weights: np.ndarray) -> bool:
    """True for float Consts quantize_weights would rewrite (>= 1024 elements)."""
    return np.asarray(weights).size >= MIN_QUANTIZED_ELEMENTS
