"""The report's plots: quality against latency and against file size, one figure per dataset, bicubic drawn in.

Built from report.json rows (plain dicts): one point per artifact in the
runtime it was measured in on the full set; parity-only rows have no
metrics. Bicubic has no latency or size of its own, so it is the dashed
line every point must stay above.
"""

from __future__ import annotations

import io
import math
from typing import Any

from sropt.validate.report_summary import BICUBIC, artifact_name, dataset_name
from sropt.validate.report_words import runtime_name


def plot_points(report: dict[str, Any], dataset: str) -> list[dict[str, Any]]:
    """(label, PSNR-Y, latency ms, size MB) of every full-set row on ``dataset`` that has a PSNR."""
    points = []
    for r in report.get("results", []):
        psnr = r.get("psnr_y")
        if r.get("artifact") == BICUBIC or r.get("scope") == "parity" or dataset_name(r) != dataset or psnr is None:
            continue
        latency = (r.get("latency_ms") or {}).get("median")
        size = r.get("size_bytes")
        points.append({"label": f"{artifact_name(r)} [{runtime_name(r.get('runtime'))}]", "psnr": float(psnr),
                       "latency": float(latency) if latency else None, "size_mb": size / 1e6 if size else None})
    return points


def quality_plot(report: dict[str, Any], dataset: str) -> bytes | None:
    """PNG: PSNR-Y against median latency (left) and against file size (right) on ``dataset``; None if nothing to plot."""
    points = plot_points(report, dataset)
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bicubic = next((r.get("psnr_y") for r in report.get("results", []) if r.get("artifact") == BICUBIC and dataset_name(r) == dataset), None)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), dpi=100, sharey=True)
    _scatter(axes[0], points, "latency", "median latency, ms", bicubic)
    _scatter(axes[1], points, "size_mb", "file size, MB", bicubic)
    axes[0].set_ylabel("PSNR-Y, dB")
    fig.suptitle(f"{dataset}: quality vs latency and vs size (up and to the left is better)", fontsize=11)
    legend = {}
    for ax in axes:  # a point without a latency still has a size: take every label once
        legend.update({label: handle for handle, label in zip(*ax.get_legend_handles_labels())})
    labels, handles = list(legend), list(legend.values())
    if labels:
        fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=min(4, len(labels)), frameon=False)
    fig.tight_layout(rect=(0, 0.06 * math.ceil(len(labels) / 4) + 0.02, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _scatter(ax: Any, points: list[dict[str, Any]], key: str, xlabel: str, bicubic: float | None) -> None:
    import matplotlib.ticker

    markers = "osD^vP*X<>"
    shown = [p for p in points if p[key]]
    for k, p in enumerate(points):
        # A legend rather than point labels: rows of one model in several formats sit on top of each other.
        if p[key]:
            ax.scatter([p[key]], [p["psnr"]], s=45, marker=markers[k % len(markers)], label=p["label"], alpha=0.85)
    if bicubic is not None and math.isfinite(bicubic):
        ax.axhline(bicubic, color="grey", linestyle="--", linewidth=1, label=f"bicubic {bicubic:.2f} dB")
    values = [p[key] for p in shown]
    if values and min(values) > 0 and max(values) / min(values) > 20:  # a log axis over a narrow range prints no ticks
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        xlabel += " (log)"
    if not shown:
        ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", color="grey")
    ax.margins(x=0.15, y=0.2)
    ax.set_xlabel(xlabel)
    ax.grid(True, alpha=0.3)
