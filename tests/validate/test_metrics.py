"""Golden tests of the metrics: hand-computed values and an independent SSIM reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sropt.validate.colour import bgr_to_y
from sropt.validate.metrics import METRICS, calculate_psnr, calculate_psnr_rgb, calculate_ssim, psnr_from_mse


def _grey(values: np.ndarray) -> np.ndarray:
    """A BGR image whose three channels all hold ``values`` (so Y = 16 + 219/255 * v)."""
    return np.repeat(np.asarray(values, np.uint8)[:, :, None], 3, axis=2)


def test_y_matches_bt601_formula() -> None:
    # B=10, G=20, R=30: 16 + (65.481*30 + 128.553*20 + 24.966*10)/255 by hand.
    img = np.array([[[10, 20, 30]]], np.uint8)
    expected = 16 + (65.481 * 30 + 128.553 * 20 + 24.966 * 10) / 255
    assert bgr_to_y(img)[0, 0] == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(34.76529411764706, abs=1e-12)


def test_psnr_hand_computed_small_array() -> None:
    # Y differs only in one pixel of a 2x2 grey image: grey v -> Y = 16 + v*219/255.
    hr = _grey(np.array([[100, 100], [100, 100]]))
    sr = _grey(np.array([[100, 100], [100, 110]]))
    dy = 10 * 219 / 255  # Y difference of that pixel
    mse = dy**2 / 4
    assert calculate_psnr(sr, hr, 0) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-9)
    assert calculate_psnr(sr, hr, 0) == pytest.approx(35.47332, abs=1e-4)


def test_identical_images_give_inf_explicitly() -> None:
    img = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    assert calculate_psnr(img, img, 2) == math.inf
    assert calculate_psnr_rgb(img, img, 2) == math.inf
    assert psnr_from_mse(0.0) == math.inf
    assert calculate_ssim(img, img, 2) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("d", [1, 3, 8])
def test_constant_offset_gives_closed_form_psnr(d: int) -> None:
    # A constant RGB offset d shifts Y by d*(65.481+128.553+24.966)/255 = d*219/255 everywhere.
    hr = np.random.default_rng(1).integers(20, 200, (30, 40, 3), dtype=np.uint8)
    sr = (hr.astype(np.int32) + d).astype(np.uint8)
    dy = d * 219 / 255
    assert calculate_psnr(sr, hr, 3) == pytest.approx(10 * math.log10(255**2 / dy**2), abs=1e-9)
    assert calculate_psnr_rgb(sr, hr, 3) == pytest.approx(10 * math.log10(255**2 / d**2), abs=1e-9)


def test_crop_border_excludes_the_border() -> None:
    hr = np.full((16, 16, 3), 100, np.uint8)
    sr = hr.copy()
    sr[:3, :] = 0  # damage only within the 3-pixel border
    assert calculate_psnr(sr, hr, 3) == math.inf
    # crop 2: one damaged row (row 2) out of 12 kept rows, each pixel off by 100*219/255 in Y.
    dy = 100 * 219 / 255
    assert calculate_psnr(sr, hr, 2) == pytest.approx(10 * math.log10(255**2 / (dy**2 / 12)), abs=1e-9)


def _ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Direct-loop SSIM: explicit 11x11 Gaussian window (sigma 1.5) at every valid position."""
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    g /= g.sum()
    w = np.outer(g, g)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            pa, pb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va = (w * pa * pa).sum() - ma**2
            vb = (w * pb * pb).sum() - mb**2
            cov = (w * pa * pb).sum() - ma * mb
            vals.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_matches_independent_direct_loop() -> None:
    rng = np.random.default_rng(2)
    hr = rng.integers(0, 256, (27, 33, 3), dtype=np.uint8)
    noise = rng.integers(-25, 26, hr.shape)
    sr = np.clip(hr.astype(np.int32) + noise, 0, 255).astype(np.uint8)
    ref = _ssim_reference(bgr_to_y(sr)[2:-2, 2:-2], bgr_to_y(hr)[2:-2, 2:-2])
    assert calculate_ssim(sr, hr, 2) == pytest.approx(ref, abs=1e-10)
    assert 0.2 < ref < 0.99  # a real, non-trivial pair


def test_metrics_reject_float_and_mismatched_inputs() -> None:
    a = np.zeros((20, 20, 3), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        calculate_psnr(a.astype(np.float32), a, 2)
    with pytest.raises(ValueError, match="shapes differ"):
        calculate_psnr(a, a[:10], 2)


def test_registry_lists_the_metrics() -> None:
    assert {"psnr_y", "ssim_y", "psnr_rgb"} <= set(METRICS)


def test_psnr_ssim_y_equals_the_two_metrics() -> None:
    from sropt.validate.metrics import calculate_psnr, calculate_ssim, psnr_ssim_y

    rng = np.random.default_rng(3)
    hr = rng.integers(0, 256, (40, 33, 3), dtype=np.uint8)
    sr = np.clip(hr.astype(int) + rng.integers(-9, 10, hr.shape), 0, 255).astype(np.uint8)
    assert psnr_ssim_y(sr, hr, 3) == (calculate_psnr(sr, hr, 3), calculate_ssim(sr, hr, 3))
