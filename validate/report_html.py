"""report.html: the results table, side-by-side crops and a quality-vs-latency plot.

Everything is embedded (PNG as base64 data URIs) so the file can be mailed
or archived by CI as a single artifact.
"""

from __future__ import annotations

import base64
import html
import io
import math

from sropt.validate.imageio import encode_png
from sropt.validate.report import TABLE_HEADER, table_rows
from sropt.validate.results import ValidationReport

_CSS = """
body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}.err{color:#b00}
.crops{display:flex;flex-wrap:wrap;gap:10px}.crops figure{margin:0}
.crops img{width:192px;height:192px;image-rendering:pixelated;border:1px solid #999}
figcaption{font-size:12px;max-width:192px;word-break:break-all}
"""


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def quality_latency_plot(report: ValidationReport, dataset: str, degradation: str) -> bytes | None:
    """PNG scatter of PSNR-Y against median latency for one set, or None if nothing to plot."""
    points = [
        (r.latency_ms["median"], r.psnr_y, f"{r.label} [{r.runtime}]")
        for r in report.results
        if r.dataset == dataset and r.degradation == degradation and r.latency_ms and r.psnr_y is not None and math.isfinite(r.psnr_y)
    ]
    if not points:
        return None
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.8), dpi=100)
    markers = "osD^vP*X<>"
    for k, (ms, psnr, label) in enumerate(points):
        # A legend rather than point annotations: same-model rows sit on top of each other.
        ax.scatter([ms], [psnr], s=40, marker=markers[k % len(markers)], label=label, alpha=0.85)
    bicubic = next((r.psnr_y for r in report.results if r.runtime == "bicubic" and r.dataset == dataset and r.degradation == degradation), None)
    if bicubic is not None and math.isfinite(bicubic):
        ax.axhline(bicubic, color="grey", linestyle="--", linewidth=1, label=f"bicubic {bicubic:.2f} dB")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    latencies = [ms for ms, _, _ in points]
    log_x = min(latencies) > 0 and max(latencies) / min(latencies) > 20
    if log_x:  # only when the spread needs it: a log axis over a narrow range prints unreadable ticks
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.margins(x=0.1, y=0.15)
    ax.set_xlabel("median latency, ms" + (" (log)" if log_x else ""))
    ax.set_ylabel("PSNR-Y, dB")
    ax.set_title(f"{dataset}, {degradation}: quality vs latency")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def render_html(report: ValidationReport) -> str:
    """The self-contained report.html document."""
    esc = html.escape
    env = report.environment
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>sropt validation report</title>",
        f"<style>{_CSS}</style></head><body><h1>sropt validation report</h1>",
        f"<p>PSNR/SSIM on BT.601 Y, crop_border = scale, uint8-rounded outputs. "
        f"{esc(str(env.get('cpu')))}, {env.get('cores')} cores, {env.get('threads')} threads. Schema {esc(report.schema_version)}.</p>",
        "<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in TABLE_HEADER) + "</tr>",
    ]
    for row in table_rows(report):
        cls = "" if row[-1] == "ok" else " class='err'"
        parts.append(f"<tr{cls}>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
    parts.append("</table>")
    if report.errors:
        parts.append("<h2>Problems and errors</h2><ul>" + "".join(f"<li>{esc(p)}</li>" for p in report.errors) + "</ul>")
    for crop in report.crops:
        y0, x0, n = crop.box
        parts.append(
            f"<h2>{esc(crop.dataset)} x{report.config.get('scale')} ({esc(crop.degradation)}): "
            f"{esc(crop.image)}, {n}x{n} px at ({x0},{y0})</h2><div class='crops'>"
        )
        for title, img in crop.panels.items():
            parts.append(f"<figure><img alt='{esc(title)}' src='{_data_uri(encode_png(img))}'><figcaption>{esc(title)}</figcaption></figure>")
        parts.append("</div>")
        plot = quality_latency_plot(report, crop.dataset, crop.degradation)
        if plot is not None:
            parts.append(f"<p><img class='plot' alt='quality vs latency' src='{_data_uri(plot)}'></p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
