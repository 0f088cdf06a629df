"""PSNR and SSIM exactly as the SR literature computes them (FACTS.md §4).

The protocol is BasicSR's ``calculate_psnr`` / ``calculate_ssim`` with
``test_y_channel=True`` and ``crop_border=scale``: both images are uint8 BGR,
compared on BT.601 Y (float64, unrounded) after cropping ``crop_border``
pixels at every edge. Identical images have an infinite PSNR; it is returned
as ``math.inf`` here and encoded JSON-safely by the report (see
``sropt.validate.report``).

Metrics are registered in ``METRICS`` so a report can list them by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sropt.validate.colour import bgr_to_y

MetricFn = Callable[[np.ndarray, np.ndarray, int], float]
METRICS: dict[str, MetricFn] = {}

SSIM_C1 = (0.01 * 255) ** 2
SSIM_C2 = (0.03 * 255) ** 2


def register_metric(name: str) -> Callable[[MetricFn], MetricFn]:
    """Decorator: register ``fn(sr_bgr, hr_bgr, crop_border) -> float`` under ``name``."""

    def wrap(fn: MetricFn) -> MetricFn:
        METRICS[name] = fn
        return fn

    return wrap


def _prepare(sr: np.ndarray, hr: np.ndarray, crop_border: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    if sr.shape != hr.shape:
        raise ValueError(f"image shapes differ: {sr.shape} vs {hr.shape}")
    if sr.dtype != np.uint8 or hr.dtype != np.uint8:
        # The protocol compares uint8-rounded outputs; a float here is a caller bug.
        raise ValueError(f"metrics take uint8 images, got {sr.dtype} and {hr.dtype}")
    if y_channel:
        a, b = bgr_to_y(sr), bgr_to_y(hr)
    else:
        a, b = sr.astype(np.float64), hr.astype(np.float64)
    if crop_border:
        if min(a.shape[:2]) <= 2 * crop_border:
            raise ValueError(f"image {a.shape[:2]} too small for crop_border={crop_border}")
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    return a, b


def psnr_from_mse(mse: float) -> float:
    """10 log10(255^2 / MSE); ``math.inf`` for MSE == 0 (identical images)."""
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(255.0**2 / mse)


@register_metric("psnr_y")
def calculate_psnr(sr: np.ndarray, hr: np.ndarray, crop_border: int, *, test_y_channel: bool = True) -> float:
    """PSNR in dB of uint8 BGR ``sr`` against ``hr`` (Y channel unless told otherwise)."""
    a, b = _prepare(sr, hr, crop_border, test_y_channel)
    return psnr_from_mse(float(np.mean((a - b) ** 2)))


@register_metric("psnr_rgb")
def calculate_psnr_rgb(sr: np.ndarray, hr: np.ndarray, crop_border: int) -> float:
    """PSNR in dB over all three colour channels (optional, not the literature's number)."""
    return calculate_psnr(sr, hr, crop_border, test_y_channel=False)


def _ssim_plane(a: np.ndarray, b: np.ndarray) -> float:
    import cv2

    kernel = cv2.getGaussianKernel(11, 1.5)
    # The 11x11 Gaussian window is the outer product of this kernel: filtering rows then columns gives the
    # same sums (to float64 rounding) at 22 instead of 121 multiply-adds a pixel; SSIM was ~12% of a
    # Set14 validation. Cropping 5 px keeps the 'valid' region of the window.
    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.sepFilter2D(x, -1, kernel, kernel)[5:-5, 5:-5]

    mu1, mu2 = blur(a), blur(b)
    mu1_sq, mu2_sq, mu1_mu2 = mu1**2, mu2**2, mu1 * mu2
    sigma1_sq = blur(a * a) - mu1_sq
    sigma2_sq = blur(b * b) - mu2_sq
    sigma12 = blur(a * b) - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + SSIM_C1) * (2 * sigma12 + SSIM_C2)) / (
        (mu1_sq + mu2_sq + SSIM_C1) * (sigma1_sq + sigma2_sq + SSIM_C2)
    )
    return float(ssim_map.mean())


@register_metric("ssim_y")
def calculate_ssim(sr: np.ndarray, hr: np.ndarray, crop_border: int, *, test_y_channel: bool = True) -> float:
    """SSIM of uint8 BGR ``sr`` against ``hr``: 11x11 Gaussian (sigma 1.5), valid region, mean."""
    a, b = _prepare(sr, hr, crop_border, test_y_channel)
    if a.ndim == 2:
        return _ssim_plane(a, b)
    return float(np.mean([_ssim_plane(a[..., c], b[..., c]) for c in range(a.shape[2])]))


def psnr_ssim_y(sr: np.ndarray, hr: np.ndarray, crop_border: int) -> tuple[float, float]:
    """(Y-PSNR, Y-SSIM), equal to ``calculate_psnr`` and ``calculate_ssim``: one BT.601 conversion for both.

    Validation scores every image of every row with both; converting once
    halves the colour conversions, which cost as much as the SSIM filtering.
    """
    a, b = _prepare(sr, hr, crop_border, True)
    return psnr_from_mse(float(np.mean((a - b) ** 2))), _ssim_plane(a, b)
