"""`sropt run`: run a pipeline.

Thin shell over ``sropt.pipeline``: options become library calls, results
are printed with rich, failures are sropt errors mapped to exit codes by
``sropt.cli`` (0 pass, 1 gate failed, 2 usage/input/config error, 3 fetch,
4 stage).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from sropt.commands._shared import _console, _gate_failure, _pipelines_file, _print_gates


def run(
    file: Optional[Path] = typer.Argument(None, help="Pipelines file (default: ./pipelines.yaml, else the shipped one)."),
    pipeline: Optional[str] = typer.Option(None, "--pipeline", "-p", help="Pipeline to run (default: the file's `default:`)."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="Use this frozen graph instead of the pipeline's model."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (default: the pipeline's output, or runs/<pipeline>)."),
    force: bool = typer.Option(False, "--force", help="Rebuild every step, ignoring the stage cache."),
    json_out: bool = typer.Option(False, "--json", help="Print the run summary as JSON on stdout."),
    isolate: Optional[bool] = typer.Option(None, "--isolate/--in-process", help="Run each stage in its own process so memory is returned between stages (default: only for models >= 8 MB)."),
) -> None:
    """Run a pipeline: prune, export, quantize, validate (each step cached), write the run folder, apply gates.

    Exit codes: 0 gates passed, 1 a gate failed (everything is still written),
    2 bad config/input (nothing was run), 3 model fetch failed, 4 a stage failed.

    Example: sropt run -p edsr_x3_ci --out runs/ci   (then: sropt check runs/ci/report.json)
    """
    import os

    from sropt.pipeline.config import load_pipelines
    from sropt.pipeline.runner import run_pipeline

    from sropt.commands._progress import StepProgress
    from sropt.core.quiet import Verbosity, verbosity

    # TensorFlow's C++ INFO/WARNING lines would drown the step progress.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet = verbosity() is Verbosity.QUIET  # -q: errors and the result line only
    console = _console(chatter=True)
    path = _pipelines_file(file)
    config = load_pipelines(path)
    name, _ = config.select(pipeline)
    console.print(f"pipeline [bold]{name}[/] from {path}")
    if pipeline is None and model is None:  # only the default pipeline falls back
        name = _default_or_demo(config, name)
    result = run_pipeline(config, name, model=model, out=out, force=force, observer=None if quiet else StepProgress(console), isolate=isolate)
    cached = sum(s.skipped for s in result.steps)
    verdict = ("; gates passed" if result.passed else "; gates FAILED") if result.gate_results else ""
    _console().print(f"run folder: {result.out_dir} ({cached}/{len(result.steps)} steps from cache{verdict})")
    from sropt.pipeline.reports import payoff_notes

    for step, note in payoff_notes(result.report["pipeline"]):  # a quantized file that is larger or slower
        console.print(f"[yellow]{step}:[/] {note}", highlight=False)
    _print_gates(console, result.gate_results)
    if json_out:
        typer.echo(json.dumps({
            "pipeline": name,
            "out_dir": str(result.out_dir),
            "passed": result.passed,
            "steps": result.report["pipeline"]["steps"],
            "summary": result.report["pipeline"]["summary"],
            "gate_results": result.report["pipeline"]["gate_results"],
        }, indent=2))
    if not result.passed:
        raise _gate_failure(result.gate_results, f"pipeline {name}; reports in {result.out_dir}")


DEMO_PIPELINE = "edsr_x3_demo"


def _default_or_demo(config, name: str) -> str:
    """``name``, or the bundled demo pipeline when the default's model or image sets cannot be had here."""
    missing = _missing_default_input(config, name)
    if missing is None or DEMO_PIPELINE not in config.file.pipelines:
        return name
    _console().print(  # also under -q: it changes what the run measures
        f"[yellow]{name} cannot run here:[/] {missing}\n"
        f"Running [bold]{DEMO_PIPELINE}[/] instead: the same stages on the bundled stand-in "
        "(the trained EDSR layout B8/F64, Set5, 16 T91 images). Its numbers are NOT those of "
        f"EDSR_x3.pb; every report of this run says so at the top. `--pipeline {name}` never falls back.\n"
    )
    return DEMO_PIPELINE


def _missing_default_input(config, name: str) -> str | None:
    """Why the default pipeline's model or image sets cannot be had here (fetching the model if it can), or None.

    Only a plain `sropt run` asks: a pipeline named with --pipeline fails
    with its own exit code (3 for a model fetch) and never falls back.
    """
    from sropt.core.errors import FetchError, InputError
    from sropt.models.resolve import resolve_model
    from sropt.pipeline.config import dataset_unavailable, resolve_dataset

    _, pipe = config.select(name)
    try:
        resolve_model(pipe.model)
    except (FetchError, InputError) as exc:
        return str(exc)
    sets = list(pipe.validate_.datasets) if pipe.validate_ else []  # `validate` is pydantic's method, not the stage
    if pipe.prune and pipe.prune.calib:
        sets.append(pipe.prune.calib)
    for ref in sets:
        why = dataset_unavailable(ref) if not resolve_dataset(ref).is_dir() else None
        if why:
            return why
    return None


def register(app: typer.Typer) -> None:
    """Add `run` to the CLI."""
    app.command("run")(run)
