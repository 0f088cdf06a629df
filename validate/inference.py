"""One image through one runner: contract pre-processing, (tiled) model, contract post-processing."""

from __future__ import annotations

import numpy as np

from sropt.validate.runners.base import Runner
from sropt.validate.tiling import check_tiling, iter_tiles, kept_slices, tiling_margin

# None: the overlap is the model's receptive-field margin, read from its graph.
DEFAULT_OVERLAP: int | None = None
# The Y-channel contract resizes chroma bilinearly, which reads 1 LR pixel
# beyond each output pixel, so a tile needs at least that much context.
CHROMA_MARGIN = 1


def upscale_image(runner: Runner, lr_bgr: np.ndarray, *, tile: int | None = None, overlap: int | None = DEFAULT_OVERLAP) -> np.ndarray:
    """Super-resolve uint8 BGR ``lr_bgr`` with a loaded runner; returns uint8 BGR.

    With ``tile`` set and the image larger than it, the image goes through
    the contract and the model tile by tile (see ``sropt.validate.tiling``),
    and each tile's uint8 result is written straight into the output, so no
    full-size float plane is ever held. InputError if ``overlap`` is below
    the model's receptive field.
    """
    artifact = runner.artifact
    assert artifact is not None, "load() the runner first"
    contract = artifact.contract
    if tile and max(lr_bgr.shape[:2]) > tile:
        used = check_tiling(tile, overlap, tiling_margin(artifact))
        return _upscale_tiled(runner, lr_bgr, tile, max(used, CHROMA_MARGIN))
    return contract.postprocess(runner.predict(contract.preprocess(lr_bgr)), lr_bgr)


def _upscale_tiled(runner: Runner, lr_bgr: np.ndarray, tile: int, overlap: int) -> np.ndarray:
    """Contract + model per tile; kept pixels go into one preallocated uint8 image."""
    assert runner.artifact is not None
    contract, scale = runner.artifact.contract, runner.artifact.scale
    h, w = lr_bgr.shape[:2]
    out = np.empty((h * scale, w * scale, 3), np.uint8)
    for ys, xs in iter_tiles(h, w, tile, overlap):
        crop = np.ascontiguousarray(lr_bgr[ys.start : ys.stop, xs.start : xs.stop])
        sr = contract.postprocess(runner.predict(contract.preprocess(crop)), crop)
        (oy, ox), (ly, lx) = kept_slices(ys, xs, scale)
        out[oy, ox] = sr[ly, lx]
    return out
