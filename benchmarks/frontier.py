"""The frontier (issue 7 §1c): Set5 x3 PSNR against latency and size.

    python -m benchmarks.frontier                      # trained EDSR layout + FSRCNN_x3
    python -m benchmarks.frontier --models EDSR-T91-b8f64_x3 --ratios 0.25,0.5 --finetune-steps 300

For each model: pruning ratios (inner channels, bias compensation,
``round_to`` 8 like the default pipeline) x fine-tuning (0 and N distillation
steps) x numeric form (float .pb in OpenCV, ONNX fp32 and INT8 in ONNX
Runtime, TFLite INT8, plus TFLite fp16/dynamic of the unpruned model). PSNR
and SSIM come from ``sropt.validate`` (BasicSR Y-channel protocol, MATLAB
bicubic LR, crop = scale; FACTS.md §4); latency is its synthetic 128x128
benchmark input. Writes frontier.json/.md and frontier.png (matplotlib Agg).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from benchmarks.artifact_set import ArtifactBuilder, BenchArtifact, BuildPlan
from benchmarks.model_sources import TRAINED_EDSR, resolve_source
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

# Which runtime measures each file type: the one a user of that format runs.
RUNTIME_FOR_KIND = {"pb": "opencv", "onnx": "ort", "tflite": "tflite"}


def build_parser() -> argparse.ArgumentParser:
    """The command line of this benchmark."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.frontier", description=__doc__.split("\n")[0])
    p.add_argument("--models", default=f"{TRAINED_EDSR},FSRCNN_x3", help="comma list of names in ../shared/models or .pb paths")
    p.add_argument("--ratios", default="0.25,0.5,0.75", help="inner pruning ratios")
    p.add_argument("--finetune-steps", type=int, default=300, help="distillation steps of the fine-tuned points (0: none)")
    p.add_argument("--tflite-modes", default="fp16,dynamic,int8", help="TFLite modes of the unpruned model")
    p.add_argument("--dataset", default="Set5", help="evaluation set (folder name under the datasets dir, or a path)")
    p.add_argument("--bench-size", type=int, default=128, help="LR side of the latency input")
    p.add_argument("--repeats", type=int, default=5, help="timed calls of the latency input")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads per runtime")
    p.add_argument("--calib-count", type=int, default=32, help="T91 crops for compensation/calibration")
    add_output_options(p, "frontier", work=True)
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and validate the command line."""
    p = build_parser()
    args = p.parse_args(argv)
    try:
        args.ratios = [float(r) for r in args.ratios.split(",") if r.strip()]
    except ValueError as exc:
        p.error(f"--ratios: {exc}")
    if any(not 0 < r < 1 for r in args.ratios):
        p.error("--ratios: each ratio must be in (0, 1)")
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.tflite_modes = [m.strip() for m in args.tflite_modes.split(",") if m.strip()]
    if args.finetune_steps < 0 or args.repeats < 1 or args.threads < 1 or args.bench_size < 8:
        p.error("--finetune-steps >= 0, --repeats/--threads >= 1, --bench-size >= 8")
    return args


def describe_point(item: BenchArtifact, finetune: int) -> dict[str, Any]:
    """ratio / fine-tuning / numeric form of an artifact, from its key."""
    graph, _, conv = item.key.partition("/")
    ratio = int(graph[len("prune-r"):]) / 100 if graph.startswith("prune-r") else 0.0
    form = conv or ("float (quint8 weights)" if item.artifact.precision == "quint8-weights" else "float")
    return {"key": item.key, "ratio": ratio, "finetune_steps": finetune if ratio else 0, "form": form,
            "runtime": RUNTIME_FOR_KIND[item.artifact.kind.value], "size_bytes": item.artifact.size_bytes,
            "macs_per_pixel": item.macs_per_pixel, "params": item.params, "path": str(item.artifact.path)}


def evaluate(points: list[dict[str, Any]], args: argparse.Namespace, say) -> list[str]:
    """Fill PSNR/SSIM/latency of every point with sropt.validate, one run per runtime; return problems."""
    from sropt.validate import ValidationConfig, validate_artifacts

    problems: list[str] = []
    by_runtime: dict[str, list[dict[str, Any]]] = {}
    for pt in points:
        by_runtime.setdefault(pt["runtime"], []).append(pt)
    for runtime, pts in by_runtime.items():
        config = ValidationConfig(datasets=[args.dataset], runtimes=[runtime], repeats=args.repeats,
                                  threads=args.threads, bench_size=args.bench_size, isolate=False)
        report = validate_artifacts([pt["path"] for pt in pts], config, progress=lambda m: say(f"validate: {m}"))
        problems += report.problems
        rows = {r.artifact: r for r in report.results if r.runtime == runtime}
        for pt in pts:
            row = rows.get(pt["path"])
            if row is None or not row.ok:
                pt["error"] = "; ".join(row.errors) if row else "no result"
                continue
            pt["psnr_y"] = round(row.psnr_y, 4)
            pt["ssim_y"] = round(row.ssim_y, 6)
            pt["latency_ms"] = row.latency_ms
            pt["protocol"] = {"dataset": row.dataset, "degradation": row.degradation, "scale": row.scale,
                              "metric": "Y (BT.601) PSNR/SSIM, crop_border=scale, uint8 SR"}
        bicubic = next((r for r in report.results if r.runtime == "bicubic"), None)
        if bicubic is not None and not any(q.startswith("bicubic baseline") for q in problems):
            problems.append(f"bicubic baseline on {bicubic.dataset}: {bicubic.psnr_y:.2f} dB")
    return problems


def frontier_model(name: str, args: argparse.Namespace, say) -> dict[str, Any]:
    """All points of one model: build, evaluate, and the PSNR change against the float original."""
    work = args.work or default_work_dir()
    key, pb = resolve_source(name, work)
    plans = [(0, BuildPlan(ratios=tuple(args.ratios), tflite_modes=tuple(args.tflite_modes), calib_count=args.calib_count))]
    if args.finetune_steps:
        plans.append((args.finetune_steps, BuildPlan(ratios=tuple(args.ratios), finetune_steps=args.finetune_steps,
                                                     tflite_modes=("int8",), convert_original=False,
                                                     calib_count=args.calib_count)))
    points, notes = [], []
    for ft, plan in plans:
        builder = ArtifactBuilder(pb, work / key / f"ft{ft}", plan, say=lambda m: say(f"[{key} ft{ft}] {m}"))
        items = builder.build()
        notes += [f"build failed: {f['key']}: {f['error']}" for f in builder.failures]
        for item in items:
            if ft and not item.key.startswith("prune-r"):
                continue  # the fine-tuned set repeats only the pruned graphs
            if item.key == "folded":
                continue  # same numbers as the original in float
            pt = describe_point(item, ft)
            pt["build_seconds"] = item.build_seconds
            points.append(pt)
    notes += evaluate(points, args, say)
    ref = next((p for p in points if p["key"] == "original" and "psnr_y" in p), None)
    for p in points:
        if ref and "psnr_y" in p:
            p["psnr_change_db"] = round(p["psnr_y"] - ref["psnr_y"], 4)
            med = (p.get("latency_ms") or {}).get("median")
            if med and ref.get("latency_ms"):
                p["speedup_vs_original_opencv"] = round(ref["latency_ms"]["median"] / med, 3)
    return {"model": key, "source": str(pb), "points": points, "notes": notes}


def plot_frontier(record: dict[str, Any], dest: Path) -> Path:
    """PSNR vs latency and vs size, one row per model; written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sropt.core.atomic import atomic_path

    models = record["models"]
    fig, axes = plt.subplots(len(models), 2, figsize=(13, 5 * len(models)), squeeze=False)
    markers = {"float": "o", "float (quint8 weights)": "o", "onnx-fp32": "s", "onnx-int8": "D",
               "tflite-int8": "^", "tflite-fp16": "v", "tflite-dynamic": "P", "tflite-float32": "X"}
    colours = {0.0: "black", 0.25: "tab:blue", 0.5: "tab:orange", 0.75: "tab:red"}
    for row, model in zip(axes, models):
        pts = [p for p in model["points"] if "psnr_y" in p]
        for ax, xkey, xlabel in ((row[0], "latency", f"latency at {record['settings']['bench_size']}² (ms, median)"),
                                 (row[1], "size", "file size (MB)")):
            for p in pts:
                x = p["latency_ms"]["median"] if xkey == "latency" else p["size_bytes"] / 1e6
                c = colours.get(p["ratio"], "tab:purple")
                ft = p["finetune_steps"] > 0
                ax.scatter(x, p["psnr_y"], marker=markers.get(p["form"], "o"), s=60,
                           facecolors=c if not ft else "none", edgecolors=c, linewidths=1.5)
                ax.annotate(f"{p['form'].replace('tflite-', 'tfl-')}{' ft' if ft else ''}", (x, p["psnr_y"]),
                            fontsize=6, xytext=(3, 3), textcoords="offset points")
            ax.set_xscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("Set5 x3 PSNR-Y (dB)")
            ax.grid(True, which="both", alpha=0.3)
            ax.set_title(f"{model['model']}: colour = inner prune ratio (black 0, blue .25, orange .5, red .75); "
                         "hollow = fine-tuned", fontsize=8)
    env = record["environment"]
    fig.suptitle(f"sropt frontier - {env['cpu']}, {env['threads']} threads, "
                 f"onnxruntime {env['packages'].get('onnxruntime')}, opencv {env['packages'].get('opencv-contrib-python-headless')}, "
                 f"ai-edge-litert {env['packages'].get('ai-edge-litert')}", fontsize=9)
    fig.tight_layout()
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return dest


def render_markdown(record: dict[str, Any], png: str) -> str:
    """Tables sorted by latency, PSNR change against the float original."""
    lines = ["# Frontier: Set5 x3 PSNR vs latency and size", "", environment_line(record), "",
             f"Command: `{record['command']}`", "", f"![frontier]({png})", "",
             "PSNR: BasicSR Y channel, crop = scale, LR by MATLAB bicubic (FACTS.md §4). Latency: one "
             f"{record['settings']['bench_size']}x{record['settings']['bench_size']} synthetic input, median of "
             f"{record['settings']['repeats']}. Runtimes: .pb in OpenCV, .onnx in ONNX Runtime, .tflite in LiteRT.", ""]
    for model in record["models"]:
        lines += [f"## {model['model']}", "",
                  "| artifact | ratio | fine-tune | form | runtime | PSNR dB | change | SSIM | median ms | x orig | MB |",
                  "|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|"]
        pts = sorted(model["points"], key=lambda p: (p.get("latency_ms") or {}).get("median") or 1e18)
        for p in pts:
            if "psnr_y" not in p:
                lines.append(f"| {p['key']} | {p['ratio']} | {p['finetune_steps']} | {p['form']} | {p['runtime']} | "
                             f"error: {str(p.get('error', '?'))[:80]} | | | | | |")
                continue
            lines.append(
                f"| {p['key']} | {p['ratio']:.2f} | {p['finetune_steps']} | {p['form']} | {p['runtime']} | "
                f"{p['psnr_y']:.2f} | {p.get('psnr_change_db', 0):+.2f} | {p['ssim_y']:.4f} | "
                f"{p['latency_ms']['median']:.1f} | {p.get('speedup_vs_original_opencv', 0):.2f} | {p['size_bytes'] / 1e6:.3f} |")
        lines.append("")
        lines += [f"- {n}" for n in model["notes"]]
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Build, evaluate, plot and write the frontier; 0 on success."""
    args = parse_args(argv)
    settings = args_settings(args)
    record = start_record("frontier", args.threads, settings)

    record["models"] = [frontier_model(m, args, say) for m in args.models]
    finish_record(record)
    png = plot_frontier(record, args.out / f"{args.stem}.png")
    js, md = write_result(record, render_markdown(record, png.name), args.out, args.stem)
    say(f"wrote {js}, {md} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
