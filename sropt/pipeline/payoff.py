"""Whether a quantized artifact pays: smaller and faster than the float file it came from (issue 15, item 5).

Quantization is meant to buy size and speed with a little quality. It does
not always: FSRCNN_x3's ORT INT8 file was measured at 31 KB against 20 KB
for the float ONNX it came from, and slower (48 vs 32 ms), because the
Quantize/Dequantize pairs and per-channel scales outweigh 12 K weights and
the int8 kernels do not beat float ones at 56 channels. The run report says
so in one plain sentence rather than leaving the reader to compare rows.

Size comes from the two files. Latency is compared only in the same runtime
(the quantized artifact's own: ORT for .onnx, LiteRT for .tflite), from the
validation rows' median; a TFLite file made from a .pb has no float parent
in LiteRT, so only its size is compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The runtime a quantized artifact is judged in, by file kind.
OWN_RUNTIME = {"onnx": "ort", "tflite": "tflite"}
#: Modes that are not a quantization (a float32 .tflite is a format change).
FLOAT_MODES = ("float32",)
#: Latency ratio below which "slower" is not claimed: repeated medians of the
#: same file differ by a few percent on a shared 2-core machine.
SLOWER_MARGIN = 1.05

_PARENT_LABELS = {"onnx": "float ONNX", "pb": "float graph (.pb)", "tflite": "float TFLite"}


@dataclass(frozen=True)
class Payoff:
    """A quantized artifact against its float parent: ratios, and a sentence when it does not pay."""

    step: str
    parent: str
    size_ratio: float  # artifact bytes / parent bytes
    latency_ratio: float | None  # artifact median / parent median, same runtime; None: not both measured
    runtime: str | None  # where the latencies were measured
    note: str | None  # plain sentence when the artifact is larger or slower, else None

    @property
    def pays(self) -> bool:
        """True when the artifact is neither larger nor slower than its parent."""
        return self.note is None

    def to_json(self) -> dict[str, Any]:
        """JSON form for report.json's summary rows."""
        return {"parent": self.parent, "size_ratio": round(self.size_ratio, 3),
                "latency_ratio": None if self.latency_ratio is None else round(self.latency_ratio, 3),
                "runtime": self.runtime, "pays": self.pays, "note": self.note}


def precision_label(step: str) -> str | None:
    """``INT8`` for ``quantize.onnx.int8-arm64``; None for a step that is not a quantization."""
    parts = step.split(".")
    if len(parts) < 3 or parts[0] != "quantize":
        return None
    mode = parts[2].split("-")[0]
    return None if mode in FLOAT_MODES else mode.upper()


def judge(step: str, parent: str, parent_kind: str, size: int, parent_size: int,
          latency_ms: float | None = None, parent_latency_ms: float | None = None,
          runtime: str | None = None) -> Payoff:
    """Compare one quantized artifact with its parent; the note names both ratios that lose."""
    size_ratio = size / parent_size
    latency_ratio = latency_ms / parent_latency_ms if latency_ms and parent_latency_ms else None
    losses = []
    if size_ratio > 1.0:
        losses.append(f"{times(size_ratio)} larger")
    if latency_ratio is not None and latency_ratio >= SLOWER_MARGIN:
        losses.append(f"{times(latency_ratio)} slower{f' in {runtime}' if runtime else ''}")
    note = None
    if losses:
        label = precision_label(step) or "the quantized file"
        note = (f"{label} is {' and '.join(losses)} than the {_PARENT_LABELS.get(parent_kind, 'float file')} "
                f"it came from ({parent}): keep the float one")
    return Payoff(step, parent, size_ratio, latency_ratio, runtime if latency_ratio is not None else None, note)


def times(ratio: float) -> str:
    """``1.5x``; two decimals near 1 so a small loss does not print as ``1.0x``."""
    return f"{ratio:.2f}x" if ratio < 1.095 else f"{ratio:.1f}x"


def median_latency(rows: list[dict[str, Any]], step: str, runtime: str) -> float | None:
    """The validation rows' latency median (ms) of ``step`` in ``runtime`` (the same on every dataset row)."""
    for r in rows:
        median = (r.get("latency_ms") or {}).get("median")
        if r.get("stage") == step and r.get("runtime") == runtime and median is not None:
            return float(median)
    return None


def payoffs(summary: list[dict[str, Any]], rows: list[dict[str, Any]], parents: dict[str, str]) -> dict[str, Payoff]:
    """Per quantized step of ``summary`` (its rows: ``step``, ``artifact`` file name, ``size_bytes``): its payoff.

    ``parents`` maps a step to the step it was made from; ``rows`` are the
    run's validation rows (with ``stage`` set). A step kept out of
    validation (``skip_if_not_smaller``) is still judged on size.
    """
    by_step = {s["step"]: s for s in summary}
    out = {}
    for step, item in by_step.items():
        parent = by_step.get(parents.get(step, ""))
        if precision_label(step) is None or parent is None or not item.get("size_bytes") or not parent.get("size_bytes"):
            continue
        kind, parent_kind = _kind(item), _kind(parent)
        runtime = OWN_RUNTIME.get(kind)
        lat = median_latency(rows, step, runtime) if runtime else None
        parent_lat = median_latency(rows, parent["step"], runtime) if runtime else None
        out[step] = judge(step, parent["step"], parent_kind, item["size_bytes"], parent["size_bytes"], lat, parent_lat, runtime)
    return out


def _kind(item: dict[str, Any]) -> str:
    """``onnx`` for a summary row whose artifact is ``x.onnx``."""
    return Path(str(item.get("artifact") or "")).suffix.lstrip(".")


def add_payoffs(summary: list[dict[str, Any]], rows: list[dict[str, Any]], parents: dict[str, str]) -> list[dict[str, Any]]:
    """``summary`` with a ``payoff`` entry on each quantized step's row (in place; returned for chaining)."""
    found = payoffs(summary, rows, parents)
    for item in summary:
        if item["step"] in found:
            item["payoff"] = found[item["step"]].to_json()
    return summary


def skip_note(step: str, skip_if_not_smaller: bool, size: int | None, parent: str, parent_size: int | None) -> str | None:
    """Why ``step``'s artifact is dropped from the run (not smaller than ``parent``'s), or None to keep it."""
    if not skip_if_not_smaller or not size or not parent_size or size < parent_size:
        return None
    return (f"skipped (skip_if_not_smaller): {size:,} bytes is not smaller than {parent}'s {parent_size:,}; "
            "not validated, gated or copied to the run folder")
