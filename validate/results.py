"""Typed results of a validation run and their JSON form (report.json schema).

JSON has no infinity: an infinite PSNR (identical images) is written as
``null`` with a companion flag ``"psnr_y_inf": true`` (likewise for
``psnr_rgb``), so strict JSON parsers and CI gates never see ``Infinity``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCHEMA_VERSION = "1.0"


def json_number(x: float | None, ndigits: int = 4) -> float | None:
    """A finite float rounded for JSON, or None for None/inf/nan."""
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), ndigits)


def mean_or_inf(values: list[float]) -> float | None:
    """Mean of per-image values (inf if any is inf); None for an empty list."""
    if not values:
        return None
    if any(math.isinf(v) for v in values):
        return math.inf
    return float(np.mean(values))


@dataclass
class ImageResult:
    """Metrics of one image in one result row."""

    name: str
    psnr_y: float
    ssim_y: float
    lr_size: tuple[int, int]  # (width, height) of the LR input
    psnr_rgb: float | None = None
    latency_ms: dict[str, float | int] | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``images[]`` entry of report.json."""
        d: dict[str, Any] = {
            "name": self.name,
            "psnr_y": json_number(self.psnr_y),
            "ssim_y": json_number(self.ssim_y, 6),
            "lr_size": list(self.lr_size),
        }
        if math.isinf(self.psnr_y):
            d["psnr_y_inf"] = True
        if self.psnr_rgb is not None:
            d["psnr_rgb"] = json_number(self.psnr_rgb)
            if math.isinf(self.psnr_rgb):
                d["psnr_rgb_inf"] = True
        if self.latency_ms is not None:
            d["latency_ms"] = self.latency_ms
        if self.notes:
            d["notes"] = self.notes
        return d


@dataclass
class ValidationResult:
    """One row: one artifact in one runtime on one dataset under one degradation."""

    artifact: str
    runtime: str
    dataset: str
    scale: int
    degradation: str
    label: str = ""
    family: str | None = None
    contract: str | None = None
    kind: str | None = None
    precision: str | None = None
    size_bytes: int | None = None
    params: int | None = None
    macs_per_pixel: int | None = None
    threads: int | None = None
    latency_ms: dict[str, float | int] | None = None
    latency_input: str | None = None
    peak_rss_mb: float | None = None
    images: list[ImageResult] = field(default_factory=list)
    parity: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Why the row has no metrics: "input" (never ran: bad artifact, scale, dataset, runtime choice),
    #: "runtime" (the runtime raised) or "crash" (its process died). Not in report.json; it picks the exit code.
    failure: str | None = field(default=None, compare=False)
    #: "full": metrics over every image of the set; "parity": the artifact ran only on the fixed parity
    #: crops in this runtime (it is not the runtime the file is made for), so the row carries parity alone.
    scope: str = "full"
    #: .tflite only: LiteRT's per-op GPU-delegate verdicts (sropt.convert.tflite_gpu), read by gpu_compatible gates.
    gpu_delegate: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """True when the row has metrics and no errors."""
        return not self.errors and bool(self.images)

    @property
    def psnr_y(self) -> float | None:
        """Mean Y PSNR over the images (dB)."""
        return mean_or_inf([i.psnr_y for i in self.images])

    @property
    def ssim_y(self) -> float | None:
        """Mean Y SSIM over the images."""
        return mean_or_inf([i.ssim_y for i in self.images])

    @property
    def psnr_rgb(self) -> float | None:
        """Mean RGB PSNR over the images, when computed."""
        vals = [i.psnr_rgb for i in self.images if i.psnr_rgb is not None]
        return mean_or_inf(vals) if vals else None

    def to_json(self) -> dict[str, Any]:
        """The ``results[]`` entry of report.json."""
        psnr = self.psnr_y
        d: dict[str, Any] = {
            "artifact": self.artifact,
            "label": self.label or self.artifact,
            "runtime": self.runtime,
            "dataset": self.dataset,
            "scale": self.scale,
            "degradation": self.degradation,
            "metric_protocol": f"BT.601 Y, crop_border={self.scale}, uint8-rounded output",
            "psnr_y": json_number(psnr),
            "ssim_y": json_number(self.ssim_y, 6),
            "latency_ms": self.latency_ms,
            "latency_input": self.latency_input,
            "size_bytes": self.size_bytes,
            "params": self.params,
            "macs_per_pixel": self.macs_per_pixel,
            "family": self.family,
            "contract": self.contract,
            "kind": self.kind,
            "precision": self.precision,
            "threads": self.threads,
            "peak_rss_mb": json_number(self.peak_rss_mb, 1),
            "parity": self.parity,
            "scope": self.scope,
            "images": [i.to_json() for i in self.images],
            "errors": self.errors,
            "notes": self.notes,
        }
        if self.gpu_delegate is not None:
            d["gpu_delegate"] = self.gpu_delegate
        if psnr is not None and math.isinf(psnr):
            d["psnr_y_inf"] = True
        if self.psnr_rgb is not None:
            d["psnr_rgb"] = json_number(self.psnr_rgb)
        return d


@dataclass
class Crop:
    """An HR-space crop of one image, shown side by side in report.html (sropt.validate.report_crops)."""

    dataset: str
    degradation: str
    image: str
    box: tuple[int, int, int]  # y0, x0, size in HR pixels
    panels: dict[str, np.ndarray] = field(default_factory=dict)  # title -> uint8 BGR crop
    psnr: dict[str, float] = field(default_factory=dict)  # title -> PSNR-Y of the crop against HR
    #: The output every heat map compares with (the source model's row) and the image's summed mean squared ΔY.
    reference: str = ""
    difference: float = 0.0
    heat: dict[str, np.ndarray] = field(default_factory=dict)  # title -> |ΔY| vs the reference, BGR heat map
    heat_max: float = 0.0  # ΔY levels at which the heat maps saturate
    missing: list[str] = field(default_factory=list)  # titles whose output could not be read


@dataclass
class ValidationReport:
    """Everything one `sropt validate` run measured."""

    environment: dict[str, Any]
    config: dict[str, Any]
    results: list[ValidationResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    crops: list[Crop] = field(default_factory=list)
    #: Things the reader should know that are not failures (a listed runtime that loads none of an artifact's kind).
    warnings: list[str] = field(default_factory=list)
    #: Wall seconds of the run, seconds inside the model (inference and latency repeats) and preparing sets.
    timing: dict[str, float] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION

    @property
    def errors(self) -> list[str]:
        """Every run-level problem and row error, for a one-glance summary."""
        return list(self.problems) + [f"{r.label} [{r.runtime}]: {e}" for r in self.results for e in r.errors]

    def to_json(self) -> dict[str, Any]:
        """The report.json document."""
        return {
            "schema_version": self.schema_version,
            "environment": self.environment,
            "config": self.config,
            "problems": self.problems,
            "warnings": self.warnings,
            "timing": self.timing,
            "results": [r.to_json() for r in self.results],
        }
