"""Prepared sets kept on disk by content: the LR images and the bicubic baseline's scores of a set are made once.

Every ``sropt validate``, pipeline run and sweep point validates on the same
few sets. Per process the prepared sets were already made once
(``sropt.validate.prepare``); across processes each one degraded every HR
image again (MATLAB imresize) and upscaled every LR image again for the
bicubic row. On Set14 x3 (AMD EPYC, 2 threads) that was 0.07 s of
degradation and 0.33-0.40 s of bicubic row of a 3.1-3.6 s validation of
EDSR-T91-b8f64_x3: more than the issue's whole 20% budget outside the model.

The key is what those numbers depend on: the set's content key (every HR/LR
file's bytes, ``prepare._content_key``), the degradation (its name and the
function registered under it, so a degradation a user registers under a
used name gets entries of its own), the scale, the numpy and OpenCV
versions (the resize and the SSIM filter run in them) and ``FORMAT``, which
a change to the built-in degradations, the bicubic upscaling or the
metrics must bump. The HR images are still decoded from their files (they are what
the key hashes, and caching them would store the dataset again). An entry
that is unreadable, or whose LR image does not fit its HR image, is ignored
and made again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sropt.core.locations import cache_dir
from sropt.validate.npz_store import read_npz, write_npz

#: Bump when the degradation, the bicubic upscaling or the metrics change what they compute.
FORMAT = 1

#: (Y-PSNR, Y-SSIM, RGB PSNR) of one image's bicubic upscaling against its HR image.
BicubicScore = tuple[float, float, float]


@dataclass
class SetEntry:
    """What the disk holds for one prepared set."""

    lr: dict[str, np.ndarray]  # image name -> degraded LR image (empty for a set read with LR files)
    bicubic: dict[str, BicubicScore] | None  # image name -> scores; None until a validation scored the set


def set_key(content_key: str, made_by: str, scale: int) -> str:
    """The disk key of one dataset content at one scale, its LR images made by ``made_by`` (a degradation, or read)."""
    import cv2

    meta = {"format": FORMAT, "content": content_key, "made_by": made_by, "scale": scale,
            "numpy": np.__version__, "opencv": cv2.__version__}
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()


def _path(key: str) -> Path:
    return cache_dir() / "sets" / f"{key}.npz"


def load_entry(key: str) -> SetEntry | None:
    """The entry under ``key``; None when absent or unreadable (then the set is made as if new)."""
    def decode(index: dict, data) -> SetEntry:
        bicubic = index["bicubic"]
        return SetEntry({name: data[f"lr{i}"] for i, name in enumerate(index["lr"])},
                        None if bicubic is None else {k: tuple(v) for k, v in bicubic.items()})

    return read_npz(_path(key), decode)


def store_entry(key: str, entry: SetEntry) -> None:
    """Keep ``entry`` under ``key`` (atomically; a cache that cannot be written is skipped, never an error)."""
    names = list(entry.lr)
    write_npz(_path(key), {"lr": names, "bicubic": entry.bicubic}, {f"lr{i}": entry.lr[name] for i, name in enumerate(names)})
