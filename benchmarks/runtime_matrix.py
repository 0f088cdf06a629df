"""Runtime matrix (issue 7 §1a, §1d): every artifact x every runtime that loads it x input sizes.

    python -m benchmarks.runtime_matrix                 # EDSR B32/F256 x3, FSRCNN_x3, ESPCN_x3; 64,128,256
    python -m benchmarks.runtime_matrix --quick         # 128 only, fewer artifacts and repeats
    python -m benchmarks.runtime_matrix --models edsr --blocks 8 --filters 64 --sizes 64 --repeats 2

For each model: median/p90 latency, peak RSS, speed-up against the original
.pb in OpenCV (defaults, as dnn_superres loads it) at the same size, and the
fraction of this CPU's float32 GEMM rate (numpy, measured in the same run)
that each cell reaches. Writes benchmarks/results/<stem>.json and .md.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
from pathlib import Path
from typing import Any

from benchmarks.artifact_set import TFLITE_MODES, ArtifactBuilder, BenchArtifact, BuildPlan, add_existing, ratio_key
from benchmarks.cells import DEFAULT_VARIANTS, VARIANTS, CellSpec, agreement_db, run_cell_isolated
from benchmarks.machine_peak import fraction_of_peak, measure_peak
from benchmarks.model_sources import SYNTH_EDSR, resolve_source
from sropt.core.locations import PROJECT_ROOT
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

BASELINE = ("original", "opencv")  # artifact key, runtime variant: the 1.00x of every table
HEADLINE_PIPELINE = "edsr_x3_mobile"  # the default pipeline whose artifacts the headline compares


def pipeline_artifact_keys(pipelines_file: Path, name: str) -> tuple[list[str], dict[str, Any]]:
    """Artifact keys of this benchmark that the pipeline ``name`` produces, and its prune settings.

    The keys follow the pipeline's steps: ``prune`` -> ``prune-rXX`` (.pb),
    ``export.onnx`` -> ``prune-rXX/onnx-fp32``, ``quantize.onnx.int8`` ->
    ``prune-rXX/onnx-int8``, ``quantize.tflite.int8`` -> ``prune-rXX/tflite-int8``.
    """
    import yaml

    doc = yaml.safe_load(pipelines_file.read_text(encoding="utf-8"))
    pipe = doc["pipelines"][name]
    prune = pipe.get("prune") or {}
    graph = ratio_key(float(prune["ratio"])) if prune.get("ratio") else "original"
    keys = [graph] if graph != "original" else []
    if pipe.get("export", {}).get("onnx") is not None:
        keys.append(f"{graph}/onnx-fp32")
    for target, mode_key in (("onnx", "onnx"), ("tflite", "tflite")):
        for q in (pipe.get("quantize") or {}).get(target, []) or []:
            keys.append(f"{graph}/{mode_key}-{q['mode'] if q['mode'] != 'float32' else 'fp32'}")
    return keys, prune


def headline(model: dict[str, Any], keys: list[str], prune: dict[str, Any]) -> list[dict[str, Any]]:
    """Per size: the fastest cell among the pipeline's artifacts against the baseline, from the same run."""
    out = []
    sizes = sorted({s["size"] for c in model["cells"] for s in c["sizes"]})
    for size in sizes:
        best, base = None, None
        for c in model["cells"]:
            s = next((x for x in c["sizes"] if x["size"] == size and x["latency_ms"]), None)
            if s is None:
                continue
            if (c["artifact"], c["variant"]) == BASELINE:
                base = s
            if (c["artifact"] in keys or c["artifact"].startswith("pipeline/")) and \
                    (best is None or s["latency_ms"]["median"] < best[1]["latency_ms"]["median"]):
                best = (c, s)
        if best and base:
            c, s = best
            out.append({"size": size, "artifact": c["artifact"], "variant": c["variant"],
                        "median_ms": s["latency_ms"]["median"], "baseline_median_ms": base["latency_ms"]["median"],
                        "speedup": round(base["latency_ms"]["median"] / s["latency_ms"]["median"], 3),
                        "pipeline_prune": prune})
    return out


def _csv(text: str, kind: type = str) -> list:
    return [kind(x.strip()) for x in text.split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The command line of this benchmark."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.runtime_matrix", description=__doc__.split("\n")[0])
    p.add_argument("--models", default=f"{SYNTH_EDSR},FSRCNN_x3,ESPCN_x3",
                   help="comma list: 'edsr' (synthesized layout), names in ../shared/models, or .pb paths")
    p.add_argument("--blocks", type=int, default=32, help="synthesized EDSR residual blocks (release: 32)")
    p.add_argument("--filters", type=int, default=256, help="synthesized EDSR filters (release: 256)")
    p.add_argument("--seed", type=int, default=0, help="synthesized EDSR weight seed")
    p.add_argument("--sizes", default="64,128,256", help="LR input sides, comma list")
    p.add_argument("--ratios", default="0.25,0.5,0.75", help="inner pruning ratios")
    p.add_argument("--tflite-modes", default=",".join(TFLITE_MODES), help="TFLite modes of the original")
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                   help=f"runtime variants (each applies to the artifacts it can load): {', '.join(VARIANTS)}")
    p.add_argument("--only", default="", help="comma list of fnmatch patterns on artifact keys (e.g. 'original,prune-r25/*')")
    p.add_argument("--skip-cells", default="",
                   help="comma list of fnmatch patterns on 'artifact@variant' cells not to time (budget), e.g. 'prune-r*/onnx-*@opencv'")
    p.add_argument("--pipeline-run", type=Path, action="append", default=[],
                   help="also benchmark the artifacts of an `sropt run` folder (MODEL=DIR attaches them to MODEL; default the first model)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads per runtime (default: all cores)")
    p.add_argument("--pipelines", type=Path, default=PROJECT_ROOT / "pipelines.yaml",
                   help=f"pipelines file whose {HEADLINE_PIPELINE} settings define the headline artifacts")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per cell and size")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls before timing (the first call counts)")
    p.add_argument("--max-cell-seconds", type=float, default=60.0,
                   help="skip a cell's larger sizes once one call would take longer than this")
    p.add_argument("--gemm-size", type=int, default=2048, help="side of the float32 GEMM that measures the peak rate")
    p.add_argument("--calib-count", type=int, default=32, help="T91 crops for pruning/INT8 calibration")
    add_output_options(p, "runtime_matrix", work=True)
    p.add_argument("--quick", action="store_true",
                   help="128x128 only, ratio 0.25, TFLite float32/int8, 3 repeats (unless given explicitly)")
    p.add_argument("--tflite-pruned", default=None,
                   help="pruning ratios whose graphs also get a TFLite INT8 (default: every ratio)")
    p.add_argument("--no-build", action="store_true", help="only time the planned artifacts that are already in the work folder")
    p.add_argument("--build-only", action="store_true", help="build the artifacts, time nothing")
    p.add_argument("--no-onnx", action="store_true", help="build no ONNX exports (tf2onnx needs ~10 GB for full-size EDSR)")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and validate the command line (argparse error, exit 2, on bad values)."""
    p = build_parser()
    args = p.parse_args(argv)
    given = set(a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:]) if a.startswith("--"))
    if args.quick:
        if "--sizes" not in given:
            args.sizes = "128"
        if "--ratios" not in given:
            args.ratios = "0.25"
        if "--tflite-modes" not in given:
            args.tflite_modes = "float32,int8"
        if "--repeats" not in given:
            args.repeats = 3
    try:
        args.sizes = _csv(args.sizes, int)
        args.ratios = _csv(args.ratios, float)
    except ValueError as exc:
        p.error(f"--sizes/--ratios: {exc}")
    args.tflite_modes = _csv(args.tflite_modes)
    try:
        args.tflite_pruned = None if args.tflite_pruned is None else _csv(args.tflite_pruned, float)
    except ValueError as exc:
        p.error(f"--tflite-pruned: {exc}")
    args.variants = _csv(args.variants)
    args.models = _csv(args.models)
    args.only = _csv(args.only)
    args.skip_cells = _csv(args.skip_cells)
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        p.error(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    if not args.sizes or any(s < 8 for s in args.sizes):
        p.error("--sizes: give input sides >= 8, e.g. 64,128")
    if args.repeats < 1 or args.threads < 1 or args.warmup < 1 or args.gemm_size < 16:
        p.error("--repeats, --threads and --warmup must be >= 1, --gemm-size >= 16")
    if any(not 0 < r < 1 for r in args.ratios):
        p.error("--ratios: each ratio must be in (0, 1)")
    bad_modes = [m for m in args.tflite_modes if m not in TFLITE_MODES]
    if bad_modes:
        p.error(f"--tflite-modes: unknown {', '.join(bad_modes)}; choose from {', '.join(TFLITE_MODES)}")
    return args


def _selected(key: str, patterns: list[str]) -> bool:
    return not patterns or any(fnmatch.fnmatch(key, pat) for pat in patterns)


def _pipeline_runs(args: argparse.Namespace) -> dict[str, list[Path]]:
    runs: dict[str, list[Path]] = {}
    for spec in args.pipeline_run:
        model, sep, folder = str(spec).partition("=")
        model, folder = (model, Path(folder)) if sep else (args.models[0], Path(model))
        art_dir = folder / "artifacts"
        if not art_dir.is_dir():
            raise SystemExit(f"--pipeline-run {spec}: {art_dir} does not exist; give an `sropt run` output folder.")
        runs.setdefault(model, []).extend(p for p in art_dir.iterdir() if p.suffix in (".pb", ".onnx", ".tflite"))
    return runs


def benchmark_model(name: str, args: argparse.Namespace, peak: dict, say) -> dict[str, Any]:
    """Build the artifacts of one model and time every cell; the model's block of the result."""
    work = args.work or default_work_dir()
    key, pb = resolve_source(name, work, blocks=args.blocks, filters=args.filters, seed=args.seed)
    plan = BuildPlan(ratios=tuple(args.ratios), tflite_modes=tuple(args.tflite_modes), calib_count=args.calib_count,
                     tflite_pruned_ratios=None if args.tflite_pruned is None else tuple(args.tflite_pruned),
                     onnx=not args.no_onnx)
    builder = ArtifactBuilder(pb, work / key, plan, say=lambda m: say(f"[{key}] {m}"), build=not args.no_build)
    items: list[BenchArtifact] = builder.build()
    if args.build_only:
        return {"model": key, "source": str(pb), "artifacts": [i.to_json() for i in items], "cells": [],
                "notes": [f"build failed: {f['key']}: {f['error']}" for f in builder.failures]}
    notes = [f"build failed: {f['key']}: {f['error']}" for f in getattr(builder, "failures", [])]
    extra = _pipeline_runs(args).get(name, [])
    if extra:
        notes += add_existing(items, extra, "pipeline")
    items = [i for i in items if _selected(i.key, args.only) or i.key == BASELINE[0]]

    cells: list[dict[str, Any]] = []
    skipped: list[str] = []
    reference = None
    peak_value = 255.0 if items[0].artifact.contract.input_channels == 3 else 1.0
    small = min(args.sizes)
    for item in items:
        for vname in args.variants:
            variant = VARIANTS[vname]
            from sropt.validate.runners import get_runner

            if item.artifact.kind not in get_runner(variant.runtime).kinds:
                continue
            if any(fnmatch.fnmatch(f"{item.key}@{vname}", pat) for pat in args.skip_cells) and (item.key, vname) != BASELINE:
                skipped.append(f"{item.key}@{vname}")
                continue
            say(f"[{key}] {item.key} on {vname}")
            spec = CellSpec(item.artifact, variant, list(args.sizes), args.threads, args.repeats, args.warmup,
                            args.max_cell_seconds, keep_output_size=small)
            res = run_cell_isolated(spec)
            if (item.key, vname) == BASELINE and res.output is not None:
                reference = res.output
            cells.append({"artifact": item.key, "variant": vname, "runtime": variant.runtime,
                          "options": variant.options, **res.to_json(),
                          "agreement_db": agreement_db(res.output, reference, peak_value) if (item.key, vname) != BASELINE else None})
    if skipped:
        notes.append(f"not timed (--skip-cells, time budget): {', '.join(skipped)}")
    _derive(cells, items, peak)
    block = {"model": key, "cells": cells}
    hl = []
    if name == SYNTH_EDSR:
        keys, prune = pipeline_artifact_keys(args.pipelines, HEADLINE_PIPELINE)
        hl = headline(block, keys, prune)
        if prune.get("finetune_steps"):
            notes.append(f"{HEADLINE_PIPELINE} fine-tunes {prune['finetune_steps']} steps; the benchmark's pruned "
                         "graphs are not fine-tuned. Fine-tuning changes weight values only (same ops and shapes), "
                         "so the latency is that of the graph timed here.")
    return {"model": key, "source": str(pb), "artifacts": [i.to_json() for i in items], "cells": cells, "notes": notes,
            "headline": hl,
            "baseline": {"artifact": BASELINE[0], "variant": BASELINE[1]},
            "agreement": f"PSNR of each output against the baseline's on a {small}x{small} random image, "
                         f"peak {peak_value:g} (model value range); random weights: a parity check, not quality"}


def _derive(cells: list[dict[str, Any]], items: list[BenchArtifact], peak: dict) -> None:
    """Fill speed-up vs the baseline and fraction of the float32 GEMM rate for every size."""
    macs = {i.key: i.macs_per_pixel for i in items}
    base = next((c for c in cells if (c["artifact"], c["variant"]) == BASELINE), None)
    base_ms = {s["size"]: (s["latency_ms"] or {}).get("median") for s in (base or {}).get("sizes", [])}
    for c in cells:
        for s in c["sizes"]:
            med = (s["latency_ms"] or {}).get("median")
            s["speedup_vs_baseline"] = round(base_ms[s["size"]] / med, 3) if med and base_ms.get(s["size"]) else None
            s["fraction_of_fp32_peak"] = fraction_of_peak(macs.get(c["artifact"], 0), s["size"], med,
                                                          peak["gmacs_per_s_best"]) if med else None


def render_markdown(record: dict[str, Any]) -> str:
    """The result as markdown: one table per model and size, best first within each."""
    lines = ["# Runtime matrix", "", environment_line(record), "",
             f"Command: `{record['command']}`", "",
             f"float32 GEMM rate (numpy {record['peak']['blas']}, {record['peak']['n']}^3, "
             f"{record['peak']['threads']} threads): {record['peak']['gmacs_per_s_best']} GMAC/s best, "
             f"{record['peak']['gmacs_per_s_median']} median. "
             "`x base` = speed-up against the original .pb in OpenCV (defaults) at the same size; "
             "`peak` = achieved MAC rate / that float32 rate (INT8 kernels can exceed 1).", ""]
    for model in record["models"]:
        arts = {a["key"]: a for a in model["artifacts"]}
        lines += [f"## {model['model']}", ""]
        for h in model.get("headline", []):
            lines.append(f"**Headline {h['size']}x{h['size']}:** best artifact of the `{HEADLINE_PIPELINE}` configuration "
                         f"(prune {json.dumps(h['pipeline_prune'])}) is `{h['artifact']}` in `{h['variant']}`: "
                         f"{h['median_ms']:.1f} ms vs {h['baseline_median_ms']:.1f} ms for the original .pb in OpenCV "
                         f"= **{h['speedup']:.2f}x**.")
        if model.get("headline"):
            lines.append("")
        sizes = sorted({s["size"] for c in model["cells"] for s in c["sizes"]})
        for size in sizes:
            rows = []
            for c in model["cells"]:
                s = next((x for x in c["sizes"] if x["size"] == size), None)
                if s is None and not c["error"]:
                    continue
                rows.append((c, s))
            rows.sort(key=lambda cs: ((cs[1] or {}).get("latency_ms") or {}).get("median") or float("inf"))
            lines += [f"### {size}x{size} input", "",
                      "| artifact | runtime | MACs/px | MB | median ms | p90 ms | peak RSS MB | x base | peak | agree dB |",
                      "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for c, s in rows:
                a = arts.get(c["artifact"], {})
                mb = f"{a.get('size_bytes', 0) / 1e6:.2f}"
                macs = f"{a.get('macs_per_pixel', 0) / 1e6:.2f}M"
                if s is None or not s.get("latency_ms"):
                    why = c["error"] or (s or {}).get("skipped") or (s or {}).get("error") or "-"
                    lines.append(f"| {c['artifact']} | {c['variant']} | {macs} | {mb} | {_short(why)} | | | | | |")
                    continue
                lat = s["latency_ms"]
                lines.append(
                    f"| {c['artifact']} | {c['variant']} | {macs} | {mb} | {lat['median']:.1f} | {lat['p90']:.1f} | "
                    f"{s['peak_rss_mb']:.0f} | {_num(s['speedup_vs_baseline'], 2)} | {_num(s['fraction_of_fp32_peak'], 2)} | "
                    f"{_num(c.get('agreement_db'), 1)} |")
            lines.append("")
        for n in model["notes"]:
            lines.append(f"- {n}")
        lines.append("")
    return "\n".join(lines) + "\n"


def _num(x: Any, digits: int) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    return f"{x:.{digits}f}"


def _short(text: str, n: int = 90) -> str:
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= n else text[: n - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    """Run the matrix and write the result files; 0 on success."""
    args = parse_args(argv)
    settings = args_settings(args)
    settings["pipeline_run"] = [str(p) for p in args.pipeline_run]
    record = start_record("runtime_matrix", args.threads, settings)

    if args.build_only:
        for m in args.models:
            model = benchmark_model(m, args, {}, say)
            say(f"{model['model']}: {len(model['artifacts'])} artifacts; " + "; ".join(model["notes"]))
        return 0
    say("measuring the float32 GEMM rate")
    record["peak"] = measure_peak(args.threads, n=args.gemm_size)
    record["models"] = [benchmark_model(m, args, record["peak"], say) for m in args.models]
    record["peak_end"] = measure_peak(args.threads, n=args.gemm_size)  # a drift between the two says the machine's state changed
    finish_record(record)
    js, md = write_result(record, render_markdown(record), args.out, args.stem)
    say(f"wrote {js} and {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
