"""core.background: background work ends before validation times anything."""

from __future__ import annotations

import threading
import time

import numpy as np

from sropt.core.background import run_until_timing, wait_before_timing


def test_wait_before_timing_joins_every_job_and_forgets_them():
    done = []
    run_until_timing(lambda: (time.sleep(0.2), done.append(1)), "a")
    run_until_timing(lambda: done.append(2), "b")
    wait_before_timing()
    assert sorted(done) == [1, 2]
    wait_before_timing()  # nothing left: returns at once


def test_validation_runs_no_row_while_a_background_job_runs(monkeypatch, tmp_path):
    import cv2

    from sropt.core.locations import PROJECT_ROOT
    from sropt.validate import ValidationConfig, evaluate, validate_artifacts

    root = tmp_path / "mini"
    root.mkdir()
    img = cv2.imread(str(PROJECT_ROOT / "models" / "bundled" / "datasets" / "Set5" / "bird.png"))
    cv2.imwrite(str(root / "bird.png"), img[:96, :120])
    finished = threading.Event()
    seen = []
    real_run_row = evaluate.run_row

    def run_row(task):
        seen.append(finished.is_set())
        return real_run_row(task)

    monkeypatch.setattr(evaluate, "run_row", run_row)
    run_until_timing(lambda: (time.sleep(1.0), finished.set()), "slow-stop")
    cfg = ValidationConfig(datasets=[root], runtimes=["opencv"], repeats=1, threads=1, bench_size=16, isolate=False)
    report = validate_artifacts([PROJECT_ROOT / "models" / "bundled" / "EDSR-T91-b8f64_x3.pb"], cfg)
    assert seen == [True]
    assert np.isfinite(next(r for r in report.results if r.runtime == "opencv").psnr_y)
