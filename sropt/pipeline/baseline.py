"""Baselines: the gated numbers of a reviewed run, small enough to review as a diff.

A baseline holds, per artifact step x runtime x dataset, only the metrics an
``against: baseline`` gate bounds, plus what identifies the run (pipeline,
model checksum, scale) and what the numbers were measured with (versions,
CPU, settings). ``sropt baseline update`` writes it with sorted keys and rows
and rounded values, so a review diff shows exactly the numbers that moved.

Latency is stored as the artifact's ratio to the source model *in the same
run* (``latency_ratio``): milliseconds from another machine mean nothing,
the speed-up measured on one machine in one run does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sropt.core.errors import InputError
from sropt.pipeline.gates import LATENCY_RATIO, baseline_key, gate_rows, gated_value, report_key, stored_value
from sropt.pipeline.schema import Gate, Metric, Reference

BASELINE_SCHEMA = "sropt.baseline/1"

# Rounding of stored values: below what any gate resolves, above float noise,
# so re-measuring an unchanged run rewrites the same text.
_DIGITS = {Metric.PSNR_Y: 3, Metric.PSNR_RGB: 3, Metric.SSIM_Y: 5}
_RATIO_DIGITS = 3
_SETTINGS = ("scale", "degradations", "runtimes", "repeats", "warmup", "threads", "bench_size", "tile")


def baseline_gates(gates: list[Gate]) -> list[Gate]:
    """The gates that compare against a baseline."""
    return [g for g in gates if g.relative and g.against is Reference.BASELINE]


def _rounded(metric: Metric, value: float) -> float | int:
    if metric is Metric.SIZE_BYTES:
        return int(round(value))
    if metric is Metric.LATENCY_MS:
        return round(value, _RATIO_DIGITS)
    return round(value, _DIGITS[metric])


def baseline_from_report(report: dict[str, Any], gates: list[Gate], *, where: str, source: str | None = None) -> dict[str, Any]:
    """The baseline of ``report`` for ``gates``; InputError when no gate compares against a baseline."""
    bgates = baseline_gates(gates)
    if not bgates:
        raise InputError(
            f"{where}: no gate compares against a baseline (against: baseline), so a baseline would gate nothing. "
            "Add such gates to the pipeline first."
        )
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for gate in bgates:
        for row in gate_rows(gate, report, source):
            value = gated_value(gate, report, row, source)
            if value is None:
                continue
            key = report_key(report, row)
            entry = rows.setdefault(key, dict(zip(("stage", "runtime", "dataset"), key)))
            entry[LATENCY_RATIO if gate.metric is Metric.LATENCY_MS else gate.metric.value] = _rounded(gate.metric, value)
    pipeline = report.get("pipeline") or {}
    config = report.get("config") or {}
    environment = report.get("environment") or {}
    return {
        "schema": BASELINE_SCHEMA,
        "pipeline": pipeline.get("name"),
        "model_sha256": pipeline.get("model_sha256"),
        "scale": config.get("scale"),
        "measured_with": {
            "cpu": environment.get("cpu"),
            "cpu_flags": environment.get("cpu_flags"),
            "threads": environment.get("threads"),
            "packages": environment.get("packages"),
            "settings": {k: config[k] for k in _SETTINGS if k in config},
        },
        "rows": [rows[k] for k in sorted(rows)],
    }


def baseline_json(baseline: dict[str, Any]) -> str:
    """Stable text: sorted keys, one row per line (a changed number is a one-line diff)."""
    placeholder = "\u0000rows\u0000"
    text = json.dumps({**baseline, "rows": placeholder}, indent=2, sort_keys=True)
    rows = ",\n".join("    " + json.dumps(row, sort_keys=True) for row in baseline["rows"])
    return text.replace(json.dumps(placeholder), "[\n" + rows + "\n  ]" if rows else "[]") + "\n"


def load_baseline(path: Path) -> dict[str, Any]:
    """Read a baseline file; InputError naming the file and the field when it is missing or malformed."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give the baseline file (e.g. baselines/<pipeline>.json).")
    if not path.is_file():
        raise InputError(f"{path}: baseline not found. Write one with `sropt baseline update REPORT --to {path}`.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: baseline is not valid JSON ({exc}). Rewrite it with `sropt baseline update`.") from None
    if isinstance(data, dict) and "results" in data and "schema" not in data:
        raise InputError(
            f"{path}: is a validation report, not a baseline. Make a baseline from it with "
            f"`sropt baseline update {path} --to baselines/<pipeline>.json`."
        )
    problems = baseline_problems(data)
    if problems:
        raise InputError(f"{path}: not a sropt baseline", problems=problems)
    return data


def baseline_problems(data: Any) -> list[str]:
    """What is wrong with a baseline's structure, field by field (empty when usable)."""
    if not isinstance(data, dict):
        return ["top level must be an object"]
    problems = []
    if data.get("schema") != BASELINE_SCHEMA:
        problems.append(f"field 'schema' must be {BASELINE_SCHEMA!r} (got {data.get('schema')!r})")
    # None is allowed: a `sropt validate` report names no pipeline or model checksum.
    for field, kind in (("pipeline", str), ("model_sha256", str), ("scale", int)):
        if field not in data or not isinstance(data[field], (kind, type(None))):
            problems.append(f"field '{field}' is missing or not a {kind.__name__}")
    rows = data.get("rows")
    if not isinstance(rows, list):
        return problems + ["field 'rows' must be a list"]
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            problems.append(f"rows[{i}] is not an object")
            continue
        problems += [f"rows[{i}].{k} is missing" for k in ("stage", "runtime", "dataset") if not isinstance(row.get(k), str)]
        problems += [
            f"rows[{i}].{k} is not a number" for k, v in row.items()
            if k not in ("stage", "runtime", "dataset") and (isinstance(v, bool) or not isinstance(v, (int, float)))
        ]
    return problems


def baseline_mismatch(baseline: dict[str, Any], report: dict[str, Any]) -> list[str]:
    """Why ``baseline`` was not measured on the run ``report`` describes (pipeline, model checksum, scale)."""
    pipeline = report.get("pipeline") or {}
    theirs = {
        "pipeline": pipeline.get("name"),
        "model_sha256": pipeline.get("model_sha256"),
        "scale": (report.get("config") or {}).get("scale"),
    }
    return [
        f"{field}: baseline {baseline.get(field)!r}, report {value!r}"
        for field, value in theirs.items()
        if value is not None and baseline.get(field) != value
    ]


def missing_rows(gates: list[Gate], report: dict[str, Any], baseline: dict[str, Any], source: str | None = None) -> list[str]:
    """Rows (and metrics) a baseline gate needs that the baseline lacks."""
    have = {baseline_key(r): r for r in baseline.get("rows", [])}
    missing = []
    for gate in baseline_gates(gates):
        for row in gate_rows(gate, report, source):
            key = report_key(report, row)
            if key not in have or stored_value(gate, have[key]) is None:
                missing.append(f"{'/'.join(key)}: {gate.metric.value} (gate '{gate.label}')")
    return sorted(set(missing))


def check_baseline(baseline: dict[str, Any], report: dict[str, Any], gates: list[Gate], *, baseline_path: Path, source: str | None = None) -> None:
    """InputError when ``baseline`` cannot gate ``report``: no baseline gate, another run, or missing rows."""
    if not baseline_gates(gates):
        raise InputError(
            f"--baseline {baseline_path}: no gate in effect compares against a baseline (against: baseline), "
            "so the baseline would check nothing. Add baseline gates to the pipeline, or drop --baseline."
        )
    mismatch = baseline_mismatch(baseline, report)
    if mismatch:
        raise InputError(
            f"{baseline_path}: this baseline was measured on another run; write one for this pipeline with `sropt baseline update`.",
            problems=mismatch,
        )
    missing = missing_rows(gates, report, baseline, source)
    if missing:
        raise InputError(
            f"{baseline_path}: the baseline lacks {len(missing)} row(s) that baseline gates need; "
            "refresh it with `sropt baseline update` after review.",
            problems=missing,
        )
