"""The detailed results table as cells: one source for the terminal, report.md and report.html.

Cells come from report.json rows (plain dicts), so the validate and run
reports share them. The headline latency is one synthetic-input figure per
artifact and runtime, the same on every dataset row, so it is printed on the
first of those rows only.
"""

from __future__ import annotations

import math
from typing import Any

from sropt.validate.report_summary import artifact_name, dataset_name
from sropt.validate.report_words import parity_sentence
from sropt.validate.results import ValidationReport


def fmt_psnr(x: float | None, inf: bool = False) -> str:
    """PSNR for tables: 2 decimals, 'inf' for identical images, '-' when missing."""
    if inf or (x is not None and math.isinf(x)):
        return "inf"
    return "-" if x is None else f"{x:.2f}"


def fmt_ssim(x: float | None) -> str:
    """SSIM for tables: 4 decimals."""
    return "-" if x is None else f"{x:.4f}"


def row_status(row: dict[str, Any]) -> str:
    """``ok``, ``parity only`` or ``error``."""
    if row.get("errors"):
        return "error"
    return "parity only" if row.get("scope") == "parity" else "ok"


def detail_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    """One list of cells per report.json row, in TABLE_HEADER's order."""
    rows, seen_latency = [], set()
    for r in results:
        latency = (r.get("latency_ms") or {}).get("median")
        key = (r.get("artifact"), r.get("runtime"))
        once = str(r.get("latency_input") or "").startswith("synthetic")
        shown = latency is not None and not (once and key in seen_latency)
        seen_latency.add(key)
        rows.append([
            artifact_name(r) if r.get("stage") else str(r.get("label") or r.get("artifact")),
            str(r.get("runtime")), dataset_name(r), f"x{r.get('scale')}", str(r.get("degradation")),
            fmt_psnr(r.get("psnr_y"), bool(r.get("psnr_y_inf"))), fmt_ssim(r.get("ssim_y")),
            f"{latency:.1f}" if shown else ("(as above)" if latency is not None else "-"),
            "-" if r.get("size_bytes") is None else f"{r['size_bytes']:,}",
            "-" if r.get("peak_rss_mb") is None else f"{r['peak_rss_mb']:.0f}",
            parity_sentence([r["parity"]], str(r.get("artifact"))) if r.get("parity") else "-",
            row_status(r),
        ])
    return rows


def table_rows(report: ValidationReport) -> list[list[str]]:
    """``detail_rows`` of a ValidationReport (the terminal table of `sropt validate`)."""
    return detail_rows([r.to_json() for r in report.results])


TABLE_HEADER = ["artifact", "runtime", "dataset", "scale", "degradation", "PSNR-Y dB", "SSIM-Y", "latency ms (median)", "bytes",
                "peak RSS MiB", "agreement with the reference output", "status"]
