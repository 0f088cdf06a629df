"""Helpers the pipeline commands (`run`, `check`, `baseline`) share; not a command (leading underscore)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

DEFAULT_FILE = "pipelines.yaml"


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


def _console(stderr: bool = True, chatter: bool = False):
    """A rich console; a ``chatter`` one (progress, tables beside the result) prints nothing under -q."""
    from rich.console import Console

    from sropt.core.quiet import Verbosity, verbosity

    return Console(stderr=stderr, highlight=False, soft_wrap=True, quiet=chatter and verbosity() is Verbosity.QUIET)


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
    """GateFailure counting gates per artifact (a size gate checked on 2 runtimes x 2 sets is one gate), one problem line each."""
    from sropt.core.errors import GateFailure
    from sropt.pipeline.gates import gates_failed
    from sropt.validate.report_context import gate_groups

    failed = gates_failed(results)
    groups = gate_groups([r.to_json() for r in results])["groups"]
    bad = [(g["artifact"], line) for g in groups for line in g["lines"] if line["status"] in ("fail", "error")]
    total = sum(len(g["lines"]) for g in groups)
    return GateFailure(
        f"{len(bad)} of {total} gate(s) failed ({len(failed)} of {len(results)} checks over runtimes x datasets; {where})",
        problems=[f"{artifact}: {line['gate']} [{line['covered']}]: {line['status']}: {line['result']}" for artifact, line in bad],
    )


def _gates_in_effect(report_path: Path, data: dict, gates_file: Optional[Path], pipeline: Optional[str]):
    """(pipeline name, gates, the pipeline's baseline file or None) for a report.

    From ``gates_file``/``pipeline`` when given, else the gates `sropt run`
    recorded in the report. InputError when there are none.
    """
    from sropt.core.errors import InputError

    recorded = data.get("pipeline") or {}
    name = pipeline or recorded.get("name")
    if gates_file is not None or pipeline is not None:
        from sropt.pipeline.config import load_pipelines

        config = load_pipelines(_pipelines_file(gates_file))
        name, pipe = config.select(name)
        baseline_file = config.base_dir / pipe.baseline if pipe.baseline else None
        gates = pipe.gates
    elif recorded.get("gates") is not None:
        from pydantic import ValidationError

        from sropt.pipeline.schema import Gate

        try:
            gates = [Gate.model_validate(g) for g in recorded["gates"]]
        except ValidationError as exc:
            raise InputError(f"{report_path}: the gates recorded in the report are invalid ({exc.error_count()} errors); pass --gates FILE") from None
        baseline_file = None
    else:
        raise InputError(f"{report_path}: the report records no gates (it was not written by `sropt run`). Give them with --gates pipelines.yaml --pipeline NAME.")
    if not gates:
        raise InputError(f"{report_path}: pipeline '{name}' defines no gates; add gates: to it or choose another --pipeline.")
    return name, gates, baseline_file
