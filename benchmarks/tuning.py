"""Tuning experiments (issue 7 §2): each a prediction written before measuring, then the measurement.

    python -m benchmarks.tuning                         # EDSR layout B=4/F=256 (a full-size block stack, 1/8 the depth), 128x128
    python -m benchmarks.tuning --only ort_level,qdq --blocks 2 --filters 64 --size 64 --repeats 2

Every experiment compares variants of one knob on the same model, in one
run, with the timing cells of the runtime matrix (spawned process each,
``sropt.validate`` timing). ``ms/GMAC`` normalizes artifacts with different
channel counts. Writes tuning.json/.md; the conclusions go to
benchmarks/NOTES.md.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.artifact_set import ArtifactBuilder, BenchArtifact, BuildPlan
from benchmarks.cells import VARIANTS, CellSpec, RuntimeVariant, agreement_db, run_cell_isolated
from benchmarks.model_sources import SYNTH_EDSR, resolve_source
from benchmarks.record import (
    add_output_options,
    args_settings,
    default_work_dir,
    environment_line,
    finish_record,
    say,
    start_record,
    write_result,
)
from sropt.core.artifacts import Artifact


@dataclass(frozen=True)
class Trial:
    """One measured configuration of an experiment."""

    label: str
    artifact: str  # key into the artifact table
    variant: RuntimeVariant
    threads: int | None = None  # None: the run's --threads


@dataclass(frozen=True)
class Experiment:
    """A knob, what we expect it to do (written before measuring), and the trials that test it."""

    name: str
    knob: str
    prediction: str
    trials: Callable[["Workbench"], list[Trial]]


def _v(name: str, runtime: str | None = None, **options: Any) -> RuntimeVariant:
    if runtime is None:
        return VARIANTS[name]
    return RuntimeVariant(name, runtime, options)


EXPERIMENTS: list[Experiment] = [
    Experiment(
        "ort_level", "ONNX Runtime graph optimization level (fp32 and INT8 QDQ)",
        "fp32: 'all' fastest (NCHWc convolutions with bias, ReLU and the residual Add fused); 'basic' "
        "at least 2x slower (plain NCHW Conv plus separate element-wise passes). INT8: QDQ -> QLinearConv "
        "fusion needs 'extended' or more; below that the DequantizeLinear->float Conv path is slower than fp32.",
        lambda wb: [Trial(f"{a} {lvl}", a, _v(f"ort-{lvl}", "ort", graph_optimization_level=lvl))
                    for a in ("original/onnx-fp32", "original/onnx-int8")
                    for lvl in ("basic", "extended", "layout", "all")],
    ),
    Experiment(
        "ort_session", "ONNX Runtime memory arena and thread spinning (INT8)",
        "Both within +-5%: one large model call per run, so allocation and thread wake-up are small next to "
        "the convolutions.",
        lambda wb: [Trial(v, "original/onnx-int8", VARIANTS[v]) for v in ("ort", "ort-noarena", "ort-nospin")],
    ),
    Experiment(
        "qdq", "INT8 QDQ activation type / reduce_range (per-channel QInt8 weights)",
        "U8S8 (QUInt8 activations) is the VNNI/AMX fast path; S8S8 (QInt8 activations) 10-30% slower on x86 "
        "(MLAS shifts signed activations); reduce_range (7-bit weights) the same speed as full range and "
        "slightly worse agreement with fp32.",
        lambda wb: [Trial(k, k, VARIANTS["ort"]) for k in wb.qdq_keys],
    ),
    Experiment(
        "opencv", "OpenCV DNN engine / target",
        "The classic engine is OpenCV's tuned CPU convolution path (AVX-512 dispatch); the new 5.x engine is "
        "the same speed or slower; the CPU fp16 target gives no gain on x86 (it falls back to fp32).",
        lambda wb: [Trial(v, a, VARIANTS[v]) for a in ("original", "folded")
                    for v in ("opencv", "opencv-classic", "opencv-new", "opencv-fp16")],
    ),
    Experiment(
        "channels", "Kept channel count after pruning: 179 (round_to 1) vs 176 (multiple of 16) vs 192 (multiple of 64)",
        "ms per GMAC: 176 and 192 better than 179 by 5-15% in INT8 (AMX/VNNI tiles want K in multiples of "
        "64/4) and by <5% in fp32 (16-lane AVX-512 tails).",
        lambda wb: [Trial(f"{k} {v}", k if v == "opencv" else f"{k}/{'onnx-int8' if v == 'ort' else 'x'}", VARIANTS[v])
                    for k in wb.channel_keys for v in ("opencv", "ort")],
    ),
    Experiment(
        "tflite", "LiteRT XNNPACK (fp32 and INT8)",
        "Without XNNPACK the builtin kernels are 2-5x slower for fp32 and ~2x for INT8; 'latest features' "
        "within +-5%.",
        lambda wb: [Trial(f"{a} {v}", a, VARIANTS[v]) for a in ("original/tflite-float32", "original/tflite-int8")
                    for v in ("tflite", "tflite-noxnnpack", "tflite-latest")],
    ),
    Experiment(
        "layout", "ONNX export layout NCHW (default) vs NHWC",
        "NHWC adds an input and an output Transpose around NCHW convolutions: 0-3% slower in ORT.",
        lambda wb: [Trial(a, a, VARIANTS["ort"]) for a in ("original/onnx-fp32", "nhwc/onnx-fp32",
                                                            "original/onnx-int8", "nhwc/onnx-int8")],
    ),
    Experiment(
        "threads", "Threads 1 vs 2 (ORT INT8, OpenCV fp32)",
        "2 threads 1.7-1.9x faster than 1 for both (convolutions parallelize over output rows/channels).",
        lambda wb: [Trial(f"{a} {v} t{t}", a, VARIANTS[v], t) for a, v in (("original/onnx-int8", "ort"), ("original", "opencv"))
                    for t in (1, 2)],
    ),
]


class Workbench:
    """The artifacts the experiments need, built once with the sropt libraries."""

    def __init__(self, pb: Path, work: Path, calib_count: int, say) -> None:
        self.pb, self.work, self.calib, self.say = pb, work, calib_count, say
        self.items: dict[str, BenchArtifact] = {}
        self.qdq_keys: list[str] = []
        self.channel_keys: list[str] = []
        self.failures: list[str] = []

    def build(self, needed: set[str]) -> None:
        """Build what the selected experiments use."""
        plan = BuildPlan(ratios=(), tflite_modes=("float32", "int8") if "tflite" in needed else (),
                         calib_count=self.calib)
        builder = ArtifactBuilder(self.pb, self.work, plan, say=self.say)
        for item in builder.build():
            self.items[item.key] = item
        self.failures += [f"{f['key']}: {f['error']}" for f in builder.failures]
        base = self.items.get("original/onnx-fp32")
        if base is None:
            return
        if "qdq" in needed:
            self._qdq_variants(base)
        if "layout" in needed:
            self._nhwc()
        if "channels" in needed:
            self._channels()

    def _keep(self, key: str, art: Artifact, like: BenchArtifact) -> None:
        self.items[key] = BenchArtifact(key, art, like.macs_per_pixel, like.params, None)

    def _qdq_variants(self, base: BenchArtifact) -> None:
        """INT8 QDQ of the fp32 export with each activation type x reduce_range (quantize's own recipe)."""
        from sropt.quantize.calibration import load_calibration_inputs
        from sropt.quantize.config import CalibrationConfig
        from sropt.quantize.onnx_quantize import _quantize_static  # the recipe sropt ships, knobs exposed

        calib = None
        for act in ("QUInt8", "QInt8"):
            for rr in (False, True):
                key = f"qdq-{act.lower()}{'-rr' if rr else ''}"
                out = self.work / f"{key}.onnx"
                if not out.is_file():
                    calib = calib or load_calibration_inputs(CalibrationConfig(calib_count=self.calib), base.artifact.contract, base.artifact.scale)
                    self.say(f"building {key}")
                    _quantize_static(base.artifact.path, out, calib.inputs, base.artifact.contract.input_channels, act, rr)
                art = base.artifact.derive(out, base.artifact.kind, {"stage": "tuning", "activation_type": act,
                                                                     "reduce_range": rr}, precision="int8")
                self._keep(key, art, base)
                self.qdq_keys.append(key)

    def _nhwc(self) -> None:
        from sropt.convert.onnx_export import export_onnx
        from sropt.quantize import CalibrationConfig, QuantizeConfig, quantize_onnx

        fp32, int8 = self.work / "nhwc.fp32.onnx", self.work / "nhwc.int8.onnx"
        if not fp32.is_file():
            self.say("building nhwc/onnx-fp32")
            export_onnx(self.pb, fp32, layout="nhwc")
        if not int8.is_file():
            self.say("building nhwc/onnx-int8")
            quantize_onnx(fp32, int8, QuantizeConfig(target="onnx", mode="int8", calibration=CalibrationConfig(calib_count=self.calib)))
        like = self.items["original"]
        self._keep("nhwc/onnx-fp32", Artifact.from_sidecar(fp32), like)
        self._keep("nhwc/onnx-int8", Artifact.from_sidecar(int8), like)

    def _channels(self) -> None:
        """Prune 30% of the inner channels with round_to 1 / 16 / 64 (no compensation: speed only)."""
        from sropt.convert import analyze_graph, read_graph_def
        from sropt.convert.onnx_export import export_onnx
        from sropt.prune import PruneConfig, prune_model
        from sropt.quantize import CalibrationConfig, QuantizeConfig, quantize_onnx

        for round_to in (1, 16, 64):
            pb = self.work / f"ch-r30-round{round_to}.pb"
            if not pb.is_file():
                self.say(f"building {pb.name}")
                prune_model(self.pb, PruneConfig(ratio=0.3, scope="inner", round_to=round_to, compensation="none"), pb)
            info = analyze_graph(read_graph_def(pb), str(pb))
            width = info.layers[0].out_channels  # the head conv: the trunk width
            # The block's first conv is the only one whose output is not trunk-wide (or the tail's 3*s*s).
            inner = [layer.out_channels for layer in info.layers[1:-1] if layer.out_channels != width]
            kept = max(inner, default=width)
            key = f"ch{kept}"
            onnx_fp32, onnx_int8 = self.work / f"{key}.fp32.onnx", self.work / f"{key}.int8.onnx"
            if not onnx_fp32.is_file():
                export_onnx(pb, onnx_fp32)
            if not onnx_int8.is_file():
                quantize_onnx(onnx_fp32, onnx_int8, QuantizeConfig(target="onnx", mode="int8",
                                                                   calibration=CalibrationConfig(calib_count=self.calib)))
            macs, params = int(info.macs_per_pixel), int(info.params)
            self.items[key] = BenchArtifact(key, Artifact.from_sidecar(pb), macs, params, None)
            self.items[f"{key}/onnx-int8"] = BenchArtifact(f"{key}/onnx-int8", Artifact.from_sidecar(onnx_int8), macs, params, None)
            self.channel_keys.append(key)


def build_parser() -> argparse.ArgumentParser:
    """The command line of this benchmark."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.tuning", description=__doc__.split("\n")[0])
    p.add_argument("--blocks", type=int, default=4, help="synthesized EDSR blocks")
    p.add_argument("--filters", type=int, default=256, help="synthesized EDSR filters")
    p.add_argument("--size", type=int, default=128, help="LR input side")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per trial")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads (the threads experiment sets its own)")
    p.add_argument("--only", default="", help=f"comma list of experiments: {', '.join(e.name for e in EXPERIMENTS)}")
    p.add_argument("--calib-count", type=int, default=16, help="T91 crops for INT8 calibration")
    add_output_options(p, "tuning", work=True)
    p.add_argument("--build-only", action="store_true", help="build the experiments' artifacts, time nothing")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and validate the command line."""
    p = build_parser()
    args = p.parse_args(argv)
    names = {e.name for e in EXPERIMENTS}
    args.only = [x.strip() for x in args.only.split(",") if x.strip()] or [e.name for e in EXPERIMENTS]
    bad = [x for x in args.only if x not in names]
    if bad:
        p.error(f"--only: unknown experiment(s) {', '.join(bad)}; choose from {', '.join(sorted(names))}")
    if args.size < 8 or args.repeats < 1 or args.threads < 1:
        p.error("--size >= 8, --repeats >= 1, --threads >= 1")
    return args


def render_markdown(record: dict[str, Any]) -> str:
    """One table per experiment with its prediction."""
    lines = ["# Tuning experiments", "", environment_line(record), "", f"Command: `{record['command']}`", "",
             f"Model: {record['model']}, input {record['settings']['size']}x{record['settings']['size']}. "
             "`agree dB` = PSNR of the output against the fp32 original in OpenCV (random weights: parity, not quality).", ""]
    for exp in record["experiments"]:
        lines += [f"## {exp['name']}: {exp['knob']}", "", f"Prediction (before measuring): {exp['prediction']}", "",
                  "| trial | artifact | runtime options | threads | median ms | p90 ms | ms/GMAC | agree dB |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
        for t in exp["trials"]:
            if t.get("median_ms") is None:
                lines.append(f"| {t['label']} | {t['artifact']} | {t['options']} | {t['threads']} | {str(t.get('error', '-'))[:100]} | | | |")
                continue
            lines.append(f"| {t['label']} | {t['artifact']} | {t['options']} | {t['threads']} | {t['median_ms']:.1f} | "
                         f"{t['p90_ms']:.1f} | {t['ms_per_gmac']:.2f} | {t['agreement_db'] if t['agreement_db'] is not None else '-'} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the selected experiments and write tuning.json/.md; 0 on success."""
    args = parse_args(argv)
    settings = args_settings(args)
    record = start_record("tuning", args.threads, settings)

    work = args.work or default_work_dir()
    key, pb = resolve_source(SYNTH_EDSR, work, blocks=args.blocks, filters=args.filters)
    record["model"] = key
    bench = Workbench(pb, work / key / "tuning", 16 if args.calib_count is None else args.calib_count, say)
    bench.build(set(args.only))
    if args.build_only:
        say(f"built {len(bench.items)} artifacts; failures: {bench.failures or 'none'}")
        return 0
    peak = 255.0
    ref = run_cell_isolated(CellSpec(bench.items["original"].artifact, VARIANTS["opencv-classic"], [args.size],
                                     args.threads, 1, 1, 1e9, keep_output_size=args.size)).output
    record["experiments"] = []
    for exp in [e for e in EXPERIMENTS if e.name in args.only]:
        rows = []
        for trial in exp.trials(bench):
            item = bench.items.get(trial.artifact)
            threads = trial.threads or args.threads
            row: dict[str, Any] = {"label": trial.label, "artifact": trial.artifact, "runtime": trial.variant.runtime,
                                   "options": trial.variant.options, "threads": threads}
            rows.append(row)
            if item is None:
                row["error"] = "artifact not built (see failures)"
                continue
            say(f"{exp.name}: {trial.label}")
            res = run_cell_isolated(CellSpec(item.artifact, trial.variant, [args.size], threads, args.repeats, 1, 1e9,
                                             keep_output_size=args.size))
            size = res.sizes[0] if res.sizes else None
            if res.error or size is None or not size.latency_ms:
                row["error"] = res.error or (size.error if size else "no result")
                continue
            gmac = item.macs_per_pixel * args.size**2 / 1e9
            row.update(median_ms=size.latency_ms["median"], p90_ms=size.latency_ms["p90"], gmac=round(gmac, 2),
                       ms_per_gmac=round(size.latency_ms["median"] / gmac, 3), peak_rss_mb=size.peak_rss_mb,
                       agreement_db=agreement_db(res.output, ref, peak))
        record["experiments"].append({"name": exp.name, "knob": exp.knob, "prediction": exp.prediction, "trials": rows})
    record["failures"] = bench.failures
    finish_record(record)
    js, md = write_result(record, render_markdown(record), args.out, args.stem)
    say(f"wrote {js} and {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
