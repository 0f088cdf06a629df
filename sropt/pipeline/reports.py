"""The run folder's report.json / report.md / report.html.

The validation stage renders the per-artifact tables, crops and plot; the
run adds the pipeline summary (each step's status, time, size and PSNR-Y
delta against the source model) and the gate results on top. Every PSNR
line states its protocol (Y channel, border crop = scale, degradation).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt_size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _protocol(report: dict[str, Any]) -> str:
    rows = [r for r in report.get("results", []) if r.get("psnr_y") is not None]
    degr = sorted({str(r.get("degradation")) for r in rows})
    scales = sorted({str(r.get("scale")) for r in rows})
    return (
        f"PSNR/SSIM on BT.601 Y, border crop = scale ({', '.join(scales) or '-'}), "
        f"LR by {', '.join(degr) or '-'}; deltas are against the source model on the same dataset "
        "(same runtime when the source ran in it, else OpenCV)."
    )


def summary_markdown(report: dict[str, Any]) -> str:
    """The pipeline summary and results as markdown."""
    p = report["pipeline"]
    datasets = list(dict.fromkeys(ds for s in p["summary"] for ds in s["psnr_y"]))
    name, sha = _model_identity(p)
    lines = [f"# sropt run: {p['name']}", "", f"Model `{name}`" + (f" (sha256 {sha})" if sha else "") + f", sropt {p['sropt_version']}.", ""]
    if p.get("bundled_stand_in"):
        lines += ["**Ran on the bundled stand-in model, not a model you gave.**", ""]
    if p.get("description"):  # e.g. edsr_x3_demo says it ran on the bundled stand-in, not EDSR_x3.pb
        lines += [f"> {p['description']}", ""]
    status = "passed" if p.get("passed", True) else "FAILED"
    if p.get("gate_results") is not None:
        n_fail = sum(g["status"] in ("fail", "error") for g in p["gate_results"])
        lines += [f"**Gates: {status}** ({len(p['gate_results'])} checks, {n_fail} failed). See gates.md.", ""]
    head = "| step | status | build time (s) | artifact | size |" + "".join(f" PSNR-Y {d} | Δ {d} |" for d in datasets)
    lines += ["## Pipeline", "", head, "|" + "---|" * (5 + 2 * len(datasets))]
    for s in p["summary"]:
        cells = [s["step"], s["status"], f"{s['seconds']:.1f}", f"`{s['artifact']}`" if s["artifact"] else "-", _fmt_size(s["size_bytes"])]
        for d in datasets:
            v = s["psnr_y"].get(d)
            dv = s["psnr_delta"].get(d)
            cells.append(f"{v:.2f} ({s['runtime']})" if v is not None else "-")
            cells.append(f"{dv:+.2f}" if dv is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    notes = payoff_notes(p)
    if notes:
        lines += ["", *(f"- **{step}**: {note}" for step, note in notes)]
    lines += ["", _protocol(report), "", "## Results", "", "| artifact | runtime | dataset | PSNR-Y (dB) | SSIM-Y | latency median (ms) | size |", "|---|---|---|---|---|---|---|"]
    for r in report.get("results", []):
        lat = (r.get("latency_ms") or {}).get("median")
        psnr, ssim = r.get("psnr_y"), r.get("ssim_y")
        lines.append(
            f"| {r.get('stage') or r.get('artifact')} | {r.get('runtime')} | {Path(str(r.get('dataset'))).name} | "
            f"{f'{psnr:.2f}' if psnr is not None else '; '.join(r.get('errors') or ['-'])} | {f'{ssim:.4f}' if ssim is not None else '-'} | "
            f"{f'{lat:.1f}' if lat is not None else '-'} | {_fmt_size(r.get('size_bytes'))} |"
        )
    return "\n".join(lines) + "\n"


def payoff_notes(p: dict[str, Any]) -> list[tuple[str, str]]:
    """(step, sentence) for each quantized artifact that is larger or slower than its float parent, or was skipped for it."""
    skipped = {s["name"]: s["note"] for s in p.get("steps", []) if "skip_if_not_smaller" in (s.get("note") or "")}
    out = []
    for s in p["summary"]:
        note = (s.get("payoff") or {}).get("note")
        if note:
            out.append((s["step"], note + (f"; {skipped[s['step']]}" if s["step"] in skipped else "")))
    return out


def _shift_headings(md: str) -> str:
    """Nest a validation report.md under the run's "## Validation report": drop its H1, demote the rest one level."""
    out, in_code = [], False
    for line in md.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and line.startswith("# "):
            continue
        out.append("#" + line if not in_code and line.startswith("#") else line)
    return "\n".join(out).strip("\n") + "\n"


def _model_identity(p: dict[str, Any]) -> tuple[str, str | None]:
    """The model's file name (for a path) or registry name, and its sha256 as the runner hashed it."""
    model = str(p.get("model") or "-")
    path = Path(model)
    sha = p.get("model_sha256")
    return (path.name if path.is_file() else model), (sha[:16] if sha else None)


def _load_validation_context(validate_dir: Path | None) -> tuple[dict | None, str]:
    """The validation page's data, or None and a sentence saying why it is missing."""
    if validate_dir is None:
        return None, "This pipeline has no validate step."
    ctx = Path(validate_dir) / "report.context.json"
    try:
        return json.loads(ctx.read_text(encoding="utf-8")), ""
    except (OSError, ValueError) as e:
        return None, f"Validation results could not be read from {ctx}: {e}"


def summary_html(report: dict[str, Any], validate_dir: Path | None = None) -> str:
    """The whole run report.html, from run.html (same base layout as the validate page)."""
    from sropt.validate.report_html import templates

    p = report["pipeline"]
    datasets = list(dict.fromkeys(ds for s in p["summary"] for ds in s["psnr_y"]))
    header = ["step", "status", "build time (s)", "artifact", "size"] + [c for d in datasets for c in (f"PSNR-Y {d}", f"Δ {d}")]
    rows = []
    for s in p["summary"]:
        cells = [s["step"], s["status"], f"{s['seconds']:.1f}", s["artifact"] or "-", _fmt_size(s["size_bytes"])]
        for d in datasets:
            v, dv = s["psnr_y"].get(d), s["psnr_delta"].get(d)
            cells += [f"{v:.2f} ({s['runtime']})" if v is not None else "-", f"{dv:+.2f}" if dv is not None else "-"]
        rows.append(cells)
    gates = [
        {"status": g["status"], "gate": g["gate"], "stage": g.get("stage") or "-", "runtime": g.get("runtime") or "-",
         "dataset": Path(g.get("dataset") or "-").name, "message": g["message"]}
        for g in p.get("gate_results") or []
    ]
    v, v_missing = _load_validation_context(validate_dir)
    name, sha = _model_identity(p)
    return templates().get_template("run.html").render(
        title=f"sropt run {p['name']}", p=p, model_name=name, model_sha=sha, summary_header=header, summary_rows=rows,
        protocol=_protocol(report), payoff_notes=payoff_notes(p), gates=gates, v=v, v_missing=v_missing,
    ) + "\n"


def write_run_reports(report: dict[str, Any], out_dir: Path, *, validate_dir: Path | None = None) -> None:
    """Write report.json, report.md and report.html into ``out_dir`` (a staging folder)."""
    out_dir = Path(out_dir)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    md = summary_markdown(report)
    if validate_dir is not None:
        vmd = Path(validate_dir) / "report.md"
        if vmd.is_file():
            md += "\n## Validation report\n\n" + _shift_headings(vmd.read_text(encoding="utf-8"))
    (out_dir / "report.md").write_text(md, encoding="utf-8")
    (out_dir / "report.html").write_text(summary_html(report, validate_dir), encoding="utf-8")
