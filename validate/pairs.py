"""One evaluator of a model over LR/HR image pairs, by the protocol of FACTS.md §4.

Prune (calibration crops, evaluation sets), quantize (budget images) and
validate (every full-set row and the bicubic baseline) all score a model the
same way: preprocess the LR image with the model's contract, run it, bring the
output to NHWC (``sropt.core.layout.to_nhwc``: the one layout decision, read
from the shape), postprocess to uint8 BGR, then Y-PSNR (BT.601, crop_border =
scale) and, when asked, Y-SSIM and RGB PSNR against the HR image
(``score_image``).

``iter_scores`` is the loop itself; it takes the model outputs as an iterable,
so a caller that runs the model its own way (batched sessions, timed runs)
hands over a generator and still scores through here. ``score_pairs`` runs a
predict function on each LR image; ``score_outputs`` collects the scores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from sropt.core.contracts import Contract
from sropt.core.layout import to_nhwc
from sropt.validate.metrics import calculate_psnr, calculate_psnr_rgb, psnr_ssim_y

Predict = Callable[[np.ndarray], np.ndarray]  # NHWC float in -> model output (NHWC or NCHW) out


@dataclass(frozen=True)
class ImageScore:
    """The protocol's numbers for one SR image against its HR image."""

    psnr: float  # Y-PSNR (dB)
    ssim: float | None = None  # Y-SSIM; None unless asked for
    psnr_rgb: float | None = None  # PSNR over B, G and R (dB); None unless asked for


@dataclass(frozen=True)
class PairScores:
    """Per-image scores, in the order of the pairs."""

    psnr: np.ndarray  # Y-PSNR (dB), float64
    ssim: np.ndarray | None  # Y-SSIM, float64; None unless asked for

    @property
    def mean_psnr(self) -> float:
        return float(np.mean(self.psnr))


def score_image(sr: np.ndarray, hr: np.ndarray, scale: int, *, ssim: bool = False, rgb: bool = False) -> ImageScore:
    """Y-PSNR of uint8 BGR ``sr`` against ``hr`` (crop_border = ``scale``), plus Y-SSIM / RGB PSNR when asked."""
    if ssim:  # one BT.601 conversion for both; equal to calculate_psnr + calculate_ssim
        psnr, ssim_y = psnr_ssim_y(sr, hr, scale)
    else:
        psnr, ssim_y = calculate_psnr(sr, hr, scale), None
    return ImageScore(psnr, ssim_y, calculate_psnr_rgb(sr, hr, scale) if rgb else None)


def iter_scores(
    outputs: Iterable[np.ndarray], lr: Sequence[np.ndarray], hr: Sequence[np.ndarray],
    contract: Contract, scale: int, *, ssim: bool = False, rgb: bool = False,
) -> Iterator[tuple[np.ndarray, ImageScore]]:
    """(SR image, its scores) for each model output (``[1,sH,sW,C]`` or ``[1,C,sH,sW]``, one per LR image), in order.

    ``outputs`` may be a generator: it is advanced once per pair, so one output
    is in memory at a time (full-size EDSR outputs are ~50 MB each), and a
    generator that times each run sees its image scored before the next runs.
    """
    for out, low, high in zip(outputs, lr, hr, strict=True):
        nhwc = to_nhwc(out, (1, low.shape[0], low.shape[1], contract.input_channels), scale)
        sr = contract.postprocess(nhwc, low)
        yield sr, score_image(sr, high, scale, ssim=ssim, rgb=rgb)


def score_outputs(
    outputs: Iterable[np.ndarray], lr: Sequence[np.ndarray], hr: Sequence[np.ndarray],
    contract: Contract, scale: int, *, ssim: bool = False,
) -> PairScores:
    """Score model outputs (one per LR image, NHWC or NCHW, may be a generator) against ``hr``."""
    scores = [score for _, score in iter_scores(outputs, lr, hr, contract, scale, ssim=ssim)]
    psnr = np.asarray([s.psnr for s in scores], np.float64)
    return PairScores(psnr, np.asarray([s.ssim for s in scores], np.float64) if ssim else None)


def score_pairs(
    predict: Predict, lr: Sequence[np.ndarray], hr: Sequence[np.ndarray],
    contract: Contract, scale: int, *, ssim: bool = False,
) -> PairScores:
    """Run ``predict`` on each LR image (one at a time, any size) and score it against its HR image."""
    outputs = (predict(contract.preprocess(low)) for low in lr)
    return score_outputs(outputs, lr, hr, contract, scale, ssim=ssim)
