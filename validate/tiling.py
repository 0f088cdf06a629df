"""Tiled inference with overlap and linear (feathered) blending.

The model sees one ``tile x tile`` LR window at a time, so the runtime's
activation memory is bounded by the tile, not by the image; only the
output accumulator (the size of the SR image, which the caller needs
anyway) and one weight plane grow with the image. Neighbouring tiles overlap
by ``overlap`` LR pixels; in the overlap each tile's weight ramps linearly
from ~0 at its edge to 1, so seams, where a tile's zero padding disturbs its
output, fade out instead of showing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sropt.core.errors import InputError

Predict = Callable[[np.ndarray], np.ndarray]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering [0, length) with windows of ``tile`` overlapping by >= ``overlap``."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def ramp(n: int, lead: int, trail: int) -> np.ndarray:
    """Weights for n output pixels: linear rise over ``lead`` px, fall over ``trail`` px, 1 elsewhere."""
    w = np.ones(n, np.float32)
    if lead:
        w[:lead] = (np.arange(lead, dtype=np.float32) + 1) / (lead + 1)
    if trail:
        w[n - trail :] = np.minimum(w[n - trail :], ((np.arange(trail, dtype=np.float32) + 1) / (trail + 1))[::-1])
    return w


def check_tiling(tile: int, overlap: int) -> None:
    """InputError for a tile/overlap pair that cannot blend (overlap must be < tile/2)."""
    if tile < 8:
        raise InputError(f"--tile {tile}: too small; use at least 8 LR pixels (64-512 is typical).")
    if overlap < 0 or 2 * overlap >= tile:
        raise InputError(f"--overlap {overlap}: must be >= 0 and less than half of --tile {tile}.")


def predict_tiled(predict: Predict, x: np.ndarray, scale: int, tile: int, overlap: int) -> np.ndarray:
    """Run ``predict`` over overlapping tiles of NHWC ``x`` and blend into one NHWC output."""
    check_tiling(tile, overlap)
    _, h, w, _ = x.shape
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    acc: np.ndarray | None = None
    weight = np.zeros((h * scale, w * scale), np.float32)
    for iy, y0 in enumerate(ys):
        for ix, x0 in enumerate(xs):
            th, tw = min(tile, h), min(tile, w)
            out = predict(x[:, y0 : y0 + th, x0 : x0 + tw])
            if acc is None:
                acc = np.zeros((1, h * scale, w * scale, out.shape[-1]), np.float32)
            # Ramp only on sides shared with a neighbour; image borders keep weight 1.
            wy = ramp(th * scale, _shared(ys, iy, th, -1) * scale, _shared(ys, iy, th, +1) * scale)
            wx = ramp(tw * scale, _shared(xs, ix, tw, -1) * scale, _shared(xs, ix, tw, +1) * scale)
            wt = wy[:, None] * wx[None, :]
            sy, sx = slice(y0 * scale, (y0 + th) * scale), slice(x0 * scale, (x0 + tw) * scale)
            acc[0, sy, sx] += out[0] * wt[:, :, None]
            weight[sy, sx] += wt
    assert acc is not None
    return acc / weight[None, :, :, None]


def _shared(starts: list[int], i: int, size: int, side: int) -> int:
    """LR pixels tile ``i`` shares with its neighbour on ``side`` (-1 before, +1 after)."""
    j = i + side
    if j < 0 or j >= len(starts):
        return 0
    a, b = (starts[j], starts[i]) if side < 0 else (starts[i], starts[j])
    return max(0, a + size - b)
