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


def _console(stderr: bool = True):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


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
