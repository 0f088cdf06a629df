"""`sropt upscale`: super-resolve images with any artifact."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the `upscale` command to ``app``."""
    app.command("upscale")(upscale_command)


def upscale_command(
    model: str = typer.Argument(..., help="Artifact (.pb/.onnx/.tflite) or registry name."),
    images: list[Path] = typer.Argument(..., help="Input images."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file (one image) or folder (<stem>_x<s>.png)."),
    runtime: str = typer.Option(None, "--runtime", help="tf, opencv, ort or tflite (default: opencv for .pb, ort for .onnx, tflite for .tflite)."),
    tile: int = typer.Option(None, "--tile", help="Tile size in LR pixels (bounded memory for large images)."),
    overlap: int = typer.Option(None, "--overlap", help="LR pixels of context each tile discards (default and minimum: the model's receptive field)."),
    threads: int = typer.Option(None, "--threads", min=1, help="CPU threads (default: all cores)."),
    no_isolate: bool = typer.Option(False, "--no-isolate", help="Run the runtime in this process (no worker start; a runtime crash then kills sropt)."),
) -> None:
    """Super-resolve images with any artifact; writes atomically and never over an input.

    Example: sropt upscale edsr_x3_int8.tflite photo.png --out upscaled/   (writes upscaled/photo_x3.png)
    """
    from rich.console import Console

    import os

    from sropt.validate.upscale import upscale_files

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    console = Console(stderr=True)
    with console.status("upscaling") as status:
        written = upscale_files(
            model, images, out, runtime=runtime, tile=tile, overlap=overlap, threads=threads,
            progress=lambda m: status.update(f"upscaling {m}"), isolate=not no_isolate,
        )
    for p in written:
        typer.echo(str(p))
