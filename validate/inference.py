"""One image through one runner: contract pre-processing, (tiled) model, contract post-processing."""

from __future__ import annotations

import numpy as np

from sropt.validate.runners.base import Runner
from sropt.validate.tiling import predict_tiled

DEFAULT_OVERLAP = 16


def upscale_image(runner: Runner, lr_bgr: np.ndarray, *, tile: int | None = None, overlap: int = DEFAULT_OVERLAP) -> np.ndarray:
    """Super-resolve uint8 BGR ``lr_bgr`` with a loaded runner; returns uint8 BGR.

    With ``tile`` set and the image larger than it, the model runs on
    overlapping tiles (see ``sropt.validate.tiling``).
    """
    artifact = runner.artifact
    assert artifact is not None, "load() the runner first"
    contract = artifact.contract
    x = contract.preprocess(lr_bgr)
    if tile and max(x.shape[1:3]) > tile:
        y = predict_tiled(runner.predict, x, artifact.scale, tile, overlap)
    else:
        y = runner.predict(x)
    return contract.postprocess(y, lr_bgr)
