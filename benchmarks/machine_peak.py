"""The arithmetic floor: this CPU's float32 multiply-add rate, measured with a large numpy matmul.

``fraction of peak`` = (MACs of one inference) / (latency x this rate). The
rate is what numpy's BLAS (OpenBLAS) reaches on a 2048^3 float32 GEMM with the
benchmark's thread count, in the same run as the latencies. It is a float32
rate: INT8 kernels (VNNI/AMX) can exceed 1.0 of it, which is the point of
quantizing, and the table says so rather than capping it.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import time

import numpy as np

# OpenBLAS reads these when it loads, so they are set before the worker imports numpy.
_BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _matmul_rate(n: int, repeats: int) -> dict:
    """Best-of-``repeats`` float32 n x n x n GEMM rate in GMAC/s (runs in the worker)."""
    from sropt.validate.timing import summarize

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm-up: thread pool start, page faults
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        samples.append((time.perf_counter() - t) * 1000.0)
    stats = summarize(samples)
    macs = float(n) ** 3
    return {"n": n, "dtype": "float32", "latency_ms": stats.to_json(),
            "gmacs_per_s_best": round(macs / (stats.min / 1000.0) / 1e9, 1),
            "gmacs_per_s_median": round(macs / (stats.median / 1000.0) / 1e9, 1)}


def measure_peak(threads: int, n: int = 2048, repeats: int = 10) -> dict:
    """The float32 GEMM rate with ``threads`` BLAS threads, measured in a spawned process."""
    saved = {k: os.environ.get(k) for k in _BLAS_THREAD_VARS}
    for k in _BLAS_THREAD_VARS:
        os.environ[k] = str(threads)
    try:
        with cf.ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
            out = pool.submit(_matmul_rate, n, repeats).result()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out["threads"] = threads
    out["blas"] = _blas_name()
    return out


def _blas_name() -> str:
    """Which BLAS numpy uses (from numpy's build config)."""
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older numpy without mode="dicts"
        return "unknown"


def fraction_of_peak(macs_per_pixel: int, size: int, median_ms: float, peak_gmacs: float) -> float | None:
    """MACs of one size x size inference / (median latency x peak rate)."""
    if not macs_per_pixel or not median_ms or not peak_gmacs:
        return None
    achieved = macs_per_pixel * size * size / (median_ms / 1000.0) / 1e9
    return round(achieved / peak_gmacs, 3)
