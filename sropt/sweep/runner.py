"""Run a validated sweep: preflight every point, run them through an engine, compute fronts and winners, write the reports."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sropt import __version__
from sropt.core.errors import ConfigError
from sropt.pipeline.config import preflight
from sropt.sweep.config import SweepPlan
from sropt.sweep.engines import Engine, PointOutcome, run_points
from sropt.sweep.frontier import candidates_of, fronts_by_model_runtime, pick_winner, violations

SWEEP_SCHEMA_VERSION = 1


def preflight_sweep(plan: SweepPlan, out_dir: Path) -> None:
    """Datasets, model paths and the output folder of every point; ConfigError before any point runs."""
    problems: list[str] = []
    for point in plan.points:
        problems += preflight(point.pipeline, point.id, base_dir=plan.pipelines.base_dir, out_dir=out_dir / "points" / point.id, model_override=None)
    if problems:
        unique = list(dict.fromkeys(problems))
        raise ConfigError(f"sweep '{plan.name}': {len(unique)} problem(s); nothing was run", problems=unique)


def run_sweep(
    plan: SweepPlan, out_dir: Path, engine: Engine, *,
    on_start: Callable[[str, str], None] | None = None, on_done: Callable[[PointOutcome], None] | None = None,
) -> dict[str, Any]:
    """Run every point of ``plan`` with ``engine``, write sweep.json/.md/.pipelines.yaml into ``out_dir``; return sweep.json's content."""
    from sropt.sweep.report import write_sweep_reports

    out_dir = Path(out_dir)
    preflight_sweep(plan, out_dir)
    t0 = time.perf_counter()
    tasks = [(plan.point_config(p), p.id, out_dir / ".build" / p.id) for p in plan.points]
    try:
        outcomes = run_points(tasks, engine, on_start=on_start, on_done=on_done, measure_dir=lambda pid: out_dir / "points" / pid)
    finally:
        shutil.rmtree(out_dir / ".build", ignore_errors=True)  # the build phase's scratch run folders
    result = summarize(plan, outcomes, engine=engine.name, seconds=time.perf_counter() - t0, reproduce_file=out_dir / "sweep.pipelines.yaml")
    write_sweep_reports(result, plan, out_dir)
    return result


def summarize(plan: SweepPlan, outcomes: list[PointOutcome], *, engine: str, seconds: float, reproduce_file: Path) -> dict[str, Any]:
    """sweep.json's content: every point with its candidates, the fronts, the winners."""
    goal = plan.sweep.goal.model_dump(mode="json", exclude_none=True)
    by_id = {p.id: p for p in plan.points}
    points, candidates = [], []
    for o in outcomes:
        model = by_id[o.id].pipeline.model
        cands = candidates_of(o.id, model, o.report, o.steps) if o.report else []
        for c in cands:
            c["violations"] = violations(c, goal.get("subject_to", []))
        candidates += cands
        points.append({
            "id": o.id, "overrides": by_id[o.id].overrides, "model": model, "status": o.status,
            "error": o.error, "error_class": o.error_class, "exit_code": o.exit_code, "seconds": o.seconds, "node": o.node, "retries": o.retries,
            "steps": [{k: s[k] for k in ("name", "status", "key", "seconds", "build_seconds", "artifact", "size_bytes", "node") if k in s} for s in o.steps],
            "candidates": cands,
        })
    return {
        "schema_version": SWEEP_SCHEMA_VERSION,
        "sropt_version": __version__,
        "sweep": plan.name,
        "base": plan.sweep.base,
        "pipelines_file": str(plan.pipelines.path) if plan.pipelines.path else None,
        "engine": engine,
        "seconds": round(seconds, 2),
        "goal": goal,
        "protocol": "PSNR/SSIM on Y, drops and speed-up against the source model in OpenCV (fp32) of the same validation run",
        "points": points,
        "fronts": {g: [_ref(c) for c in cs] for g, cs in fronts_by_model_runtime(candidates).items()},
        "winners": winners(candidates, goal, reproduce_file),
    }


def _ref(c: dict[str, Any]) -> dict[str, Any]:
    return {k: c[k] for k in ("point", "stage", "runtime", "artifact", "size_bytes", "latency_ms", "speed_up", "psnr_drop", "ssim_drop")}


def winners(candidates: list[dict[str, Any]], goal: dict[str, Any], reproduce_file: Path) -> dict[str, Any]:
    """The overall winner and one per model/runtime, each with the ``sropt run`` that reproduces it."""
    def _with_command(c: dict[str, Any] | None) -> dict[str, Any] | None:
        # Stage cache keys do not include the pipeline name, so this run is all cache hits.
        return None if c is None else {**_ref(c), "command": f"sropt run {reproduce_file} -p {c['point']}"}

    out: dict[str, Any] = {"overall": _with_command(pick_winner(candidates, goal))}
    groups = sorted({(c["model"], c["runtime"]) for c in candidates})
    out["by_model_runtime"] = {f"{m}/{r}": _with_command(pick_winner([c for c in candidates if (c["model"], c["runtime"]) == (m, r)], goal)) for m, r in groups}
    return out

