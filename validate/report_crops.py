"""The report's crops: where the artifacts' outputs differ most from the source output.

Per set, the ``CROP_IMAGES`` images with the largest difference between the
reference output (the first artifact, i.e. the source model in its own
runtime) and the other artifacts' outputs are shown, each at the window
where those differences concentrate, side by side with HR and bicubic, each
panel captioned with its PSNR-Y on the crop, and a heat map of |ΔY| against
the reference under every artifact. The first image of a set is usually not
where an INT8 model loses detail, so choosing by the measured difference is
what makes the loss visible.

The rows run in spawned processes, so their SR outputs are written to a
scratch folder (``save_output``) and read back one image at a time here:
memory stays one image per artifact whatever the set's size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sropt.validate.colour import bgr_to_y
from sropt.validate.degradation import bicubic_upscale
from sropt.validate.metrics import calculate_psnr
from sropt.validate.prepare import EvalSet, PreparedImage, best_window, pick_crop_box
from sropt.validate.results import Crop

#: Images shown per set.
CROP_IMAGES = 3
#: Heat maps saturate at the 99th percentile of |ΔY| in the crop (at least this many levels), so one
#: outlier pixel does not turn the rest black; the caption gives the scale.
HEAT_MIN_LEVELS = 1.0
HEAT_COLORMAP = "inferno"  # perceptually uniform, black = identical, readable in grayscale print


@dataclass(frozen=True)
class OutputRow:
    """One full-set row whose SR outputs are in ``folder``: its panel title."""

    title: str
    folder: Path


def _output_file(folder: Path, s: EvalSet, image: str) -> Path:
    key = "\0".join((s.dataset, s.degradation, image)).encode()
    return folder / f"{hashlib.sha1(key).hexdigest()[:20]}.npy"


def save_output(folder: Path, s: EvalSet, image: str, sr: np.ndarray) -> None:
    """Keep one SR output for the crop choice (called in the row's worker process)."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(_output_file(folder, s, image), sr, allow_pickle=False)


def load_output(folder: Path, s: EvalSet, image: str) -> np.ndarray | None:
    """A saved SR output, or None when it is missing or unreadable (the panel then says so)."""
    try:
        return np.load(_output_file(folder, s, image), allow_pickle=False)
    except (OSError, ValueError):
        return None


def y_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|Y(a) - Y(b)| in BT.601 Y levels (float64), the quantity the heat maps show."""
    return np.abs(bgr_to_y(a) - bgr_to_y(b))


def rank_images(s: EvalSet, rows: list[OutputRow], n: int) -> list[tuple[int, float]]:
    """(image index, summed mean squared ΔY over the other rows) of the ``n`` images that differ most, largest first.

    With no other row, or no difference at all, the first ``n`` images (score 0).
    """
    if len(rows) < 2:  # nothing to compare: no output needs reading
        return [(i, 0.0) for i in range(min(n, len(s.images)))]
    scores = []
    for i, img in enumerate(s.images):
        ref = load_output(rows[0].folder, s, img.name) if rows else None
        total = 0.0
        for row in rows[1:]:
            out = load_output(row.folder, s, img.name)
            if ref is not None and out is not None and out.shape == ref.shape:
                total += float(np.mean(y_difference(out, ref) ** 2))
        scores.append((i, total))
    if not any(score > 0 for _, score in scores):
        return scores[:n]
    return sorted(scores, key=lambda t: (-t[1], t[0]))[:n]


def heat_map(diff: np.ndarray, vmax: float) -> np.ndarray:
    """|ΔY| as a BGR uint8 image: matplotlib's inferno from black (0) to pale yellow (>= ``vmax`` levels)."""
    import matplotlib

    rgba = matplotlib.colormaps[HEAT_COLORMAP](np.clip(diff / vmax, 0.0, 1.0))
    return np.ascontiguousarray((rgba[..., 2::-1] * 255).round().astype(np.uint8))


def crop_psnr(sr: np.ndarray, hr: np.ndarray) -> float:
    """PSNR-Y of one crop against the HR crop (no border: a crop is inside the image)."""
    return calculate_psnr(sr, hr, 0)


def choose_crops(sets: list[EvalSet], rows: list[OutputRow], size: int, n_images: int = CROP_IMAGES) -> list[Crop]:
    """Per set, crops of the ``n_images`` images where ``rows[1:]`` differ most from ``rows[0]`` (the reference)."""
    return [_crop(s, s.images[i], rows, size, score) for s in sets for i, score in rank_images(s, rows, n_images)]


def _crop(s: EvalSet, img: PreparedImage, rows: list[OutputRow], size: int, score: float) -> Crop:
    outputs = {row.title: load_output(row.folder, s, img.name) for row in rows}
    ref = outputs[rows[0].title] if rows else None
    diffs = {t: y_difference(o, ref) for t, o in outputs.items() if ref is not None and o is not None
             and o.shape == ref.shape and t != rows[0].title}
    total = sum(diffs.values()) if diffs else None
    box = best_window(total, size, cells=8) if total is not None and total.max() > 0 else pick_crop_box(img.hr, size)
    y0, x0, n = box
    cut = (slice(y0, y0 + n), slice(x0, x0 + n))
    crop = Crop(s.dataset, s.degradation, img.name, box, reference=rows[0].title if rows else "", difference=score)
    hr = img.hr[cut]
    crop.panels["HR"] = hr.copy()
    for title, out in [("bicubic", bicubic_upscale(img.lr, s.scale)), *outputs.items()]:
        if out is None:
            crop.missing.append(title)
            continue
        crop.panels[title] = out[cut].copy()
        crop.psnr[title] = crop_psnr(out[cut], hr)
    if diffs:
        crop.heat_max = max(HEAT_MIN_LEVELS, float(np.percentile(np.concatenate([d[cut].ravel() for d in diffs.values()]), 99)))
        crop.heat = {t: heat_map(d[cut], crop.heat_max) for t, d in diffs.items()}
    return crop
