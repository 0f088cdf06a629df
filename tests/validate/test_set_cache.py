"""validate.set_cache: a set validated again reads its LR images and bicubic scores from disk, equal to making them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sropt.core.locations import PROJECT_ROOT
from sropt.validate import ValidationConfig, degradation, evaluate, prepare, validate_artifacts
from sropt.validate.dataset import load_dataset
from sropt.validate.degradation import bicubic_upscale, matlab_bicubic
from sropt.validate.metrics import calculate_psnr, calculate_ssim

BUNDLED = PROJECT_ROOT / "models" / "bundled"


@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """An empty cache folder, no prepared sets in memory, and a count of the HR images degraded."""
    monkeypatch.setenv("SROPT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(prepare, "_CACHE", type(prepare._CACHE)())
    degraded = [0]
    real = degradation.DEGRADATIONS["matlab-bicubic"]

    def counting(hr, scale):
        degraded[0] += 1
        return real(hr, scale)

    monkeypatch.setitem(degradation.DEGRADATIONS, "matlab-bicubic", counting)
    return degraded


def _forget_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:  # what a new process starts with
    monkeypatch.setattr(prepare, "_CACHE", type(prepare._CACHE)())


def test_a_second_process_reads_the_lr_images_and_bicubic_scores(mini_set: Path, fresh_process: list[int], monkeypatch, tmp_path: Path):
    ds = load_dataset(mini_set, scale=3)
    made = prepare.prepare_set(ds, "matlab-bicubic", 3)
    assert fresh_process[0] == 2
    _forget_in_memory(monkeypatch)
    again = prepare.prepare_set(ds, "matlab-bicubic", 3)
    assert fresh_process[0] == 2  # read, not degraded
    for a, b in zip(made.images, again.images):
        np.testing.assert_array_equal(a.lr, b.lr)
        np.testing.assert_array_equal(b.lr, matlab_bicubic(b.hr, 3))  # what the degradation gives

    cfg = ValidationConfig(datasets=[mini_set], runtimes=["opencv"], repeats=1, threads=1, bench_size=16, isolate=False, rgb_psnr=True)
    model = BUNDLED / "EDSR-T91-b8f64_x3.pb"
    first = next(r for r in validate_artifacts([model], cfg).results if r.runtime == "bicubic")
    _forget_in_memory(monkeypatch)
    upscaled = []
    monkeypatch.setattr(evaluate, "bicubic_upscale", lambda lr, scale: upscaled.append(lr) or bicubic_upscale(lr, scale))
    second = next(r for r in validate_artifacts([model], cfg).results if r.runtime == "bicubic")
    assert upscaled == [] and fresh_process[0] == 2  # the bicubic row read its scores
    # The stored scores are the ones the protocol gives for these images, computed here independently.
    for img, row1, row2 in zip(again.images, first.images, second.images):
        up = bicubic_upscale(img.lr, 3)
        assert row1.psnr_y == row2.psnr_y == calculate_psnr(up, img.hr, 3)
        assert row1.ssim_y == row2.ssim_y == calculate_ssim(up, img.hr, 3)
        assert row1.psnr_rgb == row2.psnr_rgb == calculate_psnr(up, img.hr, 3, test_y_channel=False)
    # Without --rgb-psnr the row does not report the stored RGB figure.
    _forget_in_memory(monkeypatch)
    cfg.rgb_psnr = False
    assert all(i.psnr_rgb is None for i in next(r for r in validate_artifacts([model], cfg).results if r.runtime == "bicubic").images)


def test_a_changed_image_or_a_damaged_entry_is_made_again(mini_set: Path, fresh_process: list[int], monkeypatch, tmp_path: Path):
    ds = load_dataset(mini_set, scale=3)
    prepare.prepare_set(ds, "matlab-bicubic", 3)
    img = cv2.imread(str(mini_set / "bird.png"))
    cv2.imwrite(str(mini_set / "bird.png"), 255 - img)
    _forget_in_memory(monkeypatch)
    changed = prepare.prepare_set(load_dataset(mini_set, scale=3), "matlab-bicubic", 3)
    assert fresh_process[0] == 4  # a new content key: both images degraded again
    bird = next(i for i in changed.images if i.name.startswith("bird"))
    np.testing.assert_array_equal(bird.lr, matlab_bicubic(bird.hr, 3))
    # Whatever the damage (not a zip, empty, cut short, one byte flipped), the entry is made again.
    entries = sorted((tmp_path / "cache" / "sets").iterdir(), key=lambda p: p.stat().st_mtime)
    good = entries[-1].read_bytes()
    for n, damaged in enumerate([b"not an npz", b"", good[:1000], good[:200] + bytes([good[200] ^ 0xFF]) + good[201:]]):
        entries[-1].write_bytes(damaged)
        _forget_in_memory(monkeypatch)
        again = prepare.prepare_set(load_dataset(mini_set, scale=3), "matlab-bicubic", 3)
        assert fresh_process[0] == 6 + 2 * n, damaged[:12]
        np.testing.assert_array_equal(again.images[0].lr, matlab_bicubic(again.images[0].hr, 3))


def test_a_stored_lr_image_that_does_not_fit_its_hr_image_is_made_again(mini_set: Path, fresh_process: list[int], monkeypatch):
    from sropt.validate import set_cache

    ds = load_dataset(mini_set, scale=3)
    s = prepare.prepare_set(ds, "matlab-bicubic", 3)
    entry = set_cache.load_entry(s.cache_key)
    entry.lr[s.images[0].name] = entry.lr[s.images[0].name][:-1]
    set_cache.store_entry(s.cache_key, entry)
    _forget_in_memory(monkeypatch)
    again = prepare.prepare_set(ds, "matlab-bicubic", 3)
    assert fresh_process[0] == 3
    np.testing.assert_array_equal(again.images[0].lr, matlab_bicubic(again.images[0].hr, 3))


def test_another_function_under_a_used_degradation_name_gets_entries_of_its_own(mini_set: Path, fresh_process: list[int], monkeypatch):
    ds = load_dataset(mini_set, scale=3)
    prepare.prepare_set(ds, "matlab-bicubic", 3)  # stored under the built-in function

    def flat(hr, scale):
        return np.full((hr.shape[0] // scale, hr.shape[1] // scale, 3), 7, np.uint8)

    monkeypatch.setitem(degradation.DEGRADATIONS, "matlab-bicubic", flat)
    _forget_in_memory(monkeypatch)
    mine = prepare.prepare_set(ds, "matlab-bicubic", 3)
    assert all((img.lr == 7).all() for img in mine.images)  # not the stored MATLAB-bicubic images
