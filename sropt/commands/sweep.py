"""`sropt sweep`: run a grid of pipeline overrides, write the Pareto fronts and the winner under a goal.

Thin shell over ``sropt.sweep``: the sweep file is validated (exit 2 naming
the key, nothing run), points run through the local process pool or Ray,
and sweep.json / sweep.md / sweep.pipelines.yaml land in --out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional

import typer

from sropt.commands._shared import _console

DEFAULT_FILE = "sweeps.yaml"


def _sweeps_file(file: Optional[Path]) -> Path:
    """FILE if given, else ./sweeps.yaml, else the shipped one."""
    if file is not None:
        return file
    if Path(DEFAULT_FILE).exists():
        return Path(DEFAULT_FILE)
    from sropt.core.locations import PROJECT_ROOT

    return PROJECT_ROOT / DEFAULT_FILE


def sweep(
    file: Optional[Path] = typer.Argument(None, help="Sweeps file (default: ./sweeps.yaml, else the shipped one)."),
    name: Optional[str] = typer.Option(None, "--sweep", "-s", help="Sweep to run (default: the only one in the file)."),
    engine: Literal["local", "ray"] = typer.Option("local", "--engine", help="local (process pool on this machine) or ray."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="local engine: points built at once (validation always runs one point at a time)."),
    address: Optional[str] = typer.Option(None, "--address", help="ray engine: ray://HOST:PORT or auto (default: start a local Ray for this sweep)."),
    task_cpus: float = typer.Option(1.0, "--task-cpus", help="ray engine: CPUs each point's build declares."),
    task_memory_gb: Optional[float] = typer.Option(None, "--task-memory-gb", help="ray engine: memory each point's build declares (full-size EDSR conversion peaks around 10 GB)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Sweep folder (default: runs/sweep-<name>)."),
    json_out: bool = typer.Option(False, "--json", help="Print sweep.json's winners and point statuses on stdout."),
) -> None:
    """Run every point of a sweep (each an ordinary, cached pipeline run) and pick the winner under its goal.

    Exit codes: 0 done (failed points are recorded in sweep.json), 2 bad sweep
    file, option or unreachable Ray address (nothing was run).

    Example: sropt sweep -s ci --out runs/sweep-ci   (then: sropt run runs/sweep-ci/sweep.pipelines.yaml -p ci_p03)
    """
    import os

    from sropt.core.errors import InputError
    from sropt.sweep.config import load_sweeps, plan_sweep

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    console = _console()
    path = _sweeps_file(file)
    sweeps, raw, path = load_sweeps(path)
    if name is None:
        if len(sweeps.sweeps) != 1:
            raise InputError(f"{path}: holds {len(sweeps.sweeps)} sweeps ({', '.join(sweeps.sweeps)}); choose one with --sweep NAME.")
        name = next(iter(sweeps.sweeps))
    plan = plan_sweep(sweeps, raw, name, path=path)
    out_dir = out or Path("runs") / f"sweep-{name}"
    runner = _engine(engine, jobs, address, task_cpus, task_memory_gb)
    console.print(f"sweep [bold]{name}[/]: {len(plan.points)} points of base pipeline {plan.sweep.base}, engine {runner.name}")
    try:
        result = _run_with_progress(console, plan, out_dir, runner)
    finally:
        runner.close()
    _print_result(console, result, out_dir)
    if json_out:
        typer.echo(json.dumps({"sweep": name, "out_dir": str(out_dir), "winners": result["winners"],
                               "points": [{k: p[k] for k in ("id", "overrides", "status", "error")} for p in result["points"]]}, indent=2, default=str))


def _engine(engine: str, jobs: int, address: Optional[str], task_cpus: float = 1.0, task_memory_gb: Optional[float] = None):
    from sropt.core.errors import InputError
    from sropt.sweep.engines import LocalEngine, RayEngine

    if engine == "local":
        if address is not None:
            raise InputError("--address applies to --engine ray only.")
        return LocalEngine(jobs)
    if engine == "ray":
        memory = int(task_memory_gb * 1024**3) if task_memory_gb else None
        return RayEngine(address, task_cpus=task_cpus, task_memory=memory)
    raise InputError(f"--engine {engine}: choose local or ray.")


def _run_with_progress(console, plan, out_dir: Path, runner):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sropt.sweep.runner import run_sweep

    phases = 2 if runner.parallel else 1
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("points", total=len(plan.points) * phases)

        def started(pid: str, phase: str) -> None:
            bar.update(task, description=f"{phase} {pid}")

        def done(outcome) -> None:
            bar.advance(task)
            mark = "[green]ok[/]" if outcome.status == "ok" else f"[red]failed[/] ({outcome.error_class})"
            console.print(f"{outcome.phase} {outcome.id}: {mark} {outcome.seconds:.1f} s")

        return run_sweep(plan, out_dir, runner, on_start=started, on_done=done)


def _print_result(console, result, out_dir: Path) -> None:
    failed = [p["id"] for p in result["points"] if p["status"] != "ok"]
    if failed:
        console.print(f"[yellow]{len(failed)} point(s) failed:[/] {', '.join(failed)} (errors in sweep.json)")
    w = result["winners"]["overall"]
    if w is None:
        console.print("[yellow]no artifact meets the goal[/]")
    else:
        drop = ", ".join(f"{d} {v:.3f}" for d, v in w["psnr_drop"].items())
        console.print(f"winner: [bold]{w['point']} {w['stage']}[/] in {w['runtime']}: speed-up x{w['speed_up'] or 0:.2f}, {w['size_bytes'] / 1024:.1f} KB, PSNR-Y drop {drop} dB")
        console.print(f"reproduce: {w['command']}")
    console.print(f"sweep folder: {out_dir} (sweep.json, sweep.md)")


def register(app: typer.Typer) -> None:
    """Add `sweep` to the CLI."""
    app.command("sweep")(sweep)
