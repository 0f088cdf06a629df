"""The artifacts a benchmark compares, built once with the sropt libraries and cached.

For one source model (a synthesized EDSR layout, a zoo .pb, or any .pb):

* ``original`` the .pb as given (EDSR: quint8 weights + Dequantize, like the release);
* ``folded`` the same graph with exact float32 weights (only if it had quint8 ones);
* ``prune-rXX`` inner-channel L1 pruning with bias compensation (``sropt.prune``);
* ``tflite-<mode>`` (``sropt.quantize.quantize_tflite``) of the original, and
  ``tflite-int8`` of every pruned graph;
* ``onnx-fp32`` (``sropt.convert.export_onnx``, NCHW) and ``onnx-int8``
  (``sropt.quantize.quantize_onnx``, QDQ) of the original and of every pruned graph.

Artifacts live in a work folder outside the repository (default
``$SROPT_CACHE_DIR/benchmarks``; model files are never committed) and are
reused when the file and its sidecar exist, so a re-run only times.
Each entry keeps the multiply-adds per LR pixel of the float graph it
computes (exporting and quantizing do not change the arithmetic count).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sropt.core.artifacts import Artifact
from sropt.core.errors import InputError

TFLITE_MODES = ("float32", "fp16", "dynamic", "int8")


@dataclass
class BenchArtifact:
    """One artifact in a benchmark, with what it costs and how it was made."""

    key: str  # e.g. "prune-r50/onnx-int8"
    artifact: Artifact
    macs_per_pixel: int
    params: int
    build_seconds: float | None  # None: reused from the work folder
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe summary (path, kind, precision, size, MACs)."""
        a = self.artifact
        return {"key": self.key, "path": str(a.path), "kind": a.kind.value, "precision": a.precision,
                "size_bytes": a.size_bytes, "macs_per_pixel": self.macs_per_pixel, "params": self.params,
                "build_seconds": self.build_seconds, "notes": self.notes}


@dataclass
class BuildPlan:
    """Which artifacts to build for one source model."""

    ratios: tuple[float, ...] = (0.25, 0.5, 0.75)
    round_to: int = 8
    finetune_steps: int = 0
    tflite_modes: tuple[str, ...] = TFLITE_MODES
    tflite_pruned_ratios: tuple[float, ...] | None = None  # which pruned graphs get a TFLite INT8 (None: all)
    onnx: bool = True
    convert_original: bool = True  # False: only the pruned graphs get exported (frontier's fine-tuned set)
    calib_count: int = 32

    def __post_init__(self) -> None:
        problems = [f"ratio {r}: must be in (0, 1)" for r in self.ratios if not 0 < r < 1]
        problems += [f"TFLite mode {m!r}: choose from {', '.join(TFLITE_MODES)}" for m in self.tflite_modes
                     if m not in TFLITE_MODES]
        if self.calib_count < 1:
            problems.append(f"calib_count {self.calib_count}: need at least one calibration crop")
        if problems:
            raise InputError("invalid benchmark artifact plan", problems=problems)


def ratio_key(ratio: float) -> str:
    """``0.25`` -> ``prune-r25`` (the key of a pruned graph)."""
    return f"prune-r{round(ratio * 100):02d}"


class ArtifactBuilder:
    """Builds (or reuses) the artifacts of ``plan`` for ``source`` inside ``work_dir``."""

    def __init__(self, source: Path, work_dir: Path, plan: BuildPlan, say: Callable[[str], None] | None = None,
                 build: bool = True) -> None:
        self.source = Path(source)
        self.allow_build = build  # False: use only what the work folder already holds
        self.dir = Path(work_dir)
        self.plan = plan
        self.say = say or (lambda _m: None)
        self.items: list[BenchArtifact] = []
        self._costs: dict[str, tuple[int, int]] = {}

    def _cached(self, out: Path) -> Artifact | None:
        if out.is_file() and out.stat().st_size > 0:
            return Artifact.from_sidecar(out)
        return None

    def _add(self, key: str, out: Path, make: Callable[[], Artifact], cost: Callable[[], tuple[int, int]]) -> BenchArtifact | None:
        """Reuse ``out`` or run ``make``; record the artifact, or a failure if the build raised."""
        from sropt.core.errors import SroptError

        art, seconds = self._cached(out), None
        if art is None and not self.allow_build:
            return None
        if art is None:
            self.say(f"building {key}")
            t0 = time.perf_counter()
            try:
                art = make()
            except SroptError as exc:
                self.say(f"{key}: build failed: {exc}")
                self.failures.append({"key": key, "error": str(exc)})
                return None
            seconds = round(time.perf_counter() - t0, 1)
        item = BenchArtifact(key, art, *cost(), seconds)
        self.items.append(item)
        return item

    def _cost(self, pb: Path) -> tuple[int, int]:
        """(MACs per LR pixel, parameters) of a frozen graph, from its structure."""
        from sropt.convert import analyze_graph, read_graph_def

        if str(pb) not in self._costs:
            info = analyze_graph(read_graph_def(pb), str(pb))
            self._costs[str(pb)] = (int(info.macs_per_pixel), int(info.params))
        return self._costs[str(pb)]

    def build(self) -> list[BenchArtifact]:
        """Every artifact of the plan, in a stable order (graphs first, then their conversions)."""
        from sropt.convert import fold_dequantize, load_frozen_graph, write_graph_def

        self.failures: list[dict[str, str]] = []
        self.dir.mkdir(parents=True, exist_ok=True)
        original = load_frozen_graph(self.source)
        base_cost = lambda: self._cost(self.source)  # noqa: E731
        self.items.append(BenchArtifact("original", original.artifact, *base_cost(), None))
        graphs: list[tuple[str, Path]] = [("original", self.source)]

        if original.info.dequantize_nodes:
            out = self.dir / "folded.pb"

            def fold() -> Artifact:
                write_graph_def(fold_dequantize(original.graph_def), out, inputs=(self.source,))
                art = original.artifact.derive(out, original.artifact.kind, {"stage": "fold-dequantize"}, precision="float32")
                art.write_sidecar()
                return art

            self._add("folded", out, fold, base_cost)

        for ratio in self.plan.ratios:
            key, out = ratio_key(ratio), self.dir / f"{ratio_key(ratio)}.pb"
            if not self.allow_build and not out.is_file():
                continue
            if self._add(key, out, lambda r=ratio, o=out: self._prune(r, o), lambda o=out: self._cost(o)):
                graphs.append((key, out))

        if not self.plan.convert_original:
            graphs = [g for g in graphs if g[0] != "original"]
        # ONNX first: the headline path, and cheaper to build than calibrated TFLite.
        if self.plan.onnx:
            for key, pb in graphs:
                cost = lambda p=pb: self._cost(p)  # noqa: E731
                fp32 = self.dir / f"{key}.fp32.onnx"
                item = self._add(f"{key}/onnx-fp32", fp32, lambda p=pb, o=fp32: self._onnx(p, o), cost)
                if item is not None:
                    int8 = self.dir / f"{key}.int8.onnx"
                    self._add(f"{key}/onnx-int8", int8, lambda a=item.artifact, o=int8: self._onnx_int8(a, o), cost)
        for mode in self.plan.tflite_modes if self.plan.convert_original else ():
            out = self.dir / f"original.{mode}.tflite"
            self._add(f"original/tflite-{mode}", out, lambda m=mode, o=out: self._tflite(self.source, m, o), base_cost)
        wanted = self.plan.tflite_pruned_ratios
        if "int8" in self.plan.tflite_modes:
            for key, pb in [g for g in graphs if g[0] != "original"
                            and (wanted is None or g[0] in {ratio_key(r) for r in wanted})]:
                out = self.dir / f"{key}.int8.tflite"
                self._add(f"{key}/tflite-int8", out, lambda p=pb, o=out: self._tflite(p, "int8", o), lambda p=pb: self._cost(p))
        return self.items

    def _prune(self, ratio: float, out: Path) -> Artifact:
        from sropt.prune import PruneConfig, prune_model

        config = PruneConfig(ratio=ratio, scope="inner", round_to=self.plan.round_to,
                             calib_count=self.plan.calib_count, finetune_steps=self.plan.finetune_steps)
        return prune_model(self.source, config, out).artifact

    def _tflite(self, pb: Path, mode: str, out: Path) -> Artifact:
        from sropt.quantize import CalibrationConfig, QuantizeConfig, quantize_tflite

        config = QuantizeConfig(target="tflite", mode=mode, calibration=CalibrationConfig(calib_count=self.plan.calib_count))
        return quantize_tflite(pb, out, config).artifact

    def _onnx(self, pb: Path, out: Path) -> Artifact:
        from sropt.convert.onnx_export import export_onnx

        return export_onnx(pb, out)

    def _onnx_int8(self, fp32: Artifact, out: Path) -> Artifact:
        from sropt.quantize import CalibrationConfig, QuantizeConfig, quantize_onnx

        config = QuantizeConfig(target="onnx", mode="int8", calibration=CalibrationConfig(calib_count=self.plan.calib_count))
        return quantize_onnx(fp32, out, config).artifact


def add_existing(items: list[BenchArtifact], paths: list[Path], prefix: str, macs_from: dict[str, tuple[int, int]] | None = None) -> list[str]:
    """Append already-built artifacts (e.g. a pipeline run folder) under ``prefix/<file name>``; return notes."""
    from sropt.convert import analyze_graph, read_graph_def
    from sropt.validate.resolve import open_artifact

    notes = []
    pb_costs: dict[str, tuple[int, int]] = dict(macs_from or {})
    for p in sorted(paths, key=lambda q: (q.suffix != ".pb", q.name)):
        art = Artifact.from_sidecar(p)
        if art is None:
            notes.append(f"{p}: no sidecar; not benchmarked")
            continue
        if p.suffix == ".pb":
            info = analyze_graph(read_graph_def(p), str(p))
            pb_costs[p.stem] = (int(info.macs_per_pixel), int(info.params))
            cost = pb_costs[p.stem]
        else:
            opened = open_artifact(p)
            cost = (opened.macs_per_pixel, opened.params)
            if cost[0] is None:
                # ONNX/TFLite have no MAC count of their own: use the pruned graph they were made from.
                src = next((c for stem, c in pb_costs.items() if "prune" in stem), None) or next(iter(pb_costs.values()), (0, 0))
                cost = src
        items.append(BenchArtifact(f"{prefix}/{p.name}", art, int(cost[0] or 0), int(cost[1] or 0), None))
    return notes
