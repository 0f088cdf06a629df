"""`sropt baseline update`: store the gated numbers of a reviewed run as the baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sropt.commands._shared import _console, _gates_in_effect, _pipelines_file

baseline_app = typer.Typer(help="Manage the baseline that `against: baseline` gates compare with.", no_args_is_help=True)


@baseline_app.command("update")
def baseline_update(
    report: Optional[Path] = typer.Argument(None, help="report.json to take the numbers from (default: runs/<pipeline>/report.json)."),
    to: Optional[Path] = typer.Option(None, "--to", help="Baseline path (default: the pipeline's baseline:, else baselines/<pipeline>.json)."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Pipelines file: gates and defaults (default: the gates recorded in the report)."),
    pipeline: Optional[str] = typer.Option(None, "--pipeline", "-p", help="Pipeline (for the gates and defaults above)."),
) -> None:
    """Write the baseline of a report: per artifact x runtime x dataset, only the metrics baseline gates bound.

    The file is sorted and rounded so a review diff shows only the numbers
    that moved; latency is stored as the ratio to the source model in the
    same run. Exit 2 when no gate compares against a baseline.

    Example:

        sropt baseline update runs/ci/report.json --to baselines/edsr_x3_ci.json
    """
    from sropt.core.atomic import check_writable, write_text_atomic
    from sropt.pipeline.baseline import baseline_from_report, baseline_json
    from sropt.pipeline.gates import load_report

    if report is None:
        from sropt.pipeline.config import load_pipelines

        name, pipe = load_pipelines(_pipelines_file(file)).select(pipeline)
        report = Path(pipe.output or Path("runs") / name) / "report.json"
    data = load_report(report)
    name, gates, pipeline_baseline = _gates_in_effect(report, data, file, pipeline)
    to = to or pipeline_baseline or Path("baselines") / f"{name}.json"
    check_writable(to, inputs=(report, *(p for p in (file,) if p is not None)), what="baseline")
    baseline = baseline_from_report(data, gates, where=f"pipeline '{name}'")
    write_text_atomic(to, baseline_json(baseline), inputs=(report,))
    _console().print(f"baseline {to} written from {report}: {len(baseline['rows'])} rows")


def register(app: typer.Typer) -> None:
    """Add `baseline` to the CLI."""
    app.add_typer(baseline_app, name="baseline")
