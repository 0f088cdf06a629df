"""Tiled inference: coverage, blending weights, and tiled == untiled on a real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sropt.core.errors import InputError
from sropt.validate.inference import upscale_image
from sropt.validate.metrics import calculate_psnr
from sropt.validate.resolve import open_artifact
from sropt.validate.runners import get_runner
from sropt.validate.tiling import predict_tiled, ramp, tile_starts


def test_tile_starts_cover_the_image_with_the_overlap() -> None:
    assert tile_starts(50, 64, 16) == [0]
    assert tile_starts(100, 40, 8) == [0, 32, 60]
    starts = tile_starts(257, 64, 16)
    assert starts[0] == 0 and starts[-1] + 64 == 257
    assert all(b - a <= 64 - 16 for a, b in zip(starts, starts[1:]))


def test_ramp_weights() -> None:
    assert ramp(6, 2, 0).tolist() == pytest.approx([1 / 3, 2 / 3, 1, 1, 1, 1])
    assert ramp(6, 0, 3).tolist() == pytest.approx([1, 1, 1, 0.75, 0.5, 0.25])


def test_blending_reproduces_a_pointwise_model_exactly() -> None:
    # A model without spatial context (nearest-neighbour x2 of 2x+1) has no seams: tiled == untiled.
    def model(x: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(2 * x + 1, 2, axis=1), 2, axis=2)

    x = np.random.default_rng(0).random((1, 37, 53, 3), dtype=np.float32)
    assert np.allclose(predict_tiled(model, x, 2, 16, 4), model(x), atol=1e-5)


def test_bad_tile_settings() -> None:
    with pytest.raises(InputError, match="--overlap 8: must be >= 0 and less than half of --tile 16"):
        predict_tiled(lambda x: x, np.zeros((1, 40, 40, 1), np.float32), 1, 16, 8)


@pytest.mark.shared
@pytest.mark.parametrize("runtime,kind", [("opencv", "pb"), ("tflite", "tflite")])
def test_fsrcnn_tiled_matches_untiled_above_50db(exported: dict, datasets: Path, runtime: str, kind: str) -> None:
    import cv2

    lr = cv2.imread(str(datasets / "Set5" / "butterfly.png"))[::3, ::3]  # 86x86 LR -> 4 tiles of 48
    lr = np.ascontiguousarray(lr[:, :80])  # H != W
    runner = get_runner(runtime)().load(open_artifact(exported["FSRCNN_x3"][kind]).artifact, 2)
    whole = upscale_image(runner, lr)
    tiled = upscale_image(runner, lr, tile=48, overlap=16)
    assert tiled.shape == whole.shape == (258, 240, 3)
    assert calculate_psnr(tiled, whole, 0) >= 50.0
