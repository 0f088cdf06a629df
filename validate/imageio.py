"""Reading evaluation images into uint8 BGR, saying what was converted.

Choices (documented in docs/validate.md):

* grayscale (1 channel) -> converted to BGR by channel replication, with a note;
* alpha (4 channels) -> alpha dropped, with a note;
* 16-bit -> converted to 8-bit by rounding value/257 (exact for 8-bit data
  stored as 16-bit), with a note, because SR metrics are defined on 0..255;
* float or other depths, unreadable or missing files -> ``InputError`` naming
  the file;
* images larger than ``max_pixels`` -> ``InputError`` unless tiling is on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sropt.core.errors import InputError

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
# 64 Mpx of HR: the float64 metric planes alone are ~1.5 GB; above that, tile.
DEFAULT_MAX_PIXELS = 64_000_000


@dataclass
class LoadedImage:
    """A uint8 BGR image plus the conversions applied while reading it."""

    path: Path
    bgr: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The file name, used as the image's id in reports."""
        return self.path.name


def read_image(path: Path, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read ``path`` as uint8 BGR [H,W,3]; convert grayscale/alpha/16-bit with a note."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: image not found (or not a file).")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputError(f"{path}: cannot decode this file as an image; give a PNG/JPEG/BMP/TIFF file.")
    notes: list[str] = []
    if img.dtype == np.uint16:
        img = np.clip(np.rint(img.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
        notes.append(f"{path.name}: 16-bit image converted to 8-bit (value/257, rounded)")
    elif img.dtype != np.uint8:
        raise InputError(f"{path}: unsupported pixel type {img.dtype}; save it as an 8-bit (or 16-bit) image.")
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        img = cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
        notes.append(f"{path.name}: grayscale image converted to BGR (channel replicated)")
    elif img.shape[2] == 4:
        img = np.ascontiguousarray(img[:, :, :3])
        notes.append(f"{path.name}: alpha channel dropped")
    elif img.shape[2] != 3:
        raise InputError(f"{path}: {img.shape[2]} channels are not supported; give a 1, 3 or 4 channel image.")
    h, w = img.shape[:2]
    if max_pixels is not None and h * w > max_pixels:
        raise InputError(
            f"{path}: {w}x{h} px is larger than the {max_pixels} px limit for untiled inference; "
            "turn tiling on (--tile 256) to process it within bounded memory."
        )
    return LoadedImage(path=path, bgr=img, notes=notes)


def write_image(dest: Path, bgr: np.ndarray, *, inputs: tuple[Path, ...] = ()) -> Path:
    """Encode ``bgr`` by ``dest``'s suffix and write it atomically (never over an input)."""
    import cv2

    from sropt.core.atomic import write_bytes_atomic

    dest = Path(dest)
    ok, buf = cv2.imencode(dest.suffix or ".png", bgr)
    if not ok:
        raise InputError(f"{dest}: cannot encode an image with suffix '{dest.suffix}'; use .png.")
    return write_bytes_atomic(dest, buf.tobytes(), inputs=inputs)


def encode_png(bgr: np.ndarray) -> bytes:
    """PNG bytes of a BGR image (for embedding in HTML reports)."""
    import cv2

    ok, buf = cv2.imencode(".png", bgr)
    if not ok:  # pragma: no cover - cv2 always encodes uint8 BGR
        raise ValueError("PNG encoding failed")
    return buf.tobytes()
