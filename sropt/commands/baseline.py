"""`sropt baseline update`: store a report as the baseline for `against: baseline` gates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from sropt.commands._shared import _console, _pipelines_file

baseline_app = typer.Typer(help="Manage the baseline report relative gates compare against.", no_args_is_help=True)


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
    """Add `baseline` to the CLI."""
    app.add_typer(baseline_app, name="baseline")
