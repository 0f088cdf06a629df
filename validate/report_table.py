"""The results table as cells: one source for the terminal, report.md and report.html."""

from __future__ import annotations

import math

from sropt.validate.results import ValidationReport, ValidationResult


def fmt_psnr(x: float | None) -> str:
    """PSNR for tables: 2 decimals, 'inf' for identical images, '-' when missing."""
    if x is None:
        return "-"
    return "inf" if math.isinf(x) else f"{x:.2f}"


def fmt_ssim(x: float | None) -> str:
    """SSIM for tables: 4 decimals."""
    return "-" if x is None else f"{x:.4f}"


def fmt_ms(row: ValidationResult) -> str:
    """Median latency in ms for tables."""
    return "-" if not row.latency_ms else f"{row.latency_ms['median']:.1f}"


def fmt_parity(row: ValidationResult) -> str:
    """Share of pixels within 1 level of the reference row."""
    if not row.parity:
        return "-"
    return f"{100 * row.parity['within_1_level']:.3f}% (max {row.parity['max_abs_diff']})"


def table_rows(report: ValidationReport) -> list[list[str]]:
    """One list of cells per result, shared by the terminal, markdown and HTML tables."""
    rows = []
    for r in report.results:
        rows.append(
            [
                r.label,
                r.runtime,
                r.dataset,
                f"x{r.scale}",
                r.degradation,
                fmt_psnr(r.psnr_y),
                fmt_ssim(r.ssim_y),
                fmt_ms(r),
                "-" if r.size_bytes is None else f"{r.size_bytes:,}",
                "-" if r.peak_rss_mb is None else f"{r.peak_rss_mb:.0f}",
                fmt_parity(r),
                "error" if r.errors else ("parity only" if r.scope == "parity" else "ok"),
            ]
        )
    return rows


TABLE_HEADER = ["artifact", "runtime", "dataset", "scale", "degradation", "PSNR-Y dB", "SSIM-Y", "median ms", "bytes", "peak RSS MiB", "parity ≤1 level", "status"]
