"""Fixtures for the validation tests: exported ONNX/TFLite copies of real models, small datasets."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.validate.exports import export_onnx, export_tflite

PARITY_MODELS = ("ESPCN_x3", "FSRCNN_x3", "EDSR-T91-b8f64_x3")


@pytest.fixture(scope="session")
def exported(shared_models: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """{model: {"pb"|"onnx"|"tflite": path}} for the parity models (exports take ~3 s in all)."""
    out = tmp_path_factory.mktemp("exports")
    models: dict[str, dict[str, Path]] = {}
    for name in PARITY_MODELS:
        pb = shared_models / f"{name}.pb"
        models[name] = {
            "pb": pb,
            "onnx": export_onnx(pb, out / f"{name}.onnx"),
            "tflite": export_tflite(pb, out / f"{name}.tflite"),
        }
    return models


@pytest.fixture(scope="session")
def lr_image(datasets: Path) -> np.ndarray:
    """A 40x57 (H != W) uint8 BGR LR crop of Set5 bird, so a swapped H/W cannot pass."""
    img = cv2.imread(str(datasets / "Set5" / "bird.png"))
    return np.ascontiguousarray(img[60:180:3, 30:201:3])


@pytest.fixture
def small_dataset(datasets: Path, tmp_path: Path) -> Path:
    """A folder with two HR crops (96x120 and 120x99) of Set5 images, written under tmp_path."""
    root = tmp_path / "mini"
    root.mkdir()
    baby = cv2.imread(str(datasets / "Set5" / "baby.png"))
    bird = cv2.imread(str(datasets / "Set5" / "bird.png"))
    cv2.imwrite(str(root / "a_baby.png"), baby[100:196, 100:220])
    cv2.imwrite(str(root / "b_bird.png"), bird[50:170, 60:159])
    return root


@pytest.fixture
def mini_set(tmp_path: Path) -> Path:
    """Two small HR crops of the bundled Set5 (so each row takes well under a second; needs no ../shared)."""
    from sropt.core.locations import bundled_dir

    root = tmp_path / "mini"
    root.mkdir()
    for name, (y, x) in {"baby.png": (100, 100), "bird.png": (50, 60)}.items():
        img = cv2.imread(str(bundled_dir() / "datasets" / "Set5" / name))
        cv2.imwrite(str(root / name), img[y : y + 96, x : x + 120])
    return root
