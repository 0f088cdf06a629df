"""Writing a ValidationReport: report.json, report.md and report.html (atomically)."""

from __future__ import annotations

import json
from pathlib import Path

from sropt.core.atomic import write_text_atomic
from sropt.validate.report_table import TABLE_HEADER, fmt_psnr, fmt_ssim, table_rows
from sropt.validate.results import ValidationReport


def write_report(report: ValidationReport, out_dir: Path | str) -> dict[str, Path]:
    """Write the three report files into ``out_dir``; return {"json"|"md"|"html": path}."""
    from sropt.validate.report_html import html_context, render_html

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        from sropt.core.errors import InputError

        raise InputError(f"--out {out}: exists and is not a folder; give a folder for the reports.")
    out.mkdir(parents=True, exist_ok=True)
    context = html_context(report)
    # The page's data, so `sropt run` renders the same template inside its own page (no splicing).
    write_text_atomic(out / "report.context.json", json.dumps(context) + "\n")
    return {
        "json": write_text_atomic(out / "report.json", report_json(report)),
        "md": write_text_atomic(out / "report.md", render_markdown(report)),
        "html": write_text_atomic(out / "report.html", render_html(report, context)),
    }


def report_json(report: ValidationReport) -> str:
    """report.json text (strict JSON: no NaN/Infinity)."""
    return json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n"


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
    n_crops = max((len(v) for v in report.config.get("parity_crops", {}).values()), default=0)
    if n_crops:
        lines += ["", f"Parity: pixels within 1 level of the reference row (same model) on {n_crops} fixed LR crop(s) per set, "
                  "run in every runtime that loads each file; 'parity only' rows ran just those crops (full-set metrics "
                  "come from the runtime the file is made for)."]
    if report.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report.warnings]
    if report.errors:
        lines += ["", "## Problems and errors", ""] + [f"- {p}" for p in report.errors]
    lines += _artifact_notes(report)
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


def _artifact_notes(report: ValidationReport) -> list[str]:
    """Each artifact's notes once (its rows in every runtime and dataset repeat them), e.g. its CPU target."""
    seen: dict[str, list[str]] = {}
    for r in report.results:
        notes = seen.setdefault(r.label, [])
        notes += [n for n in r.notes if n not in notes]
    lines = [f"- {label}: {note}" for label, notes in seen.items() for note in notes]
    return ["", "## Notes", ""] + lines if lines else []
