"""Calibration crops: LR (MATLAB bicubic) windows of real images through the contract; bad folders refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sropt.core.contracts import BGR_MEAN_CONTRACT, Y_CHANNEL_CONTRACT
from sropt.core.errors import InputError
from sropt.quantize.calibration import load_calibration_inputs
from sropt.quantize.config import CalibrationConfig


def _write_images(folder: Path, sizes: list[tuple[int, int]]) -> None:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        cv2.imwrite(str(folder / f"im{i}.png"), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_crops_go_through_the_contract(tmp_path: Path) -> None:
    import cv2

    from sropt.validate.matlab_resize import imresize

    _write_images(tmp_path / "train", [(60, 90), (72, 72), (120, 54)])
    calib = load_calibration_inputs(CalibrationConfig(tmp_path / "train", calib_count=2, crop=16, seed=3), Y_CHANNEL_CONTRACT, 3)
    assert len(calib.inputs) == 2 and all(x.shape == (1, 16, 16, 1) for x in calib.inputs)
    # Each crop equals Y/255 of some 16x16 window of the x3 MATLAB-bicubic LR of its
    # source image (what the model sees at inference), not of the HR image.
    for x, name in zip(calib.inputs, calib.sources):
        hr = cv2.imread(str(tmp_path / "train" / name))
        lr = np.clip(np.floor(imresize(hr.astype(np.float64), 1 / 3) + 0.5), 0, 255).astype(np.uint8)  # MATLAB uint8()
        y = cv2.cvtColor(lr, cv2.COLOR_BGR2YCrCb)[..., 0].astype(np.float32) / 255.0
        hits = [
            (t, l) for t in range(y.shape[0] - 15) for l in range(y.shape[1] - 15)
            if np.array_equal(y[t : t + 16, l : l + 16], x[0, :, :, 0])
        ]
        assert hits
    rgb = load_calibration_inputs(CalibrationConfig(tmp_path / "train", calib_count=3, crop=16), BGR_MEAN_CONTRACT, 3)
    assert rgb.inputs[0].shape == (1, 16, 16, 3) and rgb.inputs[0].min() < 0  # mean subtracted
    assert calib.describe()["crops"] == 2 and calib.describe()["dataset"] == "train"


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"--calib .*empty: the folder holds no images"):
        load_calibration_inputs(CalibrationConfig(tmp_path / "empty"), Y_CHANNEL_CONTRACT, 3)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such folder"):
        load_calibration_inputs(CalibrationConfig(tmp_path / "nope"), Y_CHANNEL_CONTRACT, 3)


def test_fewer_usable_crops_than_asked_names_the_counts(tmp_path: Path) -> None:
    _write_images(tmp_path / "few", [(60, 60), (10, 10), (47, 100)])  # LR x3: 20x20, 3x3, 15x33
    with pytest.raises(InputError) as info:
        load_calibration_inputs(CalibrationConfig(tmp_path / "few", calib_count=2, crop=16), Y_CHANNEL_CONTRACT, 3)
    assert "3 image(s), 1 usable (LR at x3 at least 16x16 px), but --calib-count asks for 2 crops" in str(info.value)


def test_evaluation_set_is_refused(tmp_path: Path) -> None:
    _write_images(tmp_path / "Set5", [(60, 60)])
    with pytest.raises(InputError, match="Set5 is an evaluation set"):
        load_calibration_inputs(CalibrationConfig(tmp_path / "Set5", calib_count=1), Y_CHANNEL_CONTRACT, 3)
