"""One evaluator of a model over LR/HR image pairs, by the protocol of FACTS.md §4.

Prune (calibration and evaluation sets), quantize (budget images) and
validate all score a model the same way: preprocess the LR image with the
model's contract, run it, bring the output to NHWC (``to_nhwc``: the one
layout decision, read from the shape), postprocess to uint8 BGR, then Y-PSNR
(BT.601, crop_border = scale) and optionally SSIM against the HR image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from sropt.core.contracts import Contract
from sropt.validate.metrics import calculate_psnr, calculate_ssim
from sropt.validate.runners.base import to_nhwc

Predict = Callable[[np.ndarray], np.ndarray]  # NHWC float in -> model output (NHWC or NCHW) out


@dataclass(frozen=True)
class PairScores:
    """Per-image scores, in the order of the pairs."""

    psnr: np.ndarray  # Y-PSNR (dB), float64
    ssim: np.ndarray | None  # Y-SSIM, float64; None unless asked for

    @property
    def mean_psnr(self) -> float:
        return float(np.mean(self.psnr))


def score_outputs(
    outputs: Iterable[np.ndarray], lr: Sequence[np.ndarray], hr: Sequence[np.ndarray],
    contract: Contract, scale: int, *, ssim: bool = False,
) -> PairScores:
    """Score model outputs (one (1,H,W,C)/(1,C,H,W) array per LR image) against ``hr``.

    ``outputs`` may be a generator: only scores are kept, so one output is in
    memory at a time (full-size EDSR outputs are ~50 MB each).
    """
    psnrs, ssims = [], []
    for out, low, high in zip(outputs, lr, hr, strict=True):
        sr = contract.postprocess(_nhwc(out, low, scale), low)
        psnrs.append(calculate_psnr(sr, high, scale))
        if ssim:
            ssims.append(calculate_ssim(sr, high, scale))
    return PairScores(np.asarray(psnrs, np.float64), np.asarray(ssims, np.float64) if ssim else None)


def _nhwc(out: np.ndarray, low: np.ndarray, scale: int) -> np.ndarray:
    out = np.asarray(out)
    if out.ndim == 3:
        out = out[None]
    c = out.shape[-1] if out.shape[1:3] == (low.shape[0] * scale, low.shape[1] * scale) else out.shape[1]
    return to_nhwc(out, (1, low.shape[0], low.shape[1], c), scale)


def score_pairs(
    predict: Predict, lr: Sequence[np.ndarray], hr: Sequence[np.ndarray],
    contract: Contract, scale: int, *, ssim: bool = False,
) -> PairScores:
    """Run ``predict`` on each LR image (one at a time, any size) and score it against its HR image."""
    outputs = (predict(contract.preprocess(low)) for low in lr)
    return score_outputs(outputs, lr, hr, contract, scale, ssim=ssim)
