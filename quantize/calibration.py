"""Calibration data: real image crops through the family's preprocessing.

Both the TFLite representative dataset and ONNX Runtime's
CalibrationDataReader are fed from ``load_calibration_inputs``, so the two
paths see the same tensors. Pre-processing is only ``Contract.preprocess``
(the one place it is defined). The default folder is T91; the evaluation
sets (Set5, Set14) are refused so calibration never sees test images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sropt.core.contracts import Contract
from sropt.core.errors import InputError
from sropt.quantize.config import EVALUATION_SETS, CalibrationConfig


@dataclass(frozen=True)
class CalibrationSet:
    """Preprocessed NHWC float32 crops plus where they came from (for provenance)."""

    folder: Path
    inputs: list[np.ndarray]
    sources: list[str]  # image file names, one per crop
    crop: int
    seed: int

    def describe(self) -> dict:
        """The provenance record of this calibration set."""
        return {
            "folder": str(self.folder),
            "dataset": self.folder.name,
            "crops": len(self.inputs),
            "crop_size": self.crop,
            "seed": self.seed,
            "per_image": 1,
        }


def calibration_images(folder: Path) -> list[Path]:
    """Image files in ``folder``; InputError if it is missing, an evaluation set, or empty."""
    from sropt.validate.dataset import list_images

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"--calib {folder}: no such folder. Give a folder of training images (default: T91).")
    if folder.name in EVALUATION_SETS:
        raise InputError(
            f"--calib {folder}: {folder.name} is an evaluation set; calibrating on it would leak test images "
            "into the model. Use a training folder such as T91."
        )
    images = list_images(folder)
    if not images:
        raise InputError(
            f"--calib {folder}: the folder holds no images (PNG/JPEG/BMP/TIFF); "
            "put training images in it or use the default T91."
        )
    return images


def load_calibration_inputs(config: CalibrationConfig, contract: Contract) -> CalibrationSet:
    """``config.count`` random crops (one per image) preprocessed by ``contract``."""
    from sropt.validate.imageio import read_image

    folder = config.resolved_folder()
    images = calibration_images(folder)
    rng = np.random.default_rng(config.seed)
    usable: list[tuple[str, np.ndarray]] = []
    for path in images:
        bgr = read_image(path).bgr
        if min(bgr.shape[:2]) >= config.crop:
            usable.append((path.name, bgr))
    if len(usable) < config.count:
        raise InputError(
            f"--calib {folder}: {len(images)} image(s), {len(usable)} usable (at least {config.crop}x{config.crop} px), "
            f"but --calib-count asks for {config.count} crops (one per image). "
            "Lower --calib-count or add images."
        )
    chosen = rng.choice(len(usable), size=config.count, replace=False)
    inputs, sources = [], []
    for i in sorted(chosen):
        name, bgr = usable[i]
        h, w = bgr.shape[:2]
        top = int(rng.integers(0, h - config.crop + 1))
        left = int(rng.integers(0, w - config.crop + 1))
        crop = np.ascontiguousarray(bgr[top : top + config.crop, left : left + config.crop])
        inputs.append(contract.preprocess(crop))
        sources.append(name)
    return CalibrationSet(folder, inputs, sources, config.crop, config.seed)
