"""Latency: warm-up, then N timed repeats -> median, p90, min (milliseconds)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    """Summary of ``repeats`` timed runs of one input size, in milliseconds."""

    median: float
    p90: float
    min: float
    repeats: int

    def to_json(self) -> dict[str, float | int]:
        """JSON object with median/p90/min (ms) and the repeat count."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def summarize(samples_ms: list[float]) -> LatencyStats:
    """Median, 90th percentile (linear interpolation) and min of ``samples_ms``."""
    a = np.asarray(samples_ms, dtype=np.float64)
    return LatencyStats(float(np.median(a)), float(np.percentile(a, 90)), float(a.min()), len(a))


def measure_latency(fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1) -> LatencyStats:
    """Call ``fn`` ``warmup`` times untimed (first-run allocation, kernel selection), then time ``repeats`` calls."""
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000.0)
    return summarize(samples)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    Linux: ``VmHWM`` from /proc/self/status, which belongs to the address
    space created at exec. ``ru_maxrss`` is not used there because Linux
    carries it across execve, so a spawned worker would inherit the parent's
    peak. Elsewhere: ``ru_maxrss`` (bytes on macOS).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024
