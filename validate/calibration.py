"""The one calibration set of prune and quantize: LR crops made like inference.

At inference the model sees LR images made with the pipeline's degradation
(MATLAB bicubic by default, FACTS.md §4), which are smoother and narrower in
range than the HR training images. Calibration therefore degrades whole HR
images first and crops the LR result: LR crop ``[y:y+c, x:x+c]`` pairs with HR
``[s*y:s*(y+c), s*x:s*(x+c)]``. Crop positions come from a seeded generator,
so two runs measure the same pixels. Prune (pruning statistics, PSNR) and
quantize (INT8 ranges, GPTQ moments, equalization) both draw from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from sropt.core.contracts import Contract
from sropt.core.errors import InputError


@dataclass(frozen=True)
class CalibrationSet:
    """Paired LR/HR uint8 BGR crops, where they came from, and (once preprocessed) the model inputs."""

    lr: list[np.ndarray]
    hr: list[np.ndarray]
    folder: Path
    sources: list[str]  # image file name of each crop
    crop: int  # LR crop side
    seed: int
    degradation: str = "matlab-bicubic"
    inputs: list[np.ndarray] = field(default_factory=list)  # NHWC float32, one per crop

    @property
    def source(self) -> str:
        """The folder as text (prune's provenance field)."""
        return str(self.folder)

    def preprocessed(self, contract: Contract) -> "CalibrationSet":
        """A copy whose ``inputs`` are the LR crops through ``contract.preprocess``."""
        return replace(self, inputs=[contract.preprocess(lr) for lr in self.lr])

    def describe(self) -> dict:
        """The provenance record of this calibration set."""
        return {
            "folder": str(self.folder),
            "dataset": self.folder.name,
            "crops": len(self.lr),
            "crop_size": self.crop,
            "seed": self.seed,
            "input": f"LR ({self.degradation})",
        }


def load_pairs(folder: Path, scale: int, degradation: str = "matlab-bicubic") -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(file name, LR, HR) of every image in ``folder``; InputError if it is not a folder or holds no images."""
    from sropt.validate.dataset import list_images
    from sropt.validate.degradation import get_degradation, mod_crop
    from sropt.validate.imageio import read_image

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            f"--calib {folder}: no such folder. Give a folder of HR training images (default: T91); "
            "never the evaluation set."
        )
    files = list_images(folder)
    if not files:
        raise InputError(
            f"--calib {folder}: the folder holds no images (PNG/JPEG/BMP/TIFF); "
            "put training images in it or use the default T91."
        )
    degrade = get_degradation(degradation)
    out = []
    for f in files:
        hr = mod_crop(read_image(f).bgr, scale)
        out.append((f.name, degrade(hr, scale), hr))
    return out


def load_calibration(
    folder: Path, scale: int, count: int, crop: int, seed: int = 0, *,
    distinct: bool = False, degradation: str = "matlab-bicubic",
) -> CalibrationSet:
    """``count`` seeded LR/HR crop pairs of LR side ``crop``.

    ``distinct``: one crop from each of ``count`` different images, InputError if
    fewer are large enough (quantize). Otherwise crops are drawn with replacement
    and ``crop`` shrinks to the largest LR image (prune).
    """
    folder = Path(folder)
    pairs = load_pairs(folder, scale, degradation)
    if not distinct:
        crop = min(crop, max(min(lr.shape[:2]) for _, lr, _ in pairs))
    usable = [p for p in pairs if min(p[1].shape[:2]) >= crop]
    rng = np.random.default_rng(seed)
    if distinct:
        if len(usable) < count:
            raise InputError(
                f"--calib {folder}: {len(pairs)} image(s), {len(usable)} usable (LR at x{scale} at least "
                f"{crop}x{crop} px), but --calib-count asks for {count} crops (one per image). "
                "Lower --calib-count or --calib-crop, or add images."
            )
        picks = sorted(int(i) for i in rng.choice(len(usable), size=count, replace=False))
    else:
        picks = None
    lrs, hrs, names = [], [], []
    for k in range(count):
        name, lr, hr = usable[picks[k] if picks is not None else int(rng.integers(len(usable)))]
        y = int(rng.integers(lr.shape[0] - crop + 1))
        x = int(rng.integers(lr.shape[1] - crop + 1))
        lrs.append(np.ascontiguousarray(lr[y:y + crop, x:x + crop]))
        hrs.append(np.ascontiguousarray(hr[scale * y:scale * (y + crop), scale * x:scale * (x + crop)]))
        names.append(name)
    return CalibrationSet(lrs, hrs, folder, names, crop, seed, degradation)


def sample_training_batch(
    lr_images: list[np.ndarray], contract: Contract, rng: np.random.Generator, batch: int, crop: int,
) -> np.ndarray:
    """``batch`` random LR crops (side ``crop``, random flip and transpose) as one preprocessed NHWC batch.

    The data path of every student-teacher loop (prune's distillation,
    quantize's QAT): unlabeled LR crops, so the teacher's output is the target.
    Flips and transposes are free augmentation, as SR training does.
    ``lr_images`` must all be at least ``crop`` on each side.
    """
    crops = []
    for _ in range(batch):
        img = lr_images[rng.integers(len(lr_images))]
        y = int(rng.integers(img.shape[0] - crop + 1))
        x = int(rng.integers(img.shape[1] - crop + 1))
        patch = img[y:y + crop, x:x + crop]
        if rng.integers(2):
            patch = patch[:, ::-1]
        if rng.integers(2):
            patch = patch.transpose(1, 0, 2)
        crops.append(contract.preprocess(np.ascontiguousarray(patch)))
    return np.concatenate(crops, axis=0)
