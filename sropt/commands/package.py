"""`sropt package`: a hand-off folder for app developers (model, metadata, README, snippets)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the `package` command to ``app``."""
    app.command("package")(package_command)


def package_command(
    artifact: str = typer.Argument(..., help="A .tflite or .onnx artifact (or registry name)."),
    out: Path = typer.Option(..., "--out", "-o", help="New or empty folder to create; never merged into."),
    report: Path = typer.Option(None, "--report", help="report.json with this file's PSNR/latency (default: one beside the model or one folder up)."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as one JSON object."),
) -> None:
    """Write ARTIFACT, its metadata, a README (sizes, measured numbers, contract, benchmark_model command) and snippets.

    Example: sropt package runs/edsr_x3_mobile/artifacts/edsr.quantize.tflite.int8.tflite -o handoff/   (finds the run's report.json)
    """
    import os

    from sropt.validate.handoff_package import write_package

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = write_package(artifact, out, report=report)
    if as_json:
        typer.echo(json.dumps({"folder": str(result.folder), "files": result.files,
                               "report": str(result.measurement.report) if result.measurement else None,
                               "unknown": result.handoff.unknown, "notes": result.notes}, indent=2))
        return
    typer.echo(f"wrote {result.folder}/: {', '.join(result.files)}")
    for line in result.handoff.inferred:
        typer.echo(f"inferred: {line}")
    for line in result.handoff.unknown:
        typer.echo(f"could not determine: {line}")
    for note in result.notes:
        typer.echo(f"note: {note}")
