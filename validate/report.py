"""Writing a ValidationReport: report.json, report.md and report.html (atomically)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from sropt.core.atomic import write_text_atomic
from sropt.validate.results import ValidationReport, ValidationResult


def write_report(report: ValidationReport, out_dir: Path | str) -> dict[str, Path]:
    """Write the three report files into ``out_dir``; return {"json"|"md"|"html": path}."""
    from sropt.validate.report_html import render_html

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        from sropt.core.errors import InputError

        raise InputError(f"--out {out}: exists and is not a folder; give a folder for the reports.")
    out.mkdir(parents=True, exist_ok=True)
    return {
        "json": write_text_atomic(out / "report.json", report_json(report)),
        "md": write_text_atomic(out / "report.md", render_markdown(report)),
        "html": write_text_atomic(out / "report.html", render_html(report)),
    }


def report_json(report: ValidationReport) -> str:
    """report.json text (strict JSON: no NaN/Infinity)."""
    return json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n"


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
                "error" if r.errors else "ok",
            ]
        )
    return rows


TABLE_HEADER = ["artifact", "runtime", "dataset", "scale", "degradation", "PSNR-Y dB", "SSIM-Y", "median ms", "bytes", "peak RSS MiB", "parity ≤1 level", "status"]


def render_markdown(report: ValidationReport) -> str:
    """report.md: protocol, environment, the results table, per-image numbers and problems."""
    env = report.environment
    lines = [
        "# sropt validation report",
        "",
        f"Schema {report.schema_version}. Metrics: PSNR/SSIM on BT.601 Y, crop_border = scale, uint8-rounded outputs "
        "(BasicSR protocol). Latency: model execution only (pre/post-processing excluded), "
        f"{report.config.get('repeats')} timed repeats after warm-up.",
        "",
        f"Environment: {env.get('cpu')}, {env.get('cores')} cores, {env.get('threads')} threads, Python {env.get('python')}.",
        "",
        "| " + " | ".join(TABLE_HEADER) + " |",
        "|" + "---|" * len(TABLE_HEADER),
    ]
    lines += ["| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in table_rows(report)]
    if report.errors:
        lines += ["", "## Problems and errors", ""] + [f"- {p}" for p in report.errors]
    lines += ["", "## Per image", ""]
    for r in report.results:
        if not r.images:
            continue
        lines.append(f"### {r.label} [{r.runtime}] {r.dataset} x{r.scale} {r.degradation}")
        lines.append("")
        lines.append("| image | PSNR-Y | SSIM-Y | median ms |")
        lines.append("|---|---|---|---|")
        for i in r.images:
            ms = f"{i.latency_ms['median']:.1f}" if i.latency_ms else "-"
            lines.append(f"| {i.name} | {fmt_psnr(i.psnr_y)} | {fmt_ssim(i.ssim_y)} | {ms} |")
        lines.append("")
    return "\n".join(lines) + "\n"
