"""`sropt validate`: quality/latency/size report across runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from sropt.validate.results import ValidationReport


def register(app: typer.Typer) -> None:
    """Add the `validate` command to ``app``."""
    app.command("validate")(validate_command)


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def validate_command(
    artifacts: list[str] = typer.Argument(..., help="Artifacts (.pb/.onnx/.tflite paths) or registry names such as FSRCNN_x3."),
    dataset: list[str] = typer.Option(["Set5"], "--dataset", "-d", help="HR image folder, DIR with HR/ + LR_x<s>/, or Set5/Set14/T91. Repeatable."),
    runtimes: str = typer.Option(None, "--runtimes", "-r", help="Comma-separated runtimes that may be used: tf,opencv,ort,tflite (default: all). Each artifact runs on the full sets in the runtime it is made for (.pb opencv, .onnx ort, .tflite tflite), the others that load it run the parity crops."),
    degradation: str = typer.Option("matlab-bicubic", "--degradation", help="Comma-separated LR degradations: matlab-bicubic, opencv-cubic, opencv-area."),
    scale: int = typer.Option(None, "--scale", help="Scale to validate at (default: the first artifact's)."),
    out: Path = typer.Option(Path("sropt-report"), "--out", "-o", help="Folder for report.json, report.md, report.html."),
    repeats: int = typer.Option(5, "--repeats", help="Timed runs per input after warm-up."),
    threads: int = typer.Option(None, "--threads", min=1, help="CPU threads per runtime (default: all cores)."),
    tile: int = typer.Option(None, "--tile", help="Run the model on tiles of this many LR pixels."),
    overlap: int = typer.Option(None, "--overlap", help="LR pixels of context each tile discards (default and minimum: each model's receptive field)."),
    bench_size: int = typer.Option(128, "--bench-size", help="LR side of the synthetic latency input; 0 = use dataset images."),
    image_repeats: int = typer.Option(None, "--image-repeats", help="Timed runs per dataset image for its own latency (default: 0 with a synthetic --bench-size input, --repeats with --bench-size 0). Each is one more full-set inference."),
    lr_dir: Path = typer.Option(None, "--lr", help="Folder of LR images paired with the HR dataset (skips degradation)."),
    rgb: bool = typer.Option(False, "--rgb-psnr", help="Also compute RGB PSNR."),
    no_isolate: bool = typer.Option(False, "--no-isolate", help="Run all runtimes in this process (faster; no per-runtime RSS)."),
    all_runtimes: bool = typer.Option(False, "--all-runtimes", help="Full-set rows in every allowed runtime that loads each artifact (the old, slower behaviour)."),
    skip_incompatible: bool = typer.Option(False, "--skip-incompatible", help="With --all-runtimes: a listed runtime that cannot load an artifact is skipped, not an error row."),
    strict: bool = typer.Option(False, "--strict", help="Exit 4 if any row has an error (for CI)."),
    as_json: bool = typer.Option(False, "--json", help="Also print report.json to stdout."),
) -> None:
    """Measure PSNR/SSIM (Y, crop=scale), latency, size and memory of artifacts in every runtime.

    Example: sropt validate FSRCNN_x3 fsrcnn_x3.onnx -d Set5 -d Set14 --strict -o reports/fsrcnn
    """
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines off the terminal

    from rich.console import Console

    from sropt.core.atomic import check_writable
    from sropt.validate import ValidationConfig, validate_artifacts

    check_writable(out, folder=True, what="report")

    config = ValidationConfig(
        datasets=list(dataset),
        scale=scale,
        degradations=_csv(degradation) or ["matlab-bicubic"],
        runtimes=_csv(runtimes),
        skip_incompatible=skip_incompatible,
        all_runtimes=all_runtimes,
        repeats=repeats,
        threads=threads or os.cpu_count() or 1,
        tile=tile,
        overlap=overlap,
        bench_size=bench_size,
        image_repeats=image_repeats,
        lr_dir=lr_dir,
        rgb_psnr=rgb,
        isolate=not no_isolate,
        refuse_bad_inputs=True,  # a bad artifact, scale or dataset is exit 2 before any runtime runs
    )
    console = Console(stderr=True)
    with console.status("validating") as status:
        report = validate_artifacts(list(artifacts), config, progress=lambda m: status.update(f"validating: {m}"))
    _write_and_judge(report, out, console, as_json=as_json, strict=strict)


def _write_and_judge(report: "ValidationReport", out: Path, console: "Console", *, as_json: bool, strict: bool) -> None:
    """Write the three reports and print the table, then raise the exit the report earns (after writing)."""
    from sropt.core.errors import StageError
    from sropt.validate import write_report
    from sropt.validate.evaluate import validation_failure
    from sropt.validate.report import report_json

    paths = write_report(report, out)
    _print_table(report, console)
    console.print(f"reports: {paths['json']}, {paths['md']}, {paths['html']}")
    if as_json:
        typer.echo(report_json(report), nl=False)
    if strict and report.errors:
        raise StageError("validation finished with errors (see the report)", problems=report.errors)
    failure = validation_failure(report)  # nothing measured, or a runtime crashed: never exit 0
    if failure is not None:
        raise failure

def _print_table(report, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    from sropt.validate.report_table import TABLE_HEADER, table_rows

    table = Table(title="PSNR/SSIM on BT.601 Y, crop = scale; latency = model only, median", pad_edge=False)
    for h in TABLE_HEADER:
        table.add_column(h, overflow="fold")
    for row in table_rows(report):
        style = None if row[-1] == "ok" else "red"
        table.add_row(*[escape(c) for c in row], style=style)
    console.print(table)
    for w in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(w)}")
    for p in report.errors:
        console.print(f"[yellow]problem:[/] {escape(p)}")
