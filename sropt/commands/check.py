"""`sropt check`: evaluate quality gates on a report (the CI quality gate)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from sropt.commands._shared import _console, _gate_failure, _gates_in_effect, _print_gates


def check(
    report: Path = typer.Argument(..., help="report.json of `sropt run` or `sropt validate`."),
    baseline: Optional[Path] = typer.Option(None, "--baseline", "-b", help="Baseline file (`sropt baseline update`) for `against: baseline` gates; an error when no such gate is in effect."),
    gates: Optional[Path] = typer.Option(None, "--gates", "-g", help="Pipelines file to take the gates from (default: the gates recorded in the report)."),
    pipeline: Optional[str] = typer.Option(None, "--pipeline", "-p", help="Take the gates of this pipeline from --gates (default file: ./pipelines.yaml)."),
    source: Optional[str] = typer.Option(None, "--source", help="Artifact (path, file name or glob) of the source model rows, for reports without a pipeline section."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Write JUnit XML here (one testcase per gate x artifact x runtime x dataset)."),
    summary: Optional[Path] = typer.Option(None, "--summary", help="Write a markdown summary here (e.g. $GITHUB_STEP_SUMMARY)."),
    json_out: bool = typer.Option(False, "--json", help="Print the gate results as JSON on stdout."),
) -> None:
    """Evaluate quality gates on a report: exit 0 pass, 1 a gate failed, 2 usage or input error.

    A baseline that does not match the report (another pipeline, model
    checksum or scale) or lacks a row a baseline gate needs is an input
    error (exit 2), as is --baseline when no gate compares against one.

    Example:

        sropt check runs/ci/report.json --baseline baselines/edsr_x3_ci.json --junit gates.xml
    """
    from sropt.core.atomic import check_writable, write_text_atomic
    from sropt.pipeline.baseline import check_baseline, load_baseline
    from sropt.pipeline.gates import evaluate_gates, gates_failed, gates_summary_markdown, load_report
    from sropt.pipeline.junit import write_junit

    data = load_report(report)
    for dest, what in ((junit, "JUnit XML"), (summary, "summary")):
        if dest is not None:  # before any gate is evaluated, so a bad path is exit 2 and nothing half-done
            check_writable(dest, inputs=(report, *(p for p in (baseline, gates) if p is not None)), what=what)
    pipe_name, gate_list, pipeline_baseline = _gates_in_effect(report, data, gates, pipeline)
    base = None
    if baseline is not None:
        base = load_baseline(baseline)
        check_baseline(base, data, gate_list, baseline_path=baseline, source=source)
    elif pipeline_baseline is not None and pipeline_baseline.is_file():
        base = load_baseline(pipeline_baseline)
        check_baseline(base, data, gate_list, baseline_path=pipeline_baseline, source=source)
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
