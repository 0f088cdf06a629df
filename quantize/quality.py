"""PSNR of a candidate model on calibration-folder images (FACTS.md §4 protocol).

Used by the quality budget (``--max-psnr-drop``) and to verify ONNX Runtime
INT8. The protocol is validation's: HR mod-cropped, LR = MATLAB bicubic
(``matlab-bicubic`` degradation), SR rounded to uint8, PSNR on BT.601 Y with
``scale`` pixels cropped at every border (``sropt.validate.metrics``). Images
are the calibration folder's (T91 by default), never the evaluation sets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sropt.core.contracts import Contract

DEGRADATION = "matlab-bicubic"
HR_CROP = 192  # px; centre crop (most T91 images are smaller) bounds the time on big folders


@dataclass(frozen=True)
class BudgetImage:
    """One HR/LR pair for measuring a PSNR drop."""

    name: str
    hr: np.ndarray
    lr: np.ndarray


def budget_images(images: list[Path], scale: int, count: int) -> list[BudgetImage]:
    """The first ``count`` images (by name) as centre-cropped HR plus their MATLAB-bicubic LR."""
    from sropt.validate.degradation import get_degradation, mod_crop
    from sropt.validate.imageio import read_image

    degrade = get_degradation(DEGRADATION)
    side = HR_CROP - HR_CROP % scale
    pairs = []
    for path in images[:count]:
        bgr = read_image(path).bgr
        h, w = bgr.shape[:2]
        top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
        hr = mod_crop(np.ascontiguousarray(bgr[top : top + side, left : left + side]), scale)
        pairs.append(BudgetImage(path.name, hr, degrade(hr, scale)))
    return pairs


def mean_psnr(
    predict: Callable[[np.ndarray], np.ndarray], pairs: list[BudgetImage], contract: Contract, scale: int
) -> float:
    """Mean Y-PSNR (dB) of ``predict`` (NHWC float in -> NHWC float out) over ``pairs``."""
    from sropt.validate.metrics import calculate_psnr

    values = []
    for pair in pairs:
        out = predict(contract.preprocess(pair.lr))
        sr = contract.postprocess(out, pair.lr)
        values.append(calculate_psnr(sr, pair.hr, crop_border=scale, test_y_channel=True))
    return float(np.mean(values))


def protocol() -> dict:
    """How the drop was measured, for provenance and reports."""
    return {
        "metric": "psnr-y",
        "colour": "BT.601 Y (16-235)",
        "crop_border": "scale",
        "degradation": DEGRADATION,
        "hr_crop": HR_CROP,
        "images": "calibration folder, first N by name",
    }
