"""`sropt quantize`: TFLite float32/fp16/dynamic/int8/int16x8 from a .pb, ORT int8/fp16 from an .onnx."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Optional

import typer

if TYPE_CHECKING:
    from sropt.quantize.result import QuantizeResult


# The choices as typer lists them (`<tflite|onnx>`). Spelled out so --help imports no
# sropt.quantize (0.8 s); tests/cli/test_choices.py checks them against the library.
TargetChoice = Literal["tflite", "onnx"]
ModeChoice = Literal["float32", "fp16", "dynamic", "int8", "int16x8"]
IOChoice = Literal["float", "int8", "uint8"]
WeightRoundingChoice = Literal["auto", "nearest", "gptq"]
DepthToSpaceChoice = Literal["native", "transpose_conv"]
CpuTargetChoice = Literal["portable", "x86-avx2", "x86-avx512", "x86-avx512-vnni", "arm64"]


def register(app: typer.Typer) -> None:
    """Add the `quantize` command to ``app``."""
    app.command("quantize")(quantize_model)


def quantize_model(
    model: str = typer.Argument(..., help="--to tflite: a frozen graph (.pb) or registry name; --to onnx: a float .onnx from `sropt export`."),
    to: TargetChoice = typer.Option(..., "--to", help="Output format: tflite or onnx (--target names the CPU)."),
    mode: ModeChoice = typer.Option(..., "--mode", help="tflite: float32, fp16, dynamic, int8, int16x8; onnx: int8, fp16."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file; written atomically, never over the input."),
    calib: Path = typer.Option(None, "--calib", help="Calibration image folder (default: T91 under the datasets folder)."),
    calib_count: int = typer.Option(64, "--calib-count", help="Calibration crops (one 32x32 LR crop per image, degraded like inference)."),
    calib_seed: int = typer.Option(0, "--calib-seed", help="Seed of the calibration draw (which images, where the crops sit); the same seed draws the same crops."),
    io: IOChoice = typer.Option("float", "--io", help="tflite int8 only: input/output dtype float, int8 or uint8."),
    max_psnr_drop: float = typer.Option(None, "--max-psnr-drop", help="tflite int8 only: keep layers in float until the PSNR drop (dB, calibration images) is at most this."),
    equalize: str = typer.Option("auto", "--equalize", help="tflite int8 only: cross-layer equalization: auto (measure off and 3 strengths on calibration images, keep the best, then refine it per layer pair), off, or a strength 0..1."),
    weight_rounding: WeightRoundingChoice = typer.Option("auto", "--weight-rounding", help="tflite int8/int16x8 only: how conv weights reach the int8 grid: auto (measure GPTQ against nearest on calibration images, keep the better), nearest (the converter's) or gptq."),
    target: Optional[CpuTargetChoice] = typer.Option(None, "--target", help="onnx int8 only: the CPU the model will run on, which sets ORT's activation type and reduce_range (this machine never does): portable (default, safe on every CPU), x86-avx2, x86-avx512 (no VNNI), x86-avx512-vnni, arm64."),
    qat_steps: int = typer.Option(0, "--qat-steps", help="tflite int8 only: quantization-aware training steps (tensorflow-model-optimization, the float model as teacher on T91 LR crops) before converting; 0 = post-training INT8. See docs/qat.md for when it pays."),
    fixed_shape: str = typer.Option(None, "--fixed-shape", help="tflite only: fixed input HxW (default: dynamic H/W)."),
    depth_to_space: DepthToSpaceChoice = typer.Option("native", "--depth-to-space", help="tflite only: native DEPTH_TO_SPACE, or transpose_conv (a fixed 0/1 TRANSPOSE_CONV, LiteRT's EDSR GPU sample form; needs --fixed-shape)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result (artifact, calibration, drop, float layers) as JSON."),
) -> None:
    """Quantize MODEL; exits 0 only after the written file loaded and ran in its real consumer.

    Example: sropt quantize fsrcnn.onnx --to onnx --mode int8 --target x86-avx512-vnni -o fsrcnn.vnni.onnx
    """
    from sropt.convert.tflite_export import parse_hw
    from sropt.quantize.config import CalibrationConfig, QuantizeConfig, Target

    config = QuantizeConfig(
        target=to, mode=mode, io=io,
        calibration=CalibrationConfig(folder=calib, calib_count=calib_count, seed=calib_seed),
        max_psnr_drop=max_psnr_drop, fixed_shape=parse_hw(fixed_shape), equalize=equalize,
        weight_rounding=weight_rounding, cpu_target=target, qat_steps=qat_steps, depth_to_space=depth_to_space,
    )
    if config.target is Target.TFLITE:
        from rich.console import Console

        from sropt.quantize.tflite_quantize import quantize_tflite

        with Console(stderr=True).status(f"quantizing to tflite {config.mode.value}") as status:
            result = quantize_tflite(model, out, config, progress=status.update)
        checked = "LiteRT (ai_edge_litert)"
    else:
        from sropt.quantize.onnx_quantize import quantize_onnx

        result = quantize_onnx(model, out, config)
        checked = "onnxruntime and OpenCV cv2.dnn"
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    _print_result(model, result, checked)


def size_comparison(model: str, size: int, mode: str) -> str:
    """The written file's size against the float file it came from; says plainly when it is not smaller.

    Latency needs a benchmark, so it is left to `sropt validate` (a pipeline
    run's report compares both).
    """
    from sropt.models import resolve_model
    from sropt.pipeline.payoff import judge, precision_label

    source = Path(resolve_model(model))  # already resolved (cached) by the stage
    parent_size = source.stat().st_size
    verdict = judge(f"quantize.x.{mode}", source.name, source.suffix.lstrip("."), size, parent_size)
    line = f"size: {size:,} bytes, {verdict.size_ratio:.2f}x the {parent_size:,} bytes of {source.name}"
    if verdict.note and precision_label(f"quantize.x.{mode}"):
        line += f"\nnote: {verdict.note} (`sropt validate` both files to compare latency)"
    return line


def _strength(alpha: float | None) -> str:
    return "off" if alpha is None else str(alpha)


def _candidate(c: dict) -> str:
    """``gptq, alpha 0.75``-style label of one weights candidate."""
    if "equalize" not in c:
        return c["weight_rounding"]
    eq = c["equalize"]
    return f"{c['weight_rounding']}, {'no equalization' if eq is None else eq if eq == 'per site' else f'alpha {eq}'}"


def describe_weights(record: dict) -> list[str]:
    """Lines saying how the weights were prepared (rounding, equalization) and what each candidate measured."""
    chosen = record["chosen"]
    line = f"weights: {chosen['weight_rounding']} rounding"
    if "equalize" in chosen:
        eq = chosen["equalize"]
        if eq == "per site":
            line += ", equalization per layer pair (" + ", ".join(
                f"{site} {_strength(a)}" for site, a in chosen["site_alphas"].items()) + ")"
        else:
            line += ", no equalization" if eq is None else f", equalization alpha {eq} at every layer pair"
    if record["chosen_by"] == "measured":
        line += f": the best PSNR-Y on {record['measured_on']}"
    else:
        line += f" ({record['chosen_by']})"
    lines = [line]
    if record.get("candidates"):
        lines.append("  candidates: " + "; ".join(f"{_candidate(c)} {c['psnr_db']:.3f} dB" for c in record["candidates"]))
    refined = record.get("refined")
    if refined:
        lines.append(f"  refined per layer pair over {refined['tried']} more conversions: "
                     f"{refined['from_psnr_db']:.3f} -> {refined['psnr_db']:.3f} dB")
    lines += [f"  note: {note}" for note in record.get("notes", ())]
    return lines


def describe_ranges(ranges: dict) -> str:
    """One line: which activation ranges the INT8 file has, and what decided (sropt.quantize.ranges)."""
    if "psnr_db" not in ranges:
        return f"activation ranges: {ranges['method']} ({ranges['why']})"
    scores = ranges["psnr_db"]
    trimmed = f", {ranges['ignored_crops_per_end']} of {ranges['crops']} crops ignored at each end" \
        if ranges["method"] != "min/max" else ""
    return (f"activation ranges: {ranges['method']}{trimmed} (min/max {scores['min/max']:.3f} dB, trimmed "
            f"{scores['trimmed']:.3f} dB on {ranges['measured_on']})")


def _print_result(model: str, result: "QuantizeResult", checked: str) -> None:
    """The human-readable result: the file, its size against the source, calibration, weights, kernel, budget."""
    a = result.artifact
    typer.echo(f"wrote {a.path} ({a.size_bytes:,} bytes, {a.kind.value}/{result.mode}, io {result.io}); loaded and ran in {checked}")
    typer.echo(size_comparison(model, a.size_bytes, result.mode))
    if result.calibration:
        c = result.calibration
        typer.echo(f"calibration: {c['crops']} crops of {c['crop_size']}x{c['crop_size']} from {c['folder']}, seed {c['seed']}")
    if result.weights:
        for line in describe_weights(result.weights):
            typer.echo(line)
    ranges = (a.provenance[-1] if a.provenance else {}).get("ranges")
    if ranges:
        typer.echo(describe_ranges(ranges))
    if result.kernel:
        k = result.kernel
        typer.echo(f"int8 kernel for target {k['target']}: activations {k['activation_type']}, "
                   f"reduce_range={k['reduce_range']} ({k['reason']})")
    for attempt in result.attempts:
        mean = f", mean {attempt.stats['mean_db']:.3f}" if attempt.stats else ""
        typer.echo(f"budget: {attempt.description}: drop {attempt.psnr_drop:.3f} dB (smoother half{mean})"
                   f"{' (fits)' if attempt.fits else ''}")
    if result.psnr_drop is not None:
        typer.echo(
            f"PSNR-Y on calibration images: float {result.float_psnr:.3f} dB, {result.mode} {result.psnr:.3f} dB, "
            f"mean drop {result.psnr_drop:.3f} dB (matlab-bicubic LR, border crop = scale)"
        )
    for layer in result.float_layers:
        typer.echo(f"kept in float: {layer.tensor} ({layer.op}): {layer.reason}")
    for note in result.notes:
        typer.echo(f"note: {note}")
