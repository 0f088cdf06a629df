"""Plain words for a report's technical columns: runtime and format names, parity sentences, gate phrases.

A reader who has not read the docs should understand every cell: "identical
to its ONNX Runtime output on 99.99% of pixels, never more than 1 level off"
instead of ``99.936% (max 238)``; "PSNR-Y at most 0.4 dB below the source"
instead of ``psnr_y max_drop 0.4 vs source``. Every function takes report.json
values (plain dicts), so `sropt validate`, `sropt run` and sweeps share them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

RUNTIME_NAMES = {"opencv": "OpenCV", "ort": "ONNX Runtime", "tflite": "LiteRT", "tf": "TensorFlow", "bicubic": "bicubic"}
KIND_NAMES = {"pb": "TF graph (.pb)", "onnx": "ONNX", "tflite": "TFLite"}
METRIC_NAMES = {"psnr_y": "PSNR-Y", "psnr_rgb": "PSNR-RGB", "ssim_y": "SSIM-Y", "size_bytes": "size", "latency_ms": "latency"}
METRIC_UNITS = {"psnr_y": " dB", "psnr_rgb": " dB"}
#: The anchor of the section that explains the columns (docs/validate.md, "Reading a report"); every page carries it.
EXPLAINED = "how-to-read"


def runtime_name(runtime: str | None) -> str:
    """``ONNX Runtime`` for ``ort``; unknown names as they are."""
    return RUNTIME_NAMES.get(str(runtime), str(runtime))


def format_name(kind: str | None, precision: str | None) -> str:
    """``TFLite int8``, ``ONNX float32``, ``TF graph (.pb) quint8-weights``."""
    return " ".join(x for x in (KIND_NAMES.get(str(kind), str(kind or "-")), precision) if x)


def percent(share: float) -> str:
    """A share as a percentage that never rounds up to 100% (99.9996% prints as 99.99%, not 100.00%)."""
    value = 100 * share
    if share < 1:
        value = min(math.floor(value * 100) / 100, 99.99)
    return f"{value:.2f}%".replace(".00%", "%")


def parity_sentence(parities: list[dict[str, Any]], artifact: str) -> str:
    """One sentence for ``artifact``'s parity figures in one runtime (several datasets: the worst of them).

    ``identical`` and ``within_1_level`` are shares of the SR pixel values on
    the fixed parity crops; ``max_abs_diff`` is in uint8 levels.
    """
    identical = min(p["identical"] for p in parities)
    within = min(p["within_1_level"] for p in parities)
    worst = max(p["max_abs_diff"] for p in parities)
    ref = reference_words(parities[0].get("reference", ""), artifact)
    if worst == 0:
        return f"identical to {ref} on every pixel"
    if worst == 1:
        return f"identical to {ref} on {percent(identical)} of pixels, never more than 1 level off"
    return f"identical to {ref} on {percent(identical)} of pixels, within 1 level on {percent(within)}, at most {worst} levels off"


def reference_words(reference: str, artifact: str) -> str:
    """``its ONNX Runtime output`` when the reference is the same file, else ``FSRCNN_x3.pb in OpenCV``."""
    path, _, runtime = str(reference).rpartition(" [")
    runtime = runtime.rstrip("]")
    if Path(path).name == Path(artifact).name:
        return f"its {runtime_name(runtime)} output"
    return f"{Path(path).name} in {runtime_name(runtime)}"


def gate_phrase(gate: dict[str, Any]) -> str:
    """A gate result's rule in words: ``PSNR-Y at most 0.4 dB below the source``."""
    metric, kind, bound = str(gate.get("metric")), str(gate.get("kind")), float(gate.get("bound", 0.0))
    name, unit = METRIC_NAMES.get(metric, metric), METRIC_UNITS.get(metric, "")
    against = str(gate.get("gate", "")).rpartition(" vs ")[2] if " vs " in str(gate.get("gate", "")) else ""
    ref = {"source": "the source", "bicubic": "bicubic", "baseline": "the baseline"}.get(against, against)
    if metric == "latency_ms" and against == "baseline":
        return f"latency relative to the source at most {bound:g}x the baseline's"
    if kind == "max_drop":
        return f"{name} at most {bound:g}{unit} below {ref}"
    if kind == "min_gain":
        return f"{name} at least {bound:g}{unit} above {ref}"
    if kind == "max_ratio":
        return f"{name} at most {bound:g}x {ref}"
    op = ">=" if kind == "min" else "<="
    return f"{name} {op} {bound:g}{unit}"


def size_words(n: int | None) -> str:
    """``526.5 KB`` (1024-based, like file managers); ``-`` when unknown."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def signed(x: float | None, digits: int = 2) -> str:
    """``+0.12`` / ``-0.18``; ``-`` when missing."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:+.{digits}f}"
