"""`sropt export`: a frozen SR graph as ONNX or float32 TFLite (plain format conversion)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import typer


# The choices as typer lists them (`<onnx|tflite>`), checked by tests/cli/test_choices.py.
FormatChoice = Literal["onnx", "tflite"]
LayoutChoice = Literal["nchw", "nhwc"]
DepthToSpaceChoice = Literal["native", "transpose_conv"]


def register(app: typer.Typer) -> None:
    """Add the `export` command to ``app``."""
    app.command("export")(export_model)


def export_model(
    model: str = typer.Argument(..., help="A frozen graph (.pb) path or a registry name such as ESPCN_x3."),
    to: FormatChoice = typer.Option(..., "--to", help="Target format: onnx or tflite (float32)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file (.onnx / .tflite); written atomically."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset (11..18; DepthToSpace needs >= 11)."),
    layout: LayoutChoice = typer.Option("nchw", "--layout", help="ONNX input/output layout: nchw (no Transposes) or nhwc (the .pb's)."),
    fixed_shape: str = typer.Option(None, "--fixed-shape", help="TFLite only: fixed input HxW (default: dynamic H/W)."),
    depth_to_space: DepthToSpaceChoice = typer.Option("native", "--depth-to-space", help="TFLite only: native DEPTH_TO_SPACE, or transpose_conv (a fixed 0/1 TRANSPOSE_CONV, LiteRT's EDSR GPU sample form; needs --fixed-shape)."),
    as_json: bool = typer.Option(False, "--json", help="Print the written artifact as one JSON object."),
) -> None:
    """Export MODEL to ONNX (tf2onnx) or float32 TFLite; exits 0 only after the file ran in its consumers.

    Example: sropt export FSRCNN_x3 --to onnx -o fsrcnn_x3.onnx
    """
    from sropt.core.errors import InputError

    from sropt.models import resolve_model

    model = str(resolve_model(model))
    if to == "onnx":
        if fixed_shape is not None:
            raise InputError("--fixed-shape applies to --to tflite only; ONNX exports keep H and W dynamic.")
        if depth_to_space != "native":
            raise InputError("--depth-to-space applies to --to tflite only (the GPU delegate is LiteRT's).")
        from sropt.convert.onnx_export import export_onnx

        artifact = export_onnx(model, out, opset=opset, layout=layout)
        checked = "onnx.checker, onnxruntime and OpenCV cv2.dnn"
    else:
        from sropt.convert.tflite_export import export_tflite, parse_hw

        artifact = export_tflite(model, out, fixed_shape=parse_hw(fixed_shape), depth_to_space=depth_to_space)
        checked = "LiteRT (ai_edge_litert)"
    if as_json:
        typer.echo(json.dumps({**artifact.to_json(), "size_bytes": artifact.size_bytes}, indent=2))
        return
    typer.echo(
        f"wrote {artifact.path} ({artifact.size_bytes:,} bytes, {artifact.kind.value}/{artifact.precision}, "
        f"{artifact.family.value} x{artifact.scale}, output {artifact.output_name} {artifact.output_layout}); "
        f"loaded and ran in {checked}"
    )
