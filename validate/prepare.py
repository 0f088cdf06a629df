"""Turning datasets into evaluation sets: HR mod-cropped, LR degraded or read, bad images skipped."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from sropt.core.errors import InputError
from sropt.validate import set_cache
from sropt.validate.dataset import Dataset
from sropt.validate.degradation import get_degradation, mod_crop
from sropt.validate.colour import bgr_to_y
from sropt.validate.imageio import read_image

MIN_LR_SIDE = 8  # images smaller than scale x 8 HR pixels are skipped (issue 3, "Bad input")
PAIRED = "paired-lr"  # the degradation recorded when LR images come from files
#: Prepared sets kept in this process. Small: a Urban100-sized set is ~0.5 GB of HR/LR arrays.
CACHE_SETS = 4
_CACHE: OrderedDict[tuple, EvalSet] = OrderedDict()


@dataclass
class PreparedImage:
    """One HR/LR pair ready for inference."""

    name: str
    hr: np.ndarray
    lr: np.ndarray
    notes: list[str] = field(default_factory=list)


@dataclass
class EvalSet:
    """A dataset under one degradation at one scale."""

    dataset: str
    degradation: str
    scale: int
    images: list[PreparedImage] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Its key in the on-disk set cache (``sropt.validate.set_cache``); None for a set made without one.
    cache_key: str | None = None
    #: The bicubic baseline's scores per image name, once a validation scored them or the disk held them.
    bicubic: dict[str, tuple[float, float, float]] | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(dataset, degradation): identifies the set in reports."""
        return (self.dataset, self.degradation)


def prepare_set(dataset: Dataset, degradation: str, scale: int, *, tiled: bool = False) -> EvalSet:
    """The prepared set of ``dataset`` at ``scale`` under ``degradation``, made once per content.

    Keyed by the bytes of every HR/LR file (not paths or mtimes: a rewritten
    image is a new set, a copied folder is the same), so every validation,
    sweep point or pipeline step in one process degrades a set once. The
    returned set is shared: callers must not modify it (``bicubic``, a memo
    of scores the set determines, is filled in once by the bicubic row).
    Across processes the degraded LR images and the bicubic scores come from
    the set cache on disk (``sropt.validate.set_cache``).
    """
    content = _content_key(dataset)
    key = (content, dataset.name, degradation, scale, tiled)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    disk_key = set_cache.set_key(content, PAIRED if dataset.paired else _made_by(degradation), scale)
    entry = set_cache.load_entry(disk_key)
    out = _prepare(dataset, degradation, scale, tiled=tiled, cached_lr=entry.lr if entry else {})
    out.cache_key, out.bicubic = disk_key, entry.bicubic if entry else None
    if entry is None and out.images:
        store_set(out)
    _CACHE[key] = out
    while len(_CACHE) > CACHE_SETS:
        _CACHE.popitem(last=False)
    return out


def _made_by(degradation: str) -> str:
    """The degradation's name and the function registered under it: another function under a used name is another key."""
    fn = get_degradation(degradation)
    return f"{degradation}={fn.__module__}.{fn.__qualname__}"


def store_set(s: EvalSet) -> None:
    """Write ``s``'s degraded LR images and bicubic scores to the set cache (a set read with LR files: the scores only)."""
    if s.cache_key is not None:
        lr = {} if s.degradation == PAIRED else {img.name: img.lr for img in s.images}
        set_cache.store_entry(s.cache_key, set_cache.SetEntry(lr, s.bicubic))


def _content_key(dataset: Dataset) -> str:
    """A digest of every item's name and HR/LR file bytes (an unreadable file by its error, which _prepare reports)."""
    h = hashlib.blake2b(digest_size=16)
    for item in dataset.items:
        h.update(item.name.encode() + b"\0")
        for path in (item.hr_path, item.lr_path):
            if path is None:
                h.update(b"-\0")
                continue
            try:
                h.update(path.read_bytes())
            except OSError as exc:
                h.update(f"{path}: {exc}".encode())
            h.update(b"\0")
    return h.hexdigest()


def _prepare(dataset: Dataset, degradation: str, scale: int, *, tiled: bool = False,
             cached_lr: dict[str, np.ndarray] | None = None) -> EvalSet:
    """Read, convert, mod-crop and degrade every image; skip bad ones with a message naming the file.

    ``cached_lr`` holds LR images this content was degraded to before (the set cache); one that does
    not fit its HR image is made again.
    """
    name = PAIRED if dataset.paired else degradation
    out = EvalSet(dataset=dataset.name, degradation=name, scale=scale)
    degrade = get_degradation(degradation)
    for item in dataset.items:
        try:
            loaded = read_image(item.hr_path, max_pixels=None if tiled else 64_000_000)
            hr = mod_crop(loaded.bgr, scale)
            h, w = hr.shape[:2]
            if min(h, w) < MIN_LR_SIDE * scale:
                raise InputError(
                    f"{item.hr_path}: {loaded.bgr.shape[1]}x{loaded.bgr.shape[0]} px is smaller than "
                    f"scale x {MIN_LR_SIDE} = {MIN_LR_SIDE * scale} px on a side; skipped (use larger images)."
                )
            notes = list(loaded.notes)
            if item.lr_path is not None:
                lr_img = read_image(item.lr_path)
                notes += lr_img.notes
                lr = lr_img.bgr
                if lr.shape[:2] != (h // scale, w // scale):
                    raise InputError(
                        f"{item.lr_path}: LR is {lr.shape[1]}x{lr.shape[0]} but HR {item.hr_path.name} "
                        f"mod-cropped to x{scale} needs {w // scale}x{h // scale}; check the LR folder's scale."
                    )
            else:
                lr = (cached_lr or {}).get(item.name)
                if lr is None or lr.dtype != np.uint8 or lr.shape != (h // scale, w // scale, hr.shape[2]):
                    lr = degrade(hr, scale)
        except InputError as exc:
            out.problems.append(str(exc))
            continue
        out.problems.extend(notes)  # conversions (grayscale, alpha, 16-bit) are reported, not hidden
        out.images.append(PreparedImage(item.name, hr, lr, notes))
    if not out.images:
        out.problems.append(f"dataset {dataset.name} ({dataset.root}): no usable images at x{scale}")
    return out


def pick_crop_box(hr: np.ndarray, size: int) -> tuple[int, int, int]:
    """The ``size`` x ``size`` window (on a coarse grid) with the most fine texture: where SR methods differ most.

    Texture is the mean absolute Laplacian of Y; plain variance would pick a
    single strong edge (e.g. a bright background boundary) over detail.
    """
    import cv2

    return best_window(np.abs(cv2.Laplacian(bgr_to_y(hr), cv2.CV_64F)), size, cells=4, min_step=8)


def best_window(weight: np.ndarray, size: int, *, cells: int, min_step: int = 1) -> tuple[int, int, int]:
    """(y0, x0, n) of the n x n window with the largest sum of ``weight``; n is ``size`` shrunk to fit ``weight``.

    Windows sit on a grid of ``max(min_step, n // cells)`` px: the grid follows
    the window that fits, not the one asked for. Sums come from one integral
    image; the first window wins a tie (row by row).
    """
    h, w = weight.shape
    size = min(size, h, w)
    step = max(min_step, size // cells)
    integral = np.zeros((h + 1, w + 1))
    integral[1:, 1:] = weight.cumsum(0).cumsum(1)
    ys, xs = np.arange(0, h - size + 1, step), np.arange(0, w - size + 1, step)
    sums = (integral[ys[:, None] + size, xs[None, :] + size] - integral[ys[:, None], xs[None, :] + size]
            - integral[ys[:, None] + size, xs[None, :]] + integral[ys[:, None], xs[None, :]])
    iy, ix = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(ys[iy]), int(xs[ix]), size
