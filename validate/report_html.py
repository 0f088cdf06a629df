"""report.html: the results table, side-by-side crops and a quality-vs-latency plot.

Everything is embedded (PNG as base64 data URIs) so the file can be mailed
or archived by CI as a single artifact.
"""

from __future__ import annotations

import base64
import io
import math

from sropt.validate.imageio import encode_png
from sropt.validate.report_table import TABLE_HEADER, table_rows
from sropt.validate.results import ValidationReport

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


def templates():
    """The jinja2 environment over validate/templates (shared by `validate` and `run` pages)."""
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("sropt.validate", "templates"), autoescape=True)


def html_context(report: ValidationReport) -> dict:
    """Everything validation_body.html shows, JSON-serialisable (images as data URIs)."""
    env = report.environment
    crops = []
    for crop in report.crops:
        y0, x0, n = crop.box
        panels = []
        for title, img in crop.panels.items():
            try:
                src = _data_uri(encode_png(img))
            except Exception:  # an unreadable panel is stated in place, never a traceback
                src = None
            panels.append({"title": title, "src": src})
        crops.append({"heading": f"{crop.dataset} x{report.config.get('scale')} ({crop.degradation}): {crop.image}, {n}x{n} px at ({x0},{y0})", "panels": panels})
    plots = []
    for ds, degr in dict.fromkeys((c.dataset, c.degradation) for c in report.crops):
        png = quality_latency_plot(report, ds, degr)
        if png is not None:
            plots.append({"alt": f"{ds} {degr}: quality vs latency", "src": _data_uri(png)})
    return {
        "protocol": "PSNR/SSIM on BT.601 Y, crop_border = scale, uint8-rounded outputs.",
        "environment": f"{env.get('cpu')}, {env.get('cores')} cores, {env.get('threads')} threads. Schema {report.schema_version}.",
        "header": TABLE_HEADER, "rows": table_rows(report), "errors": report.errors, "warnings": report.warnings, "crops": crops, "plots": plots,
    }


def render_html(report: ValidationReport, context: dict | None = None) -> str:
    """The self-contained report.html document."""
    v = context if context is not None else html_context(report)
    return templates().get_template("validate.html").render(title="sropt validation report", v=v) + "\n"
