"""How LR test images are made from HR ones: named, registered degradations.

The degradation changes every PSNR by up to ~1 dB (FACTS.md §4), so it is a
named option recorded in every result, never a hidden choice:

* ``matlab-bicubic`` (default): MATLAB ``imresize(HR, 1/s, 'bicubic')`` with
  antialiasing; the literature's protocol.
* ``opencv-cubic``: ``cv2.resize(INTER_CUBIC)``, how the OpenCV zoo's ESPCN/
  FSRCNN/LapSRN training data were made.
* ``opencv-area``: ``cv2.resize(INTER_AREA)``.

HR is first cropped to a multiple of the scale (``mod_crop``); LR is uint8.
``bicubic_upscale`` is the baseline row of every report (MATLAB bicubic up).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sropt.core.errors import InputError
from sropt.validate.matlab_resize import imresize, to_uint8_matlab

Degradation = Callable[[np.ndarray, int], np.ndarray]
DEGRADATIONS: dict[str, Degradation] = {}
DEFAULT_DEGRADATION = "matlab-bicubic"


def register_degradation(name: str) -> Callable[[Degradation], Degradation]:
    """Decorator: register ``fn(hr_bgr_uint8, scale) -> lr_bgr_uint8`` under ``name``."""

    def wrap(fn: Degradation) -> Degradation:
        DEGRADATIONS[name] = fn
        return fn

    return wrap


def get_degradation(name: str) -> Degradation:
    """The registered degradation ``name``; InputError listing the choices otherwise."""
    try:
        return DEGRADATIONS[name]
    except KeyError:
        raise InputError(
            f"--degradation {name!r} is unknown; choose one of: {', '.join(sorted(DEGRADATIONS))}."
        ) from None


def mod_crop(hr: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of ``scale``."""
    h, w = hr.shape[:2]
    return hr[: h - h % scale, : w - w % scale]


@register_degradation("matlab-bicubic")
def matlab_bicubic(hr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB imresize(hr, 1/scale, 'bicubic') with antialiasing, rounded to uint8."""
    return to_uint8_matlab(imresize(hr, 1.0 / scale))


@register_degradation("opencv-cubic")
def opencv_cubic(hr: np.ndarray, scale: int) -> np.ndarray:
    """cv2.resize INTER_CUBIC (a = -0.75, no antialiasing), as the OpenCV zoo was trained."""
    import cv2

    h, w = hr.shape[:2]
    return cv2.resize(hr, (w // scale, h // scale), interpolation=cv2.INTER_CUBIC)


@register_degradation("opencv-area")
def opencv_area(hr: np.ndarray, scale: int) -> np.ndarray:
    """cv2.resize INTER_AREA (box averaging over each s x s block)."""
    import cv2

    h, w = hr.shape[:2]
    return cv2.resize(hr, (w // scale, h // scale), interpolation=cv2.INTER_AREA)


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """The baseline: MATLAB imresize(lr, scale, 'bicubic'), rounded to uint8."""
    return to_uint8_matlab(imresize(lr, float(scale)))
