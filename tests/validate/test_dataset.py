"""Dataset resolution: folders, shortcuts, paired LR, empty folders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sropt.core.errors import InputError
from sropt.validate.dataset import load_dataset


def _img(path: Path, h: int, w: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))


def test_empty_folder_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"--dataset .*empty: .* holds no images"):
        load_dataset(tmp_path / "empty", scale=3)


def test_missing_folder_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such folder"):
        load_dataset(tmp_path / "nothing", scale=3)


@pytest.mark.shared
def test_shortcuts_resolve_under_datasets_dir(datasets: Path) -> None:
    ds = load_dataset("set5", scale=3)
    assert ds.name == "Set5" and ds.root == datasets / "Set5"
    assert [i.name for i in ds.items] == ["baby.png", "bird.png", "butterfly.png", "head.png", "woman.png"]
    assert not ds.paired


def test_paired_hr_lr_layout(tmp_path: Path) -> None:
    _img(tmp_path / "d" / "HR" / "x.png", 48, 60)
    _img(tmp_path / "d" / "LR_x3" / "xx3.png", 16, 20)
    ds = load_dataset(tmp_path / "d", scale=3)
    assert ds.paired and ds.items[0].lr_path == tmp_path / "d" / "LR_x3" / "xx3.png"
    assert ds.name == "d"


def test_paired_lr_missing_a_file_lists_it(tmp_path: Path) -> None:
    _img(tmp_path / "HR" / "x.png", 48, 60)
    _img(tmp_path / "HR" / "y.png", 48, 60)
    _img(tmp_path / "lr" / "x.png", 16, 20)
    with pytest.raises(InputError, match=r"y\.png: no LR image"):
        load_dataset(tmp_path / "HR", scale=3, lr_dir=tmp_path / "lr")


def test_prepare_paired_set_checks_lr_size_and_records_paired_lr(tmp_path: Path) -> None:
    from sropt.validate.prepare import prepare_set

    _img(tmp_path / "d" / "HR" / "ok.png", 48, 60)
    _img(tmp_path / "d" / "LR_x3" / "ok.png", 16, 20)
    _img(tmp_path / "d" / "HR" / "bad.png", 48, 60)
    _img(tmp_path / "d" / "LR_x3" / "bad.png", 15, 20)
    s = prepare_set(load_dataset(tmp_path / "d", scale=3), "matlab-bicubic", 3)
    assert s.degradation == "paired-lr"
    assert [i.name for i in s.images] == ["ok.png"]
    assert "bad.png: LR is 20x15 but HR bad.png mod-cropped to x3 needs 20x16" in s.problems[0]
