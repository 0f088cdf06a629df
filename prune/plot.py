"""The sensitivity plot: calibration PSNR change against ratio, one line per group."""

from __future__ import annotations

import io
from pathlib import Path

from sropt.core.atomic import write_bytes_atomic
from sropt.prune.sensitivity import SensitivityRow


def write_sensitivity_plot(rows: list[SensitivityRow], dest: Path, title: str, inputs: tuple[Path, ...] = ()) -> Path:
    """Render ``rows`` as a PNG (matplotlib Agg) and write it atomically to ``dest``."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    groups = list(dict.fromkeys(r.group for r in rows))
    for g in groups:
        pts = sorted((r.ratio, r.delta) for r in rows if r.group == g)
        ax.plot([0.0] + [p[0] for p in pts], [0.0] + [p[1] for p in pts], marker="o", label=g)
    ax.set_xlabel("fraction of the group's channels removed")
    ax.set_ylabel("calibration PSNR change (dB, Y, crop=scale)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if len(groups) <= 12:
        ax.legend(fontsize=7)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return write_bytes_atomic(Path(dest), buf.getvalue(), inputs=inputs)
