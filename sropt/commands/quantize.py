"""`sropt quantize`: TFLite float32/fp16/dynamic/int8/int16x8 from a .pb, ORT int8/fp16 from an .onnx."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the `quantize` command to ``app``."""
    app.command("quantize")(quantize_model)


def quantize_model(
    model: str = typer.Argument(..., help="--to tflite: a frozen graph (.pb) or registry name; --to onnx: a float .onnx from `sropt export`."),
    to: str = typer.Option(..., "--to", help="Target format: tflite or onnx."),
    mode: str = typer.Option(..., "--mode", help="tflite: float32, fp16, dynamic, int8, int16x8; onnx: int8, fp16."),
    out: Path = typer.Option(..., "-o", "--output", help="Output file; written atomically, never over the input."),
    calib: Path = typer.Option(None, "--calib", help="Calibration image folder (default: T91 under the datasets folder)."),
    calib_count: int = typer.Option(64, "--calib-count", help="Calibration crops (one 48x48 crop per image)."),
    io: str = typer.Option("float", "--io", help="tflite int8 only: input/output dtype float, int8 or uint8."),
    max_psnr_drop: float = typer.Option(None, "--max-psnr-drop", help="tflite int8 only: keep layers in float until the PSNR drop (dB, calibration images) is at most this."),
    equalize: str = typer.Option("auto", "--equalize", help="tflite int8 only: cross-layer equalization: auto (measure off and 3 strengths on calibration images, keep the best, then refine it per layer pair), off, or a strength 0..1."),
    fixed_shape: str = typer.Option(None, "--fixed-shape", help="tflite only: fixed input HxW (default: dynamic H/W)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result (artifact, calibration, drop, float layers) as JSON."),
) -> None:
    """Quantize MODEL; exits 0 only after the written file loaded and ran in its real consumer."""
    from sropt.convert.tflite_export import parse_hw
    from sropt.quantize.config import CalibrationConfig, QuantizeConfig, Target

    config = QuantizeConfig(
        target=to, mode=mode, io=io,
        calibration=CalibrationConfig(folder=calib, count=calib_count),
        max_psnr_drop=max_psnr_drop, fixed_shape=parse_hw(fixed_shape), equalize=equalize,
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
    a = result.artifact
    typer.echo(f"wrote {a.path} ({a.size_bytes:,} bytes, {a.kind.value}/{result.mode}, io {result.io}); loaded and ran in {checked}")
    if result.calibration:
        c = result.calibration
        typer.echo(f"calibration: {c['crops']} crops of {c['crop_size']}x{c['crop_size']} from {c['folder']}")
    if result.equalization:
        typer.echo(f"equalization: {_describe_equalization(result.equalization)}")
    if result.kernel:
        k = result.kernel
        typer.echo(f"int8 kernel: activations {k['activation_type']}, reduce_range={k['reduce_range']} ({k['reason']})")
    for attempt in result.attempts:
        typer.echo(f"budget: {attempt.description}: drop {attempt.psnr_drop:.3f} dB{' (fits)' if attempt.fits else ''}")
    if result.psnr_drop is not None:
        typer.echo(
            f"PSNR-Y on calibration images: float {result.float_psnr:.3f} dB, {result.mode} {result.psnr:.3f} dB, "
            f"drop {result.psnr_drop:.3f} dB (matlab-bicubic LR, border crop = scale)"
        )
    for layer in result.float_layers:
        typer.echo(f"kept in float: {layer.tensor} ({layer.op}): {layer.reason}")
    for note in result.notes:
        typer.echo(f"note: {note}")


def _describe_equalization(record: dict) -> str:
    """One line: the chosen strength and, for auto, what each candidate measured."""
    if record.get("note"):
        return f"off ({record['note']})"
    chosen = "off" if record.get("alpha") is None else f"alpha {record['alpha']}"
    if record.get("chosen_by") != "measured":
        return f"{chosen} on {len(record['sites'])} layer pair(s) (given)"
    tried = ", ".join(f"{'off' if c['alpha'] is None else c['alpha']}: {c['int8_psnr_db']:.3f} dB"
                      for c in record["candidates"])
    line = f"{chosen}, the best INT8 PSNR-Y on {record['measured_on']} ({tried})"
    refined = record.get("refined")
    if refined:
        per_site = ", ".join(f"{site} {'off' if a is None else a}" for site, a in record["site_alphas"].items())
        line += (f"; refined per layer pair over {refined['tried']} more conversions: {per_site} "
                 f"({refined['from_int8_psnr_db']:.3f} -> {refined['int8_psnr_db']:.3f} dB)")
    return line
