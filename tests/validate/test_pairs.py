"""The one evaluator over LR/HR pairs (sropt.validate.pairs), against a hand-computed golden."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sropt.core.contracts import BGR_MEAN_CONTRACT, DIV2K_MEAN_BGR
from sropt.validate.pairs import score_outputs, score_pairs

SCALE = 3
# Adding 2 levels to B everywhere moves Y = 16 + (65.481 R + 128.553 G + 24.966 B)/255
# by 2 * 24.966/255 at every pixel, so PSNR = 20 log10(255 / (2 * 24.966/255)).
GOLDEN_PSNR = 20 * math.log10(255 / (2 * 24.966 / 255))


def _pairs():
    rng = np.random.default_rng(0)
    # Two sizes, non-square: the evaluator takes images of any size, one at a time
    # (each at least 11 px after the border crop, so SSIM has a valid window).
    hr = [rng.integers(0, 254, (h * SCALE, w * SCALE, 3), dtype=np.uint8) for h, w in ((8, 10), (9, 6))]
    lr = [np.zeros((x.shape[0] // SCALE, x.shape[1] // SCALE, 3), np.uint8) for x in hr]
    return lr, hr


def _outputs(hr, nchw: bool):
    """The model output that postprocesses to HR with B + 2 (EDSR contract: BGR minus the DIV2K mean)."""
    for x in hr:
        y = (x.astype(np.float32) + np.float32([2, 0, 0]) - np.float32(DIV2K_MEAN_BGR))[None]
        yield y.transpose(0, 3, 1, 2) if nchw else y


@pytest.mark.parametrize("nchw", [False, True], ids=["NHWC", "NCHW"])
def test_score_outputs_matches_the_hand_golden_in_either_layout(nchw):
    lr, hr = _pairs()
    scores = score_outputs(_outputs(hr, nchw), lr, hr, BGR_MEAN_CONTRACT, SCALE, ssim=True)
    assert scores.psnr == pytest.approx([GOLDEN_PSNR, GOLDEN_PSNR], abs=1e-9)
    assert scores.mean_psnr == pytest.approx(GOLDEN_PSNR, abs=1e-9)
    assert scores.ssim is not None and np.all(scores.ssim > 0.99)


def test_score_pairs_feeds_each_preprocessed_lr_image_once():
    lr, hr = _pairs()
    outputs = _outputs(hr, nchw=True)
    seen = []

    def predict(x):
        seen.append(x.shape)
        return next(outputs)

    scores = score_pairs(predict, lr, hr, BGR_MEAN_CONTRACT, SCALE)
    assert seen == [(1, 8, 10, 3), (1, 9, 6, 3)]
    assert scores.psnr == pytest.approx([GOLDEN_PSNR, GOLDEN_PSNR], abs=1e-9)
    assert scores.ssim is None
