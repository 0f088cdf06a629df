"""Latency statistics and the RSS probe."""

from __future__ import annotations

import pytest

from sropt.validate.timing import measure_latency, peak_rss_mb, summarize


def test_summarize_median_p90_min_by_hand() -> None:
    # Sorted 1,2,3,4,10: median 3; p90 at rank 0.9*4 = 3.6 -> 4 + 0.6*(10-4) = 7.6; min 1.
    s = summarize([4.0, 1.0, 10.0, 3.0, 2.0])
    assert (s.median, s.p90, s.min, s.repeats) == (3.0, pytest.approx(7.6), 1.0, 5)
    assert s.to_json() == {"median": 3.0, "p90": 7.6, "min": 1.0, "repeats": 5}


def test_measure_latency_warms_up_then_times_each_repeat() -> None:
    calls = []
    stats = measure_latency(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(calls) == 6 and stats.repeats == 4
    assert 0 <= stats.min <= stats.median <= stats.p90
    with pytest.raises(ValueError):
        measure_latency(lambda: None, repeats=0)


def test_peak_rss_covers_a_live_allocation() -> None:
    import numpy as np

    block = np.ones(256 * 1024 * 1024 // 8)  # 256 MiB, written so it is resident
    with open("/proc/self/status", encoding="ascii") as fh:
        rss_now = next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmRSS:"))
    assert rss_now >= 256
    assert peak_rss_mb() >= rss_now  # the high-water mark can never be below the current RSS
    del block
