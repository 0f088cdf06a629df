"""`sropt export`: a frozen SR graph as ONNX or float32 TFLite (plain format conversion)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the `export` command to ``app``."""
    app.command("export")(export_model)


def export_model(
    model: str = typer.Argument(..., help="A frozen graph (.pb) path or a registry name such as ESPCN_x3."),
    to: str = typer.Option(..., "--to", help="Target format: onnx or tflite (float32)."),
    out: Path = typer.Option(..., "-o", "--output", help="Output file (.onnx / .tflite); written atomically."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset (11..18; DepthToSpace needs >= 11)."),
    layout: str = typer.Option("nchw", "--layout", help="ONNX input/output layout: nchw (no Transposes) or nhwc (the .pb's)."),
    fixed_shape: str = typer.Option(None, "--fixed-shape", help="TFLite only: fixed input HxW (default: dynamic H/W)."),
    as_json: bool = typer.Option(False, "--json", help="Print the written artifact as one JSON object."),
) -> None:
    """Export MODEL to ONNX (tf2onnx) or float32 TFLite; exits 0 only after the file ran in its consumers.

    Example: sropt export FSRCNN_x3 --to onnx -o fsrcnn_x3.onnx
    """
    from sropt.core.errors import InputError

    from sropt.models import resolve_model

    target = to.lower()
    if target in ("onnx", "tflite"):
        model = str(resolve_model(model))
    if target == "onnx":
        if fixed_shape is not None:
            raise InputError("--fixed-shape applies to --to tflite only; ONNX exports keep H and W dynamic.")
        from sropt.convert.onnx_export import export_onnx

        artifact = export_onnx(model, out, opset=opset, layout=layout)
        checked = "onnx.checker, onnxruntime and OpenCV cv2.dnn"
    elif target == "tflite":
        from sropt.convert.tflite_export import export_tflite, parse_hw

        artifact = export_tflite(model, out, fixed_shape=parse_hw(fixed_shape))
        checked = "LiteRT (ai_edge_litert)"
    else:
        raise InputError(f"--to {to!r}: choose onnx or tflite (quantized variants: `sropt quantize`).")
    if as_json:
        typer.echo(json.dumps({**artifact.to_json(), "size_bytes": artifact.size_bytes}, indent=2))
        return
    typer.echo(
        f"wrote {artifact.path} ({artifact.size_bytes:,} bytes, {artifact.kind.value}/{artifact.precision}, "
        f"{artifact.family.value} x{artifact.scale}, output {artifact.output_name} {artifact.output_layout}); "
        f"loaded and ran in {checked}"
    )
