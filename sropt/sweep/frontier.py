"""Candidates of a sweep, their Pareto front and the winner under a goal (pure functions on plain dicts).

A *candidate* is one artifact of one point in one runtime: its size,
latency, PSNR/SSIM per dataset, and the drops and speed-up against the
source model in OpenCV (fp32) measured by the same validation run, so every
ratio comes from cells timed one after the other on one machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The reference every drop and speed-up is computed against (issue 17: "the source in OpenCV fp32").
REFERENCE_RUNTIME = "opencv"


def candidates_of(point_id: str, model: str, report: dict[str, Any], steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One candidate per (artifact step, runtime) of a point's run report."""
    keys = {s["name"]: s["key"] for s in steps}
    rows = [r for r in report.get("results", []) if r.get("stage") and r.get("psnr_y") is not None]
    ref = {_ds(r): r for r in rows if r["stage"] == "source" and r["runtime"] == REFERENCE_RUNTIME}
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        c = cells.setdefault((r["stage"], r["runtime"]), {
            "point": point_id, "model": model, "stage": r["stage"], "runtime": r["runtime"],
            "artifact": Path(str(r["artifact"])).name, "step_key": keys.get(r["stage"]), "size_bytes": r.get("size_bytes"),
            "latency_ms": _median(r.get("latency_ms")), "speed_up": None,
            "peak_rss_mb": r.get("peak_rss_mb"),  # of the runtime's validation worker (None when validated in-process)
            "psnr_y": {}, "ssim_y": {}, "psnr_drop": {}, "ssim_drop": {},
        })
        ds = _ds(r)
        c["psnr_y"][ds], c["ssim_y"][ds] = r["psnr_y"], r.get("ssim_y")
        src = ref.get(ds)
        if src is not None:
            c["psnr_drop"][ds] = round(float(src["psnr_y"]) - float(r["psnr_y"]), 4)
            if src.get("ssim_y") is not None and r.get("ssim_y") is not None:
                c["ssim_drop"][ds] = round(float(src["ssim_y"]) - float(r["ssim_y"]), 5)
            src_ms = _median(src.get("latency_ms"))
            if src_ms and c["latency_ms"] and c["speed_up"] is None:
                c["speed_up"] = round(src_ms / c["latency_ms"], 4)
    return list(cells.values())


def _ds(row: dict[str, Any]) -> str:
    return Path(str(row.get("dataset"))).name


def _median(latency: Any) -> float | None:
    if isinstance(latency, dict):
        latency = latency.get("median")
    return float(latency) if latency is not None else None


def metric_value(candidate: dict[str, Any], metric: str) -> float | None:
    """A candidate's value of ``metric``; per-dataset metrics give their worst dataset (a bound must hold on all)."""
    value = candidate.get(metric)
    if isinstance(value, dict):
        if not value:
            return None
        worse_is_high = metric.endswith("_drop")
        return max(value.values()) if worse_is_high else min(value.values())
    return None if value is None else float(value)


def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """True when ``a`` is no worse than ``b`` everywhere and better somewhere (all objectives minimized)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def pareto_front(candidates: list[dict[str, Any]], objectives: tuple[tuple[str, str], ...] = (("psnr_drop", "min"), ("speed_up", "max"))) -> list[dict[str, Any]]:
    """The candidates no other candidate dominates on ``objectives`` (each (metric, 'min'|'max')).

    Candidates missing an objective are left out; the same artifact in the same
    runtime counted by several points (the shared source, a shared prune) is
    kept once, from the first point that has it.
    """
    seen: set[tuple[Any, ...]] = set()
    scored = []
    for c in candidates:
        ident = (c.get("step_key") or (c["point"], c["stage"]), c["runtime"])
        values = [metric_value(c, m) for m, _ in objectives]
        if ident in seen or any(v is None for v in values):
            continue
        seen.add(ident)
        scored.append((c, tuple(v if sense == "min" else -v for v, (_, sense) in zip(values, objectives))))
    return [c for c, s in scored if not any(dominates(o, s) for _, o in scored)]


def fronts_by_model_runtime(candidates: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The Pareto front (PSNR drop vs speed-up) of each ``model/runtime`` group, sorted by speed-up."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in candidates:
        groups.setdefault(f"{c['model']}/{c['runtime']}", []).append(c)
    return {g: sorted(pareto_front(cs), key=lambda c: metric_value(c, "speed_up") or 0.0) for g, cs in sorted(groups.items())}


def violations(candidate: dict[str, Any], bounds: list[dict[str, Any]]) -> list[str]:
    """Bounds ``candidate`` breaks, e.g. ``psnr_drop 0.42 > 0.3``; a missing metric breaks its bound."""
    out = []
    for b in bounds:
        value = metric_value(candidate, b["metric"])
        if value is None:
            out.append(f"{b['metric']} not measured")
        elif b.get("max") is not None and value > b["max"]:
            out.append(f"{b['metric']} {value:g} > {b['max']:g}")
        elif b.get("min") is not None and value < b["min"]:
            out.append(f"{b['metric']} {value:g} < {b['min']:g}")
    return out


def pick_winner(candidates: list[dict[str, Any]], goal: dict[str, Any]) -> dict[str, Any] | None:
    """The optimized artifact that meets every bound and is best on the objective; ties go to the smaller PSNR drop.

    The source model itself is never the winner (it is the reference the
    drops and speed-ups are measured against); None when nothing qualifies.
    """
    sense = "max" if goal.get("maximize") else "min"
    objective = goal.get("maximize") or goal.get("minimize")
    runtimes = goal.get("runtimes")
    ok = [
        c for c in candidates
        if c["stage"] != "source" and (not runtimes or c["runtime"] in runtimes)
        and metric_value(c, objective) is not None and not violations(c, goal.get("subject_to", []))
    ]
    if not ok:
        return None

    def rank(c: dict[str, Any]) -> tuple[float, float, str, str]:
        v = metric_value(c, objective)
        drop = metric_value(c, "psnr_drop")
        return (-v if sense == "max" else v, drop if drop is not None else float("inf"), c["point"], c["runtime"])

    return min(ok, key=rank)
