"""Calibration data: LR crops made like inference, through the family's preprocessing.

The crops and their class come from ``sropt.validate.calibration``, shared
with the prune stage.

Both the TFLite representative dataset and ONNX Runtime's
CalibrationDataReader are fed from ``load_calibration_inputs``, so the two
paths see the same tensors. Pre-processing is only ``Contract.preprocess``
(the one place it is defined). The default folder is T91; the evaluation
sets (Set5, Set14) are refused so calibration never sees test images.
"""

from __future__ import annotations

from pathlib import Path


from sropt.core.contracts import Contract
from sropt.core.errors import InputError
from sropt.quantize.config import EVALUATION_SETS, CalibrationConfig
from sropt.validate.calibration import CalibrationSet

__all__ = ["CalibrationSet", "calibration_images", "load_calibration_inputs"]


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


def load_calibration_inputs(config: CalibrationConfig, contract: Contract, scale: int) -> CalibrationSet:
    """``config.calib_count`` LR crops (one per image, side ``config.crop``) made like inference, preprocessed by ``contract``.

    The HR images are degraded at ``scale`` before cropping: FSRCNN_x3's INT8
    ranges and GPTQ moments were measured on HR crops before, a wider and
    sharper distribution than the model ever sees.
    """
    from sropt.validate.calibration import load_calibration

    folder = config.resolved_folder()
    calibration_images(folder)  # the evaluation-set and empty-folder checks
    calib = load_calibration(folder, scale, config.calib_count, config.crop, config.seed, distinct=True)
    return calib.preprocessed(contract)
