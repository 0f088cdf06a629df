"""The typed configuration of a validation run (what `sropt validate` flags build)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sropt.core.errors import ConfigError
from sropt.validate.degradation import DEFAULT_DEGRADATION, DEGRADATIONS
from sropt.validate.inference import DEFAULT_OVERLAP


@dataclass
class ValidationConfig:
    """Everything a validation run needs besides the artifacts.

    ``runtimes`` bounds the runtimes that may be used (None: all of them).
    Each artifact runs on the full sets only in the runtime its file is made
    for (.pb in OpenCV, .onnx in ONNX Runtime, .tflite in LiteRT; the first of
    ``OWN_RUNTIMES`` that is allowed), and on the fixed parity crops
    (``parity_images`` images per set, a ``parity_crop`` LR px window each) in
    every other allowed runtime that loads it; a listed runtime that loads none
    of an artifact's kind is one warning. ``all_runtimes`` restores full-set
    rows in every allowed runtime that loads it; with it an explicit runtime
    that cannot load an artifact gives error rows, unless ``skip_incompatible``. ``bench_size`` is the LR side of the
    synthetic input the headline latency is measured on (0: use the dataset
    images). ``isolate`` runs each artifact x runtime in its own spawned
    process so peak RSS is per runtime.
    """

    datasets: list[str | Path] = field(default_factory=lambda: ["Set5"])
    scale: int | None = None
    degradations: list[str] = field(default_factory=lambda: [DEFAULT_DEGRADATION])
    runtimes: list[str] | None = None
    skip_incompatible: bool = False
    all_runtimes: bool = False
    parity_images: int = 4
    parity_crop: int = 32
    repeats: int = 5
    warmup: int = 1
    #: Timed runs per dataset image for its own ``latency_ms``. None: ``repeats`` when the dataset images are the
    #: latency input (``bench_size`` 0), else 0. Each repeat is a full-set inference more: with the default 5 on a
    #: full-size EDSR (Set5+Set14 in OpenCV fp32) that was over 30 of the pipeline's minutes, for per-image
    #: figures no summary, gate or speed-up reads when a synthetic input gives the headline.
    image_repeats: int | None = None
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    tile: int | None = None
    overlap: int | None = DEFAULT_OVERLAP  # None: each model's receptive-field margin
    bench_size: int = 128
    lr_dir: str | Path | None = None
    rgb_psnr: bool = False
    isolate: bool = True
    crop_size: int = 64  # HR px per report crop, shown at 2x: 7 panels of 128 px fit a 1400 px page
    #: Raise InputError (exit 2) before any runtime row when an artifact does not open, its scale is not the
    #: run's, or a dataset yields no usable image, instead of recording error rows (`sropt validate` sets it).
    refuse_bad_inputs: bool = False

    @property
    def timed_image_repeats(self) -> int:
        """Timed runs per dataset image (0: no per-image latency)."""
        if self.image_repeats is not None:
            return self.image_repeats
        return self.repeats if self.bench_size == 0 else 0

    def __post_init__(self) -> None:
        problems = []
        if not self.datasets:
            problems.append("datasets: give at least one dataset folder or shortcut")
        for d in self.degradations:
            if d not in DEGRADATIONS:
                problems.append(f"degradation {d!r}: unknown; choose one of {', '.join(sorted(DEGRADATIONS))}")
        if self.scale is not None and self.scale < 2:
            problems.append(f"scale {self.scale}: must be an integer >= 2")
        if self.repeats < 1:
            problems.append(f"repeats {self.repeats}: must be >= 1")
        if self.threads < 1:
            problems.append(f"threads {self.threads}: must be >= 1")
        # The overlap's lower bound is each model's receptive field, checked when it is loaded.
        if self.tile is not None and (self.tile < 8 or (self.overlap is not None and (self.overlap < 0 or 2 * self.overlap >= self.tile))):
            problems.append(f"tile {self.tile} / overlap {self.overlap}: need tile >= 8 and 0 <= overlap < tile/2")
        if self.parity_images < 1 or self.parity_crop < 8:
            problems.append(f"parity_images {self.parity_images} / parity_crop {self.parity_crop}: need >= 1 image and a crop >= 8 LR px")
        if self.bench_size < 0:
            problems.append(f"bench_size {self.bench_size}: must be >= 0")
        if self.image_repeats is not None and (self.image_repeats < 0 or (self.image_repeats == 0 and self.bench_size == 0)):
            problems.append(f"image_repeats {self.image_repeats}: must be >= 0, and >= 1 when bench_size is 0 "
                            "(the dataset images are then the only latency input)")
        if self.runtimes is not None:
            from sropt.validate.runners import runtime_names

            for r in self.runtimes:
                if r not in runtime_names():
                    problems.append(f"runtime {r!r}: unknown; choose from {', '.join(runtime_names())}")
        if problems:
            raise ConfigError("invalid validation settings", problems=problems)
