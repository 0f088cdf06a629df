"""`sropt run`, `sropt check` and `sropt baseline update`: pipelines and the CI quality gate.

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

DEFAULT_FILE = "pipelines.yaml"

baseline_app = typer.Typer(help="Manage the baseline report relative gates compare against.", no_args_is_help=True)


def _pipelines_file(file: Optional[Path]) -> Path:
    """FILE if given, else ./pipelines.yaml, else the project's default pipelines.yaml."""
    if file is not None:
        return file
    local = Path(DEFAULT_FILE)
    if local.exists():
        return local
    from sropt.core.locations import PROJECT_ROOT

    shipped = PROJECT_ROOT / DEFAULT_FILE
    return shipped if shipped.exists() else local


def _console(stderr: bool = True):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


class _RichObserver:
    """Shows one spinner line per step, then its outcome."""

    def __init__(self, console) -> None:
        self.console = console
        self.status = None

    def step_started(self, name: str, index: int, total: int) -> None:
        self.prefix = f"[{index + 1}/{total}]"
        self.status = self.console.status(f"{self.prefix} {name} …")
        self.status.start()

    def step_progress(self, name: str, message: str) -> None:
        if self.status is not None:
            self.status.update(f"{self.prefix} {name} … {message}")

    def step_failed(self, name: str, exc: BaseException) -> None:
        if self.status is not None:
            self.status.stop()
        self.console.print(f"{self.prefix} {name}: [red]failed[/]")

    def step_finished(self, record) -> None:
        if self.status is not None:
            self.status.stop()
        mark = {"cached": "[dim]cached[/]", "ran": "[green]ran[/]", "rebuilt": "[yellow]rebuilt[/]"}[record.status]
        size = f", {record.size_bytes / 1024:.1f} KB" if record.size_bytes is not None else ""
        extra = f" (built in {record.build_seconds:.1f} s)" if record.status == "cached" else ""
        note = f" [yellow]{record.note}[/]" if record.note else ""
        self.console.print(f"{self.prefix} {record.name}: {mark} {record.seconds:.1f} s{extra}{size}{note}")


def _print_gates(console, results) -> None:
    from rich.markup import escape
    from rich.table import Table

    if not results:
        return
    table = Table(title="Quality gates", show_lines=False)
    for col in ("status", "gate", "artifact", "runtime", "dataset", "result"):
        table.add_column(col)
    style = {"pass": "green", "fail": "red", "error": "red", "skip": "dim"}
    for r in results:
        table.add_row(f"[{style[r.status.value]}]{r.status.value}[/]", escape(r.gate), escape(r.stage or "-"), r.runtime or "-", Path(r.dataset).name if r.dataset else "-", escape(r.message))
    console.print(table)


def _gate_failure(results, where: str):
    from sropt.core.errors import GateFailure
    from sropt.pipeline.gates import gates_failed

    failed = gates_failed(results)
    return GateFailure(
        f"{len(failed)} of {len(results)} gate check(s) failed ({where})",
        problems=[f"{r.gate} [{r.stage} / {r.runtime} / {Path(r.dataset).name}]: {r.status.value}: {r.message}" for r in failed],
    )


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
    """
    import os

    from sropt.pipeline.config import load_pipelines
    from sropt.pipeline.runner import run_pipeline

    # TensorFlow's C++ INFO/WARNING lines would drown the step progress.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    console = _console()
    path = _pipelines_file(file)
    config = load_pipelines(path)
    name, _ = config.select(pipeline)
    console.print(f"pipeline [bold]{name}[/] from {path}")
    missing = _missing_default_input(config, name) if pipeline is None and model is None else None
    if missing is not None and DEMO_PIPELINE in config.file.pipelines:
        console.print(
            f"[yellow]{name} cannot run here:[/] {missing}\n"
            f"Running [bold]{DEMO_PIPELINE}[/] instead: the same stages on the bundled stand-in "
            "(the trained EDSR layout B8/F64, Set5, 16 T91 images). Its numbers are NOT those of "
            f"EDSR_x3.pb; every report of this run says so at the top. `--pipeline {name}` never falls back.\n"
        )
        name = DEMO_PIPELINE
    result = run_pipeline(config, name, model=model, out=out, force=force, observer=_RichObserver(console), isolate=isolate)
    cached = sum(s.skipped for s in result.steps)
    console.print(f"run folder: {result.out_dir} ({cached}/{len(result.steps)} steps from cache)")
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


def _missing_default_input(config, name: str) -> str | None:
    """Why the default pipeline's model or image sets cannot be had here (fetching the model if it can), or None.

    Only a plain `sropt run` asks: a pipeline named with --pipeline fails
    with its own exit code (3 for a model fetch) and never falls back.
    """
    from sropt.core.errors import FetchError, InputError
    from sropt.models.resolve import resolve_model
    from sropt.pipeline.config import resolve_dataset

    _, pipe = config.select(name)
    try:
        resolve_model(pipe.model)
    except (FetchError, InputError) as exc:
        return str(exc)
    sets = list(pipe.validate.datasets) + [pipe.prune.calib] if pipe.prune else list(pipe.validate.datasets)
    absent = [ref for ref in sets if not resolve_dataset(ref).is_dir()]
    if absent:
        return f"image set(s) {', '.join(absent)} not found under {resolve_dataset(absent[0]).parent} (set SROPT_DATASETS_DIR)."
    return None


def check(
    report: Path = typer.Argument(..., help="report.json of `sropt run` or `sropt validate`."),
    baseline: Optional[Path] = typer.Option(None, "--baseline", "-b", help="Baseline report.json for `against: baseline` gates."),
    gates: Optional[Path] = typer.Option(None, "--gates", "-g", help="Pipelines file to take the gates from (default: the gates recorded in the report)."),
    pipeline: Optional[str] = typer.Option(None, "--pipeline", "-p", help="Take the gates of this pipeline from --gates (default file: ./pipelines.yaml)."),
    source: Optional[str] = typer.Option(None, "--source", help="Artifact (path, file name or glob) of the source model rows, for reports without a pipeline section."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Write JUnit XML here (one testcase per gate x artifact x runtime x dataset)."),
    summary: Optional[Path] = typer.Option(None, "--summary", help="Write a markdown summary here (e.g. $GITHUB_STEP_SUMMARY)."),
    json_out: bool = typer.Option(False, "--json", help="Print the gate results as JSON on stdout."),
) -> None:
    """Evaluate quality gates on a report: exit 0 pass, 1 a gate failed, 2 usage or input error."""
    from sropt.core.atomic import write_text_atomic
    from sropt.core.errors import InputError
    from sropt.pipeline.gates import evaluate_gates, gates_failed, gates_summary_markdown, load_report
    from sropt.pipeline.junit import write_junit
    from sropt.pipeline.schema import Gate

    data = load_report(report)
    recorded = (data.get("pipeline") or {})
    pipe_name = pipeline or recorded.get("name")
    baseline_path = baseline
    if gates is not None or pipeline is not None:
        from sropt.pipeline.config import load_pipelines

        config = load_pipelines(_pipelines_file(gates))
        pipe_name, pipe = config.select(pipe_name)
        gate_list = pipe.gates
        if baseline_path is None and pipe.baseline and (config.base_dir / pipe.baseline).is_file():
            baseline_path = config.base_dir / pipe.baseline
    elif recorded.get("gates") is not None:
        from pydantic import ValidationError

        try:
            gate_list = [Gate.model_validate(g) for g in recorded["gates"]]
        except ValidationError as exc:
            raise InputError(f"{report}: the gates recorded in the report are invalid ({exc.error_count()} errors); pass --gates FILE") from None
    else:
        raise InputError(f"{report}: the report records no gates (it was not written by `sropt run`). Give them with --gates pipelines.yaml --pipeline NAME.")
    if not gate_list:
        raise InputError(f"{report}: pipeline '{pipe_name}' defines no gates; add gates: to it or choose another --pipeline.")
    base = load_report(baseline_path, "baseline report") if baseline_path is not None else None
    results = evaluate_gates(gate_list, data, baseline=base, source=source)
    title = f"Quality gates: {pipe_name}" if pipe_name else "Quality gates"
    if junit is not None:
        write_junit(results, junit, suite=f"sropt.gates.{pipe_name}" if pipe_name else "sropt.gates")
    if summary is not None:
        write_text_atomic(summary, gates_summary_markdown(results, title=title), inputs=(report,))
    console = _console()
    _print_gates(console, results)
    if json_out:
        typer.echo(json.dumps({"passed": not gates_failed(results), "results": [r.to_json() for r in results]}, indent=2))
    if gates_failed(results):
        raise _gate_failure(results, str(report))
    console.print(f"[green]all {len(results)} gate check(s) passed[/]")


@baseline_app.command("update")
def baseline_update(
    report: Optional[Path] = typer.Argument(None, help="report.json to store (default: runs/<pipeline>/report.json)."),
    to: Optional[Path] = typer.Option(None, "--to", help="Baseline path (default: the pipeline's baseline:, else baselines/<pipeline>.json)."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Pipelines file (for the defaults above)."),
    pipeline: Optional[str] = typer.Option(None, "--pipeline", "-p", help="Pipeline (for the defaults above)."),
) -> None:
    """Store a report as the new baseline for `against: baseline` gates."""
    from sropt.core.atomic import write_text_atomic
    from sropt.pipeline.gates import load_report

    if report is None or to is None:
        from sropt.pipeline.config import load_pipelines

        config = load_pipelines(_pipelines_file(file))
        name, pipe = config.select(pipeline)
        if report is None:
            report = Path(pipe.output or Path("runs") / name) / "report.json"
        if to is None:
            to = config.base_dir / pipe.baseline if pipe.baseline else Path("baselines") / f"{name}.json"
    data = load_report(report)
    write_text_atomic(to, json.dumps(data, indent=2) + "\n", inputs=(report,))
    n = len(data.get("results", []))
    _console().print(f"baseline {to} updated from {report} ({n} rows)")


def register(app: typer.Typer) -> None:
    """Add `run`, `check` and `baseline` to the CLI."""
    app.command("run")(run)
    app.command("check")(check)
    app.add_typer(baseline_app, name="baseline")
