"""`sropt check`: evaluate quality gates on a report (the CI quality gate)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from sropt.commands._shared import _console, _gate_failure, _pipelines_file, _print_gates


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


def register(app: typer.Typer) -> None:
    """Add `check` to the CLI."""
    app.command("check")(check)
