"""Colour conversions used by the quality metrics (FACTS.md §4)."""

from __future__ import annotations

import numpy as np


def bgr_to_y(img_bgr: np.ndarray) -> np.ndarray:
    """BT.601 luma of a 0..255 BGR image as float64: 16 + (65.481 R + 128.553 G + 24.966 B)/255.

    This is MATLAB's ``rgb2ycbcr`` Y (and BasicSR's ``test_y_channel``), the
    channel every published SR table reports; it is computed unrounded.
    """
    x = np.asarray(img_bgr, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"expected a BGR image [H,W,3], got shape {x.shape}")
    b, g, r = x[..., 0], x[..., 1], x[..., 2]
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
