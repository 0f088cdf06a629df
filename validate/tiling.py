"""Seamless tiled inference: each tile keeps only pixels whose receptive field it holds.

The model sees one window of at most ``tile x tile`` LR pixels at a time, so
the runtime's activation memory is bounded by the tile, not by the image.
A window's own edges are zero-padded by every conv, which the whole image
would not do there; an output pixel is affected only if it lies within the
model's receptive-field margin of such an edge (``sropt.convert.receptive_field``).
So every window carries ``overlap >= margin`` LR pixels of context on each
side that touches a neighbour, and only its interior is written. At the true
image borders the window is padded exactly as the whole image is, so those
pixels are kept. No blending is needed: convs are translation-equivariant, and
the tiled output equals the whole-image output up to float rounding
(issue 20, item 7; the old feathered blend gave weight to edge pixels that
had seen the padding and differed by up to 4 levels).

Outputs are written tile by tile into one preallocated array, so peak memory
is the output plus one tile's working set (issue 20, item 8).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sropt.core.errors import InputError

if TYPE_CHECKING:
    from sropt.core.artifacts import Artifact

Predict = Callable[[np.ndarray], np.ndarray]
MIN_TILE = 8


@dataclass(frozen=True)
class Span:
    """One tile along one axis: the LR window the model sees and the part of it that is kept."""

    start: int  # window [start, stop) in image LR pixels
    stop: int
    keep_start: int  # kept [keep_start, keep_stop) in image LR pixels, inside the window
    keep_stop: int


def tile_spans(length: int, tile: int, overlap: int) -> list[Span]:
    """Windows of ``min(tile, length)`` px whose kept parts partition [0, length).

    A window keeps all but ``overlap`` px on each side that has a neighbour;
    the last window is moved back to end at the image edge, so every window
    has the same size (runtimes need not re-plan for a new shape).
    """
    if length <= tile:
        return [Span(0, length, 0, length)]
    spans, kept = [], 0
    while True:
        if length - kept + (overlap if kept else 0) <= tile:
            spans.append(Span(length - tile, length, kept, length))
            return spans
        start = kept - overlap if kept else 0
        spans.append(Span(start, start + tile, kept, start + tile - overlap))
        kept = start + tile - overlap


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Window start offsets along an axis (see ``tile_spans``)."""
    return [s.start for s in tile_spans(length, tile, overlap)]


def check_tiling(tile: int, overlap: int | None, margin: int | None = None) -> int:
    """The overlap to use for ``tile`` (``margin`` when ``overlap`` is None); InputError if it cannot be seamless.

    ``margin`` is the model's receptive-field margin in LR pixels; an explicit
    overlap below it would keep pixels that saw a tile edge's zero padding.
    """
    if tile < MIN_TILE:
        raise InputError(f"--tile {tile}: too small; use at least {MIN_TILE} LR pixels (64-512 is typical).")
    if overlap is not None and overlap < 0:
        raise InputError(f"--overlap {overlap}: must be >= 0 (omit it to use the model's receptive field).")
    if overlap is not None and margin is not None and overlap < margin:
        raise InputError(
            f"--overlap {overlap}: below the model's receptive field of {margin} LR pixels, so tiles would show seams; "
            f"use --overlap {margin} or more, or omit --overlap (it defaults to the receptive field)."
        )
    used = overlap if overlap is not None else margin
    if used is not None and 2 * used >= tile:
        raise InputError(
            f"--tile {tile}: must be larger than twice the overlap ({used} LR pixels); use --tile {max(2 * used + 1, 4 * used, MIN_TILE)} or more."
        )
    return used if used is not None else 0


def tiling_margin(artifact: "Artifact") -> int:
    """Receptive-field margin (LR px) of ``artifact``'s graph, cached per file version."""
    stat = Path(artifact.path).stat()
    return _margin(str(artifact.path), artifact.kind.value, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=32)
def _margin(path: str, kind: str, mtime_ns: int, size: int) -> int:
    from sropt.convert.receptive_field import receptive_margin
    from sropt.core.artifacts import ArtifactKind

    return receptive_margin(Path(path), ArtifactKind(kind))


def iter_tiles(h: int, w: int, tile: int, overlap: int) -> Iterator[tuple[Span, Span]]:
    """Every (row span, column span) tile of an ``h x w`` LR image."""
    cols = tile_spans(w, tile, overlap)
    for ys in tile_spans(h, tile, overlap):
        for xs in cols:
            yield ys, xs


def kept_slices(ys: Span, xs: Span, scale: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """(output slices in the image, the same pixels in the tile's output), at ``scale``."""
    out = (slice(ys.keep_start * scale, ys.keep_stop * scale), slice(xs.keep_start * scale, xs.keep_stop * scale))
    local = (
        slice((ys.keep_start - ys.start) * scale, (ys.keep_stop - ys.start) * scale),
        slice((xs.keep_start - xs.start) * scale, (xs.keep_stop - xs.start) * scale),
    )
    return out, local


def predict_tiled(predict: Predict, x: np.ndarray, scale: int, tile: int, overlap: int) -> np.ndarray:
    """Run ``predict`` over tiles of NHWC ``x`` and assemble the NHWC output (``overlap`` >= the model's margin)."""
    check_tiling(tile, overlap)
    _, h, w, _ = x.shape
    out: np.ndarray | None = None
    for ys, xs in iter_tiles(h, w, tile, overlap):
        y = predict(x[:, ys.start : ys.stop, xs.start : xs.stop])
        if out is None:
            out = np.empty((1, h * scale, w * scale, y.shape[-1]), np.float32)
        (oy, ox), (ly, lx) = kept_slices(ys, xs, scale)
        out[0, oy, ox] = y[0, ly, lx]
    assert out is not None
    return out
