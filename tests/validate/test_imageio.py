"""Image reading: conversions are made and stated; bad files name themselves."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sropt.core.errors import InputError
from sropt.validate.imageio import read_image


def test_colour_png_reads_unchanged(tmp_path: Path) -> None:
    img = np.random.default_rng(0).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "c.png"), img)
    loaded = read_image(tmp_path / "c.png")
    assert np.array_equal(loaded.bgr, img) and loaded.notes == []


def test_grayscale_is_replicated_to_bgr_with_a_note(tmp_path: Path) -> None:
    g = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    cv2.imwrite(str(tmp_path / "g.png"), g)
    loaded = read_image(tmp_path / "g.png")
    assert loaded.bgr.shape == (3, 4, 3)
    assert all(np.array_equal(loaded.bgr[..., c], g) for c in range(3))
    assert loaded.notes == ["g.png: grayscale image converted to BGR (channel replicated)"]


def test_16bit_is_converted_with_a_note(tmp_path: Path) -> None:
    img8 = np.random.default_rng(1).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "d.png"), img8.astype(np.uint16) * 257)  # 8-bit data stored as 16-bit
    loaded = read_image(tmp_path / "d.png")
    assert np.array_equal(loaded.bgr, img8)
    assert "16-bit image converted to 8-bit" in loaded.notes[0]


def test_alpha_is_dropped_with_a_note(tmp_path: Path) -> None:
    bgra = np.random.default_rng(2).integers(0, 256, (5, 6, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    loaded = read_image(tmp_path / "a.png")
    assert np.array_equal(loaded.bgr, bgra[..., :3])
    assert loaded.notes == ["a.png: alpha channel dropped"]


def test_unreadable_and_missing_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(InputError, match=r"broken\.png: cannot decode"):
        read_image(bad)
    with pytest.raises(InputError, match=r"nope\.png: image not found"):
        read_image(tmp_path / "nope.png")


def test_too_large_without_tiling_is_refused(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "big.png"), np.zeros((40, 50, 3), np.uint8))
    with pytest.raises(InputError, match=r"big\.png: 50x40 px is larger than .*--tile"):
        read_image(tmp_path / "big.png", max_pixels=1000)
    assert read_image(tmp_path / "big.png", max_pixels=None).bgr.shape == (40, 50, 3)
