"""validate.parity_cache: a parity-only row is read back from the cache only for the same file, runtime, crops and threads."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from sropt.core.locations import PROJECT_ROOT
from sropt.validate import ValidationConfig, evaluate, validate_artifacts
from sropt.validate.parity_cache import CACHED_NOTE, load_parity, parity_key, store_parity

BUNDLED = PROJECT_ROOT / "models" / "bundled"
MODEL = BUNDLED / "EDSR-T91-b8f64_x3.pb"


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SROPT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _crops(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {("Set5", "matlab-bicubic"): [rng.integers(0, 256, (16, 20, 3), dtype=np.uint8), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)]}


def test_the_key_follows_the_files_bytes_the_runtime_the_threads_and_the_crops(tmp_path: Path, own_cache: Path):
    copy = tmp_path / "elsewhere.pb"
    shutil.copyfile(MODEL, copy)
    changed = tmp_path / "changed.pb"
    changed.write_bytes(MODEL.read_bytes()[:-1] + bytes([MODEL.read_bytes()[-1] ^ 1]))
    cfg = ValidationConfig(threads=2)
    key = parity_key(MODEL, "tf", cfg, _crops())
    assert key == parity_key(copy, "tf", cfg, _crops())  # content, not path
    assert key != parity_key(changed, "tf", cfg, _crops())
    assert key != parity_key(MODEL, "opencv", cfg, _crops())
    assert key != parity_key(MODEL, "tf", ValidationConfig(threads=1), _crops())
    assert key != parity_key(MODEL, "tf", cfg, _crops(seed=1))
    assert parity_key(MODEL, "a-fake-runtime", cfg, _crops()) is None  # nothing to key a test's fake runner on


def test_stored_crops_come_back_exactly_and_a_damaged_entry_is_a_miss(own_cache: Path):
    sr = {("Set5", "matlab-bicubic"): [np.linspace(0, 1, 60, dtype=np.float32).reshape(1, 4, 5, 3)], ("Set14", "x"): []}
    store_parity("k1", sr)
    back = load_parity("k1")
    assert back is not None and set(back) == set(sr) and back[("Set14", "x")] == []
    np.testing.assert_array_equal(back[("Set5", "matlab-bicubic")][0], sr[("Set5", "matlab-bicubic")][0])
    good = (own_cache / "parity" / "k1.npz").read_bytes()
    for damaged in (b"not an npz", b"", good[: len(good) // 2]):  # BadZipFile, EOFError, a cut-off zip
        (own_cache / "parity" / "k1.npz").write_bytes(damaged)
        assert load_parity("k1") is None
    assert load_parity("missing") is None and load_parity(None) is None


def test_a_second_validation_reads_tf_parity_from_the_cache_and_starts_no_tf_process(mini_set: Path, own_cache: Path, monkeypatch):
    started: list[list[str]] = []

    class Recording(evaluate.WorkerPools):  # the runtimes of the worker processes each validation starts
        def __init__(self, runtimes):
            started.append([])
            super().__init__(runtimes)

        def ensure(self, runtimes):
            before = len(self._warm)
            super().ensure(runtimes)
            started[-1] += [r for r, _, _ in self._warm[before:]]

    monkeypatch.setattr(evaluate, "WorkerPools", Recording)
    cfg = ValidationConfig(datasets=[mini_set], runtimes=["opencv", "tf"], repeats=1, threads=1, bench_size=16)
    first = validate_artifacts([MODEL], cfg)
    second = validate_artifacts([MODEL], cfg)
    assert started == [["opencv", "tf"], ["opencv"]]
    tf_rows = [next(r for r in rep.results if r.runtime == "tf") for rep in (first, second)]
    assert CACHED_NOTE not in tf_rows[0].notes and CACHED_NOTE in tf_rows[1].notes
    assert tf_rows[0].scope == tf_rows[1].scope == "parity"
    # The same parity figures: the cache returned TensorFlow's own outputs of the first run.
    assert tf_rows[1].parity == tf_rows[0].parity and tf_rows[0].parity
    assert [r.errors for r in second.results] == [[] for _ in second.results]
