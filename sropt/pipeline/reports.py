"""The run folder's report.json / report.md / report.html.

The validation stage renders the per-artifact tables, crops and plot; the
run adds the pipeline summary (each step's status, time, size and PSNR-Y
delta against the source model) and the gate results on top. Every PSNR
line states its protocol (Y channel, border crop = scale, degradation).
"""

from __future__ import annotations

import html
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
    lines = [f"# sropt run: {p['name']}", "", f"Model `{p['model']}`, sropt {p['sropt_version']}.", ""]
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


def summary_html(report: dict[str, Any]) -> str:
    """The pipeline summary as an HTML fragment (a <section>)."""
    p = report["pipeline"]
    datasets = list(dict.fromkeys(ds for s in p["summary"] for ds in s["psnr_y"]))
    e = html.escape
    head = "".join(f"<th>PSNR-Y {e(d)}</th><th>Δ {e(d)}</th>" for d in datasets)
    rows = []
    for s in p["summary"]:
        cells = [e(s["step"]), e(s["status"]), f"{s['seconds']:.1f}", e(s["artifact"] or "-"), _fmt_size(s["size_bytes"])]
        for d in datasets:
            v, dv = s["psnr_y"].get(d), s["psnr_delta"].get(d)
            cells += [f"{v:.2f} ({e(str(s['runtime']))})" if v is not None else "-", f"{dv:+.2f}" if dv is not None else "-"]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    gates = ""
    if p.get("gate_results"):
        grows = "".join(
            f"<tr class='{e(g['status'])}'><td>{e(g['status'])}</td><td>{e(g['gate'])}</td><td>{e(g.get('stage') or '-')}</td>"
            f"<td>{e(g.get('runtime') or '-')}</td><td>{e(Path(g.get('dataset') or '-').name)}</td><td>{e(g['message'])}</td></tr>"
            for g in p["gate_results"]
        )
        gates = f"<h2>Gates: {'passed' if p.get('passed') else 'FAILED'}</h2><table><tr><th>status</th><th>gate</th><th>artifact</th><th>runtime</th><th>dataset</th><th>result</th></tr>{grows}</table>"
    return (
        f"<section id='sropt-pipeline'><h1>sropt run: {e(p['name'])}</h1><p>Model <code>{e(p['model'])}</code>, sropt {e(p['sropt_version'])}.</p>"
        f"{'<p><strong>' + e(p['description']) + '</strong></p>' if p.get('description') else ''}"
        f"<h2>Pipeline</h2><table><tr><th>step</th><th>status</th><th>build time (s)</th><th>artifact</th><th>size</th>{head}</tr>{''.join(rows)}</table>"
        f"<p>{e(_protocol(report))}</p>{gates}</section>"
    )


STYLE = (
    "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:4px 8px}tr.fail td,tr.error td{background:#fdd}tr.pass td{background:#efe}</style>"
)


def write_run_reports(report: dict[str, Any], out_dir: Path, *, validate_dir: Path | None = None) -> None:
    """Write report.json, report.md and report.html into ``out_dir`` (a staging folder)."""
    out_dir = Path(out_dir)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    md = summary_markdown(report)
    section = summary_html(report)
    body = ""
    if validate_dir is not None:
        # The validation stage's own HTML (crops, scatter plot) follows the summary.
        vhtml = validate_dir / "report.html"
        if vhtml.is_file():
            text = vhtml.read_text(encoding="utf-8")
            lo, hi = text.find("<body"), text.rfind("</body>")
            if lo != -1 and hi != -1:
                body = text[text.index(">", lo) + 1:hi]
        vmd = validate_dir / "report.md"
        if vmd.is_file():
            md += "\n## Validation report\n\n" + vmd.read_text(encoding="utf-8")
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>sropt run {html.escape(report['pipeline']['name'])}</title>{STYLE}</head><body>{section}{body}</body></html>\n"
    (out_dir / "report.md").write_text(md, encoding="utf-8")
    (out_dir / "report.html").write_text(page, encoding="utf-8")
