"""MATLAB imresize port: hand-checked values, and the literature's Set5 bicubic numbers."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sropt.validate.degradation import DEGRADATIONS, bicubic_upscale, get_degradation, matlab_bicubic, mod_crop
from sropt.validate.matlab_resize import cubic, imresize, resize_weights, to_uint8_matlab
from sropt.validate.metrics import calculate_psnr, calculate_ssim
from sropt.core.errors import InputError


def test_cubic_kernel_values() -> None:
    # Keys a=-0.5 evaluated by hand.
    assert cubic(np.array([0.0, 0.25, 0.75, 1.25, 1.75, 2.0, 2.5])) == pytest.approx(
        [1.0, 0.8671875, 0.2265625, -0.0703125, -0.0234375, 0.0, 0.0]
    )


def test_upscale_first_pixel_hand_computed() -> None:
    # x2 up, first output: u = 0.75, taps at -1,0,1,2 (1-based) with weights
    # -0.0234375, 0.2265625, 0.8671875, -0.0703125; symmetric padding maps -1->x2, 0->x1.
    # So out[0] = 1.09375*x1 - 0.09375*x2 = 1.09375*10 - 0.09375*50 = 6.25.
    row = np.array([[10.0, 50.0, 90.0, 130.0]])
    out = imresize(row, 2.0)
    assert out.shape == (2, 8)
    assert out[0, 0] == pytest.approx(6.25, abs=1e-12)
    assert out[1, 0] == pytest.approx(6.25, abs=1e-12)  # the single row is replicated


def test_downscale_preserves_a_linear_ramp_in_the_interior() -> None:
    # Antialiased x1/2: output i samples u = 2i - 0.5; a symmetric normalised kernel reproduces linear data.
    ramp = np.arange(1, 33, dtype=np.float64)[None, :].repeat(4, axis=0)
    out = imresize(ramp, 0.5)
    assert out.shape == (2, 16)
    interior = out[0, 4:-4]
    assert interior == pytest.approx(2 * np.arange(5, 13) - 0.5, abs=1e-9)


def test_downscale_kernel_is_widened_by_the_scale() -> None:
    # x1/3: output i samples u = 3i - 1 exactly, so taps sit at integer distances d and
    # weigh cubic(d/3)/3 (kernel stretched x3, antialiasing). d = +-3 and +-6 weigh 0 and
    # are dropped like MATLAB drops all-zero taps; d = +-4, +-5 remain: support is 11 px, not 4.
    w, idx = resize_weights(30, 10, 1 / 3)
    third = lambda d: float(cubic(np.array([d / 3]))[0]) / 3  # noqa: E731
    expected = [third(d) for d in (5, 4, 2, 1, 0, 1, 2, 4, 5)]
    assert w[5] == pytest.approx(expected, abs=1e-12)
    assert idx[5].tolist() == [11, 12, 14, 15, 16, 17, 18, 20, 21]  # output 6 (1-based): u = 17, 0-based 16
    assert w.sum(axis=1) == pytest.approx(np.ones(10))
    assert idx.min() >= 0 and idx.max() <= 29


def test_uint8_rounding_is_half_away_from_zero() -> None:
    assert to_uint8_matlab(np.array([0.5, 1.5, 2.5, -3.0, 300.0])).tolist() == [1, 2, 3, 0, 255]


def test_mod_crop_and_registry() -> None:
    img = np.zeros((101, 77, 3), np.uint8)
    assert mod_crop(img, 3).shape == (99, 75, 3)
    assert {"matlab-bicubic", "opencv-cubic", "opencv-area"} <= set(DEGRADATIONS)
    with pytest.raises(InputError, match="--degradation 'bogus' is unknown"):
        get_degradation("bogus")


@pytest.mark.shared
@pytest.mark.parametrize(
    "scale,psnr,ssim", [(2, 33.66, 0.9299), (3, 30.39, 0.8682), (4, 28.42, 0.8104)]
)
def test_set5_bicubic_reproduces_the_literature(datasets: Path, scale: int, psnr: float, ssim: float) -> None:
    ps, ss = [], []
    for p in sorted((datasets / "Set5").glob("*.png")):
        hr = mod_crop(cv2.imread(str(p)), scale)
        up = bicubic_upscale(matlab_bicubic(hr, scale), scale)
        ps.append(calculate_psnr(up, hr, scale))
        ss.append(calculate_ssim(up, hr, scale))
    assert len(ps) == 5
    assert np.mean(ps) == pytest.approx(psnr, abs=0.05)
    assert np.mean(ss) == pytest.approx(ssim, abs=0.002)


def _imresize_by_loops(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB's imresize written out pixel by pixel: the weights of resize_weights, summed one tap at a time."""
    from sropt.validate.matlab_resize import resize_weights

    h, w, c = img.shape
    oh, ow = int(np.ceil(h * scale)), int(np.ceil(w * scale))
    wh, ih = resize_weights(h, oh, scale)
    ww, iw = resize_weights(w, ow, scale)
    rows = np.zeros((oh, w, c))
    for o in range(oh):
        for t in range(wh.shape[1]):
            rows[o] += wh[o, t] * img[ih[o, t]]
    out = np.zeros((oh, ow, c))
    for o in range(ow):
        for t in range(ww.shape[1]):
            out[:, o] += ww[o, t] * rows[:, iw[o, t]]
    return out


@pytest.mark.parametrize("scale", [1 / 4, 1 / 3, 1 / 2, 2, 3, 4])
def test_imresize_equals_the_pixel_by_pixel_sums(scale: float) -> None:
    img = np.random.default_rng(7).integers(0, 256, (13, 17, 3)).astype(np.uint8)
    got = imresize(img, scale)
    want = _imresize_by_loops(img.astype(np.float64), scale)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert np.array_equal(imresize(img[..., 0], scale), got[..., 0])  # a 2-D image is its single channel
