"""Quality gates evaluated on a validation report (report.json).

A gate bounds one metric of the rows it matches (artifact x runtime x
dataset). Absolute gates compare the value with ``min``/``max``; relative
gates compare it with a reference row: the source model's row in the same
report (same dataset; same runtime when the source ran in it, else
``reference_runtime``) or the matching row of a baseline report.

Every gate yields one ``GateResult`` per matched row, so CI shows exactly
which artifact in which runtime regressed. A gate that matches no row, or a
relative gate without a reference row, is an *error* result: CI must never go
green because a gate silently checked nothing. The bicubic row is never
gated itself; ``against: bicubic`` gates compare with it.

A baseline (``sropt.pipeline.baseline``) stores per (step, runtime, dataset)
only the gated values; latency there is the ratio to the source model in the
same run, so a latency gate against a baseline compares speed-ups measured
on one machine each, never milliseconds across machines.
"""

from __future__ import annotations

import enum
import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sropt.core.errors import InputError
from sropt.core.machine import speed_flags
from sropt.pipeline.schema import Gate, Metric, Reference

UNITS = {Metric.PSNR_Y: "dB", Metric.PSNR_RGB: "dB", Metric.SSIM_Y: "", Metric.SIZE_BYTES: "B", Metric.LATENCY_MS: "ms"}


class GateStatus(str, enum.Enum):
    """Outcome of one gate on one row."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # the gate could not be evaluated (no rows, no reference, metric missing)
    SKIP = "skip"  # nothing to compare (a new artifact absent from the baseline)


@dataclass(frozen=True)
class GateResult:
    """One gate applied to one report row."""

    gate: str
    metric: str
    kind: str
    bound: float
    status: GateStatus
    message: str
    artifact: str = ""
    stage: str = ""
    runtime: str = ""
    dataset: str = ""
    value: float | None = None
    reference: float | None = None

    @property
    def failed(self) -> bool:
        """True when this result should fail the build (fail or error)."""
        return self.status in (GateStatus.FAIL, GateStatus.ERROR)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        d = self.__dict__.copy()
        d["status"] = self.status.value
        return d


def load_report(path: Path, what: str = "report") -> dict[str, Any]:
    """Read a report.json; InputError naming the file when it is missing or malformed."""
    path = Path(path)
    if path.is_dir():
        hint = f" Did you mean {path / 'report.json'}?" if (path / "report.json").is_file() else ""
        raise InputError(f"{path}: is a folder, not a {what} file; give the report.json inside it (e.g. {path / 'report.json'}).{hint}")
    if not path.is_file():
        raise InputError(f"{path}: {what} not found. Give the report.json written by `sropt validate` or `sropt run`.")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: {what} is not valid JSON ({exc}). Regenerate it with `sropt run` or `sropt validate`.") from None
    problems = report_problems(report)
    if problems:
        raise InputError(f"{path}: not a sropt validation report", problems=problems)
    if not report["results"]:  # no gate can pass or fail on nothing: an input problem (exit 2), not a failed gate (1)
        raise InputError(f"{path}: the {what} has no result rows: nothing was measured. Check the run's problems and re-run it.")
    return report


def report_problems(report: Any) -> list[str]:
    """What is wrong with a report's structure (empty when it is usable)."""
    if not isinstance(report, dict):
        return ["top level must be an object with schema_version and results"]
    problems = []
    if "schema_version" not in report:
        problems.append("missing 'schema_version'")
    results = report.get("results")
    if not isinstance(results, list):
        return problems + ["'results' must be a list of rows"]
    for i, row in enumerate(results):
        if not isinstance(row, dict):
            problems.append(f"results[{i}] is not an object")
            continue
        missing = [k for k in ("artifact", "runtime", "dataset") if k not in row]
        if missing:
            problems.append(f"results[{i}] lacks {', '.join(missing)}")
    return problems


def row_stage(report: dict[str, Any], row: dict[str, Any]) -> str:
    """The pipeline step that produced a row's artifact (or the artifact's file name)."""
    if row.get("stage"):
        return str(row["stage"])
    artifacts = (report.get("pipeline") or {}).get("artifacts") or {}
    for stage, path in artifacts.items():
        if path == row.get("artifact"):
            return stage
    return Path(str(row.get("artifact", ""))).name


def is_source_row(report: dict[str, Any], row: dict[str, Any], source: str | None = None) -> bool:
    """True for rows of the unoptimized source model."""
    if source is not None:
        art = str(row.get("artifact", ""))
        return art == source or Path(art).name == source or fnmatch.fnmatchcase(Path(art).name, source)
    return row.get("role") == "source" or row_stage(report, row) == "source"


def metric_value(row: dict[str, Any], metric: Metric) -> float | None:
    """The value of ``metric`` in a row (latency: the median), None when absent."""
    value = row.get(metric.value)
    if isinstance(value, dict):
        value = value.get("median")
    if value is None:
        return None
    return float(value)


def _matches(gate: Gate, report: dict[str, Any], row: dict[str, Any], *, parity: bool = False) -> bool:
    if row.get("artifact") == "bicubic" or row.get("role") == "bicubic":
        return False
    # A parity-only row ran a few crops, not the set: it has no metrics to gate (``parity`` finds them to say so).
    if (row.get("scope") == "parity") != parity:
        return False
    names = {row_stage(report, row), Path(str(row.get("artifact", ""))).name}
    if not any(fnmatch.fnmatchcase(n, p) for n in names for p in gate.artifacts):
        return False
    if gate.runtimes and row.get("runtime") not in {r.value for r in gate.runtimes}:
        return False
    if gate.datasets and not _dataset_in(row.get("dataset"), gate.datasets):
        return False
    return True


def _dataset_in(dataset: Any, names: list[str]) -> bool:
    d = str(dataset or "")
    return any(d == n or Path(d).name == Path(n).name for n in names)


def source_reference(gate: Gate, report: dict[str, Any], row: dict[str, Any], source: str | None) -> dict[str, Any] | None:
    candidates = [
        r for r in report["results"]
        if is_source_row(report, r, source) and _dataset_in(r.get("dataset"), [str(row.get("dataset"))])
    ]
    for runtime in (row.get("runtime"), gate.reference_runtime.value):
        for r in candidates:
            if r.get("runtime") == runtime and metric_value(r, gate.metric) is not None:
                return r
    return None


LATENCY_RATIO = "latency_ratio"


def baseline_key(row: dict[str, Any]) -> tuple[str, str, str]:
    """(step, runtime, dataset name) of a baseline row."""
    return (str(row["stage"]), str(row["runtime"]), str(row["dataset"]))


def report_key(report: dict[str, Any], row: dict[str, Any]) -> tuple[str, str, str]:
    """(step, runtime, dataset name) of a report row, as a baseline stores it."""
    return (row_stage(report, row), str(row.get("runtime")), Path(str(row.get("dataset"))).name)


def gated_value(gate: Gate, report: dict[str, Any], row: dict[str, Any], source: str | None = None) -> float | None:
    """What a baseline gate compares for ``row``: the metric, or for latency the ratio to the source in this run."""
    value = metric_value(row, gate.metric)
    if value is None or gate.metric is not Metric.LATENCY_MS:
        return value
    ref = source_reference(gate, report, row, source)
    ref_ms = metric_value(ref, gate.metric) if ref else None
    return value / ref_ms if ref_ms else None


def stored_value(gate: Gate, row: dict[str, Any]) -> float | None:
    """A baseline row's number for ``gate`` (latency: its stored ratio)."""
    value = row.get(LATENCY_RATIO if gate.metric is Metric.LATENCY_MS else gate.metric.value)
    return None if value is None else float(value)


def _baseline_row(report: dict[str, Any], row: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any] | None:
    key = report_key(report, row)
    return next((r for r in baseline.get("rows", []) if baseline_key(r) == key), None)


def _bicubic_row(report: dict[str, Any], row: dict[str, Any]) -> dict[str, Any] | None:
    for r in report["results"]:
        if (r.get("artifact") == "bicubic" or r.get("role") == "bicubic") and _dataset_in(r.get("dataset"), [str(row.get("dataset"))]):
            return r
    return None


def _fmt(metric: Metric, v: float) -> str:
    if metric is Metric.SSIM_Y:
        return f"{v:.4f}"
    if metric is Metric.SIZE_BYTES:
        return f"{v:,.0f} B"
    return f"{v:.2f} {UNITS[metric]}"


def gate_rows(gate: Gate, report: dict[str, Any], source: str | None = None) -> list[dict[str, Any]]:
    """The report rows ``gate`` bounds (the source itself is not gated against itself)."""
    rows = [r for r in report["results"] if _matches(gate, report, r)]
    if gate.relative and gate.against is Reference.SOURCE:
        rows = [r for r in rows if not is_source_row(report, r, source)]
    return rows


def _no_rows_message(gate: Gate, report: dict[str, Any]) -> str:
    """Why a gate matched no row: bad patterns, or only parity-crop rows (the runtime is not the artifact's own)."""
    parity = [r for r in report["results"] if _matches(gate, report, r, parity=True)]
    if not parity:
        return f"matched no report rows (artifacts {gate.artifacts}); check the patterns"
    where = ", ".join(sorted({f"{row_stage(report, r)} [{r.get('runtime')}]" for r in parity}))
    return (f"matched only parity-crop rows ({where}): validation measures each artifact on the full sets only in the "
            "runtime it is made for (.pb opencv, .onnx ort, .tflite tflite), other runtimes only on parity crops; gate that runtime")


def evaluate_gate(gate: Gate, report: dict[str, Any], *, baseline: dict[str, Any] | None = None, source: str | None = None) -> list[GateResult]:
    """Apply one gate to every matching row of ``report``."""
    if gate.metric is None:
        return evaluate_gpu_gate(gate, report)
    rows = gate_rows(gate, report, source)
    common = dict(gate=gate.label, metric=gate.metric.value, kind=gate.kind, bound=gate.bound)
    if gate.relative and gate.against is Reference.BASELINE and baseline is None:
        return [GateResult(**common, status=GateStatus.SKIP, message="no baseline given (--baseline, or a baseline: file that exists); gate not evaluated")]
    if not rows:
        return [GateResult(**common, status=GateStatus.ERROR, message=_no_rows_message(gate, report))]
    results = []
    for row in rows:
        where = dict(
            artifact=str(row.get("artifact")), stage=row_stage(report, row),
            # The dataset's name: rows may carry a path (datasets given by path).
            runtime=str(row.get("runtime")), dataset=Path(str(row.get("dataset"))).name,
        )
        value = metric_value(row, gate.metric)
        if value is None:
            errors = row.get("errors") or ([row["error"]] if row.get("error") else [])
            why = "; ".join(map(str, errors)) or f"row has no {gate.metric.value}"
            results.append(GateResult(**common, **where, status=GateStatus.ERROR, message=str(why)))
        elif not gate.relative:
            results.append(GateResult(**common, **where, **_absolute(gate, value)))
        else:
            results.append(GateResult(**common, **where, **_relative(gate, report, row, baseline, source)))
    return results


def evaluate_gpu_gate(gate: Gate, report: dict[str, Any]) -> list[GateResult]:
    """``gpu_compatible: true``: one result per matched .tflite, from its rows' ``gpu_delegate``.

    The verdict is LiteRT's model analyzer where its per-op check works, else
    sropt's port of gpu_compatibility.cc (convert/tflite_gpu.py says which;
    TF 2.21 and ai-edge-litert 2.3 have the analyzer's check compiled out).
    Fails naming the refused ops. A row whose verdict checked nothing (an old
    report from an analyzer that passes an unknown custom op) gives an error,
    never a pass: CI must not go green on a check that checked nothing.
    """
    common = dict(gate=gate.label, metric="gpu_compatible", kind=gate.kind, bound=gate.bound)
    rows: dict[str, dict[str, Any]] = {}
    for row in report["results"]:
        if row.get("kind") == "tflite" and _matches(gate, report, row):
            rows.setdefault(str(row.get("artifact")), row)
    if not rows:
        return [GateResult(**common, status=GateStatus.ERROR, message=f"matched no .tflite rows (artifacts {gate.artifacts}); "
                           "gpu_compatible checks .tflite files only")]
    results = []
    for artifact, row in rows.items():
        where = dict(artifact=artifact, stage=row_stage(report, row), runtime=str(row.get("runtime")))
        gpu = row.get("gpu_delegate")
        if not gpu:
            status, message = GateStatus.ERROR, "the report has no GPU analysis for this file; re-run validation with this sropt"
        elif not gpu.get("verified"):
            status, message = GateStatus.ERROR, f"cannot tell: {gpu.get('summary')}"
        elif gpu.get("compatible"):
            status, message = GateStatus.PASS, gpu.get("summary", "GPU-compatible")
        else:
            flagged = ", ".join(f"{op['op']} ({op['reason']})" if op.get("reason") else op["op"] for op in gpu.get("unsupported", []))
            status, message = GateStatus.FAIL, f"not GPU-compatible: {flagged}"
        results.append(GateResult(**common, **where, status=status, message=message,
                                  value=1.0 if status is GateStatus.PASS else 0.0))
    return results


def _absolute(gate: Gate, value: float) -> dict[str, Any]:
    ok = value >= gate.bound if gate.kind == "min" else value <= gate.bound
    op = ">=" if gate.kind == "min" else "<="
    msg = f"{_fmt(gate.metric, value)} {op} {_fmt(gate.metric, gate.bound)}"
    return dict(value=value, status=GateStatus.PASS if ok else GateStatus.FAIL, message=msg if ok else "not " + msg)


def _reference(gate: Gate, report: dict[str, Any], row: dict[str, Any], baseline: dict[str, Any] | None, source: str | None) -> tuple[float | None, float | None, str]:
    """(compared value, reference value, why there is no reference) for a relative gate."""
    value = metric_value(row, gate.metric)
    if gate.against is Reference.SOURCE:
        ref_row = source_reference(gate, report, row, source)
        missing = f"no source-model row for dataset {row.get('dataset')} (runtime {row.get('runtime')} or {gate.reference_runtime.value})"
        return value, metric_value(ref_row, gate.metric) if ref_row else None, missing
    if gate.against is Reference.BICUBIC:
        ref_row = _bicubic_row(report, row)
        return value, metric_value(ref_row, gate.metric) if ref_row else None, f"no bicubic row for dataset {row.get('dataset')}"
    ref_row = _baseline_row(report, row, baseline or {})
    missing = f"{'/'.join(report_key(report, row))} is not in the baseline; refresh it with `sropt baseline update`"
    return gated_value(gate, report, row, source), stored_value(gate, ref_row) if ref_row else None, missing


def _relative(gate: Gate, report: dict[str, Any], row: dict[str, Any], baseline: dict[str, Any] | None, source: str | None) -> dict[str, Any]:
    value, ref, missing = _reference(gate, report, row, baseline, source)
    if value is None or ref is None:
        return dict(value=value, status=GateStatus.ERROR, message=missing if ref is None else "no source latency to form the ratio")
    if gate.metric is Metric.LATENCY_MS and gate.against is Reference.BASELINE:
        other = _other_cpu_class(report, baseline or {})
        if other:
            return dict(value=value, reference=ref, status=GateStatus.SKIP, message=other)
    against = gate.against.value
    if gate.kind == "max_drop":
        drop = ref - value
        ok = drop <= gate.bound + 1e-12
        msg = f"drop {drop:+.3f} (value {_fmt(gate.metric, value)}, {against} {_fmt(gate.metric, ref)}); allowed {gate.bound:g}"
    elif gate.kind == "min_gain":
        gain = value - ref
        ok = gain >= gate.bound - 1e-12
        msg = f"gain {gain:+.3f} (value {_fmt(gate.metric, value)}, {against} {_fmt(gate.metric, ref)}); required {gate.bound:+g}"
    elif gate.metric is Metric.LATENCY_MS and gate.against is Reference.BASELINE:
        ratio = value / ref if ref else float("inf")
        ok = ratio <= gate.bound + 1e-12
        msg = f"latency vs source {value:.3f}x, baseline {ref:.3f}x: ratio {ratio:.3f}; allowed {gate.bound:g}"
    else:
        ratio = value / ref if ref else float("inf")
        ok = ratio <= gate.bound + 1e-12
        msg = f"ratio {ratio:.3f} (value {_fmt(gate.metric, value)}, {against} {_fmt(gate.metric, ref)}); allowed {gate.bound:g}"
    return dict(value=value, reference=ref, status=GateStatus.PASS if ok else GateStatus.FAIL, message=msg)


def _other_cpu_class(report: dict[str, Any], baseline: dict[str, Any]) -> str | None:
    """Why a baseline's speed-ups cannot bound this run's (other INT8/SIMD extensions), or None when they can.

    A speed-up is a ratio measured in one run, so a slower machine of the same
    kind keeps it; a CPU with other dot-product extensions does not (the
    INT8/float ratio moves with VNNI and AMX: core.machine.SPEED_FLAGS). A
    baseline without recorded flags is trusted, as before they were recorded.
    """
    measured, here = baseline.get("measured_with") or {}, report.get("environment") or {}
    if measured.get("cpu_flags") is None or here.get("cpu_flags") is None:
        return None
    then, now = speed_flags(measured["cpu_flags"]), speed_flags(here["cpu_flags"])
    if then == now:
        return None
    return (f"not comparable: the baseline's speed-ups were measured on {measured.get('cpu') or 'another CPU'} "
            f"({', '.join(then) or 'none'}), this run on {here.get('cpu') or 'this CPU'} ({', '.join(now) or 'none'}); "
            "INT8 and float speed-ups differ between them. Gate latency against a baseline written on this CPU class "
            "(`sropt baseline update` on such a runner), or pin the job to the baseline's CPU class")


def evaluate_gates(gates: list[Gate], report: dict[str, Any], *, baseline: dict[str, Any] | None = None, source: str | None = None) -> list[GateResult]:
    """Apply every gate; results in gate order, then report row order."""
    out: list[GateResult] = []
    for gate in gates:
        out += evaluate_gate(gate, report, baseline=baseline, source=source)
    return out


def gates_failed(results: list[GateResult]) -> list[GateResult]:
    """The results that fail the build."""
    return [r for r in results if r.failed]


def gates_summary_markdown(results: list[GateResult], *, title: str = "Quality gates") -> str:
    """A markdown summary (for PR comments / $GITHUB_STEP_SUMMARY)."""
    icon = {GateStatus.PASS: "✅", GateStatus.FAIL: "❌", GateStatus.ERROR: "⚠️", GateStatus.SKIP: "⏭️"}
    failed = gates_failed(results)
    counts = {s: sum(r.status is s for r in results) for s in GateStatus}
    head = "FAILED" if failed else "passed"
    lines = [
        f"## {title}: {head}",
        "",
        f"{counts[GateStatus.PASS]} passed, {counts[GateStatus.FAIL]} failed, "
        f"{counts[GateStatus.ERROR]} errors, {counts[GateStatus.SKIP]} skipped.",
        "",
        "| | gate | artifact | runtime | dataset | result |",
        "|---|---|---|---|---|---|",
    ]
    order = sorted(results, key=lambda r: (not r.failed, r.status is GateStatus.SKIP))
    for r in order:
        lines.append(
            f"| {icon[r.status]} | {r.gate} | {r.stage or '-'} | {r.runtime or '-'} | {r.dataset or '-'} | {r.message} |"
        )
    return "\n".join(lines) + "\n"

