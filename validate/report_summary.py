"""The ten-second summary at the top of every report: model, protocol, one row per artifact, machine.

Built from report.json values (plain dicts), so `sropt validate` and
`sropt run` (whose rows carry a pipeline ``stage``) render the same block from
one context, in markdown and in HTML. One row per artifact and the runtime it
was measured in on the full sets (parity-only rows are summed up in words
under the table): format, size and its ratio to the source, PSNR/SSIM per
dataset with the change against the source and against bicubic, the latency
(one synthetic-input figure, so it is shown once, not per dataset) with the
speed-up against the source model in OpenCV, and the gates passed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sropt.core.machine import speed_flags
from sropt.validate.report_words import format_name, parity_sentence, runtime_name, signed, size_words

BICUBIC = "bicubic"
#: Packages whose versions decide the numbers, in the order the summary names them.
VERSION_NAMES = {"sropt": "sropt", "tensorflow": "TensorFlow", "onnxruntime": "ONNX Runtime",
                 "opencv-contrib-python-headless": "OpenCV", "ai-edge-litert": "LiteRT", "numpy": "numpy"}


def dataset_name(row: dict[str, Any]) -> str:
    """``Set5`` for a row whose dataset is a path."""
    return Path(str(row.get("dataset"))).name


def artifact_name(row: dict[str, Any]) -> str:
    """The pipeline step (``quantize.tflite.int8``) or, outside a pipeline, the file name."""
    return str(row.get("stage") or Path(str(row.get("artifact"))).name)


def source_artifact(results: list[dict[str, Any]]) -> str | None:
    """The artifact every change is measured against: the pipeline's source step, else the first one listed."""
    rows = [r for r in results if r.get("artifact") != BICUBIC]
    staged = next((r["artifact"] for r in rows if r.get("stage") == "source" or r.get("role") == "source"), None)
    return staged or (rows[0]["artifact"] if rows else None)


def full_rows(results: list[dict[str, Any]], artifact: str) -> list[dict[str, Any]]:
    """``artifact``'s full-set rows (not the parity-crop ones)."""
    return [r for r in results if r.get("artifact") == artifact and r.get("scope", "full") != "parity"]


def _reference_row(rows: list[dict[str, Any]], dataset: str, runtime: str | None) -> dict[str, Any] | None:
    """The source row on ``dataset`` to compare with: same runtime when it ran there, else OpenCV, else any."""
    cand = [r for r in rows if dataset_name(r) == dataset and r.get("psnr_y") is not None]
    for rt in (runtime, "opencv"):
        hit = next((r for r in cand if r.get("runtime") == rt), None)
        if hit is not None:
            return hit
    return cand[0] if cand else None


def _latency(row: dict[str, Any]) -> float | None:
    median = (row.get("latency_ms") or {}).get("median")
    return float(median) if median is not None else None


def comparison_words(results: list[dict[str, Any]]) -> str:
    """What every Δ source and speed-up compares with, in words."""
    source = source_artifact(results)
    if source is None:
        return "nothing ran"
    staged = any(r.get("stage") == "source" for r in results)
    return f"{Path(str(source)).name}, " + ("the pipeline's source model" if staged else "the first artifact given")


def speed_reference(results: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """The source row whose latency every speed-up divides (OpenCV when the source ran there) and its words."""
    source = source_artifact(results)
    rows = [r for r in full_rows(results, source) if _latency(r)] if source else []
    row = next((r for r in rows if r.get("runtime") == "opencv"), rows[0] if rows else None)
    if row is None:
        return None, "no latency of the source model was measured"
    return row, f"{Path(str(row['artifact'])).name} in {runtime_name(row.get('runtime'))}"


def summary_rows(report: dict[str, Any], gate_results: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One dict per artifact x full-set runtime (bicubic first), with every cell the summary table shows."""
    results = report.get("results", [])
    datasets = list(dict.fromkeys(dataset_name(r) for r in results))
    source = source_artifact(results)
    source_rows = full_rows(results, source) if source else []
    source_size = next((r.get("size_bytes") for r in source_rows if r.get("size_bytes")), None)
    speed_row, _ = speed_reference(results)
    gates = gates_by_artifact(gate_results or [])
    bicubic = {dataset_name(r): r.get("psnr_y") for r in results if r.get("artifact") == BICUBIC}
    out = [_bicubic_line(results, datasets, source_rows, bicubic)]
    for artifact in dict.fromkeys(r["artifact"] for r in results if r.get("artifact") != BICUBIC):
        by_runtime: dict[str, list[dict[str, Any]]] = {}
        for r in full_rows(results, artifact):
            by_runtime.setdefault(str(r.get("runtime")), []).append(r)
        if not by_runtime:  # only parity rows: said under the table
            continue
        for runtime, rows in by_runtime.items():
            line = _artifact_line(rows, datasets, (source_rows, bicubic), source_size, speed_row, artifact == source)
            line["gates"] = gates.get(line["name"])
            out.append(line)
    return out


def _artifact_line(rows, datasets, references, source_size, speed_row, is_source: bool) -> dict[str, Any]:
    first = rows[0]
    size = first.get("size_bytes")
    latency = next((_latency(r) for r in rows if _latency(r)), None)
    ref_latency = _latency(speed_row) if speed_row else None
    errors = list(dict.fromkeys(e for r in rows for e in r.get("errors") or []))
    return {
        "name": artifact_name(first), "file": Path(str(first.get("artifact"))).name, "is_source": is_source,
        "format": format_name(first.get("kind"), first.get("precision")), "runtime": runtime_name(first.get("runtime")),
        "size": size_words(size), "size_ratio": f"{size / source_size:.2f}x" if size and source_size else "-",
        "scores": [_score_cell(rows, d, *references, is_source) for d in datasets],
        "latency": f"{latency:.1f} ms" if latency else "-",
        "speedup": f"{ref_latency / latency:.2f}x" if latency and ref_latency else "-",
        "errors": errors, "gates": None,
    }


def _score_cell(rows, dataset: str, source_rows, bicubic: dict[str, float | None], is_source: bool) -> dict[str, str]:
    row = next((r for r in rows if dataset_name(r) == dataset), None)
    if row is None or row.get("psnr_y") is None:
        if row is not None and row.get("psnr_y_inf"):
            return {"psnr": "inf", "ssim": _fmt(row.get("ssim_y"), 4), "d_src": "-", "d_bic": "-", "d_ssim": "-"}
        return {"psnr": "-", "ssim": "-", "d_src": "-", "d_bic": "-", "d_ssim": "-"}
    ref = _reference_row(source_rows, dataset, row.get("runtime"))
    bic = bicubic.get(dataset)
    return {
        "psnr": f"{row['psnr_y']:.2f}", "ssim": _fmt(row.get("ssim_y"), 4),
        "d_src": "ref" if is_source else signed(_diff(row, ref, "psnr_y")),
        "d_bic": signed(row["psnr_y"] - bic) if bic is not None else "-",
        "d_ssim": "ref" if is_source else signed(_diff(row, ref, "ssim_y"), 4),
    }


def _bicubic_line(results, datasets, source_rows, bicubic: dict[str, float | None]) -> dict[str, Any]:
    """The bicubic baseline's row (its change against the source; against itself it is the reference)."""
    rows = [r for r in results if r.get("artifact") == BICUBIC]
    line = {"name": BICUBIC, "file": "", "is_source": False, "format": "MATLAB imresize", "runtime": "-",
            "size": "-", "size_ratio": "-", "latency": "-", "speedup": "-", "errors": [], "gates": None,
            "scores": [_score_cell(rows, d, source_rows, bicubic, False) for d in datasets]}
    for cell in line["scores"]:
        cell["d_bic"] = "ref"
    return line


def _diff(row: dict[str, Any], ref: dict[str, Any] | None, key: str) -> float | None:
    if ref is None or row.get(key) is None or ref.get(key) is None:
        return None
    return float(row[key]) - float(ref[key])


def _fmt(x: Any, digits: int) -> str:
    return "-" if x is None else f"{float(x):.{digits}f}"


def gates_by_artifact(gate_results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per artifact (step): each distinct gate once (all its runtime x dataset rows), and how many passed."""
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for g in gate_results:
        if g.get("status") == "skip":
            continue
        groups.setdefault(str(g.get("stage") or "-"), {}).setdefault(str(g.get("gate")), []).append(g)
    out = {}
    for stage, by_gate in groups.items():
        passed = sum(all(r["status"] == "pass" for r in rs) for rs in by_gate.values())
        out[stage] = {"passed": passed, "total": len(by_gate), "text": f"{passed} of {len(by_gate)}", "ok": passed == len(by_gate)}
    return out


def agreement_lines(report: dict[str, Any]) -> list[str]:
    """One sentence per artifact x other runtime: how its output there agrees with its reference output."""
    results = report.get("results", [])
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        if r.get("parity"):
            by_key.setdefault((r["artifact"], str(r.get("runtime"))), []).append(r)
    lines = []
    for (artifact, runtime), rows in by_key.items():
        sentence = parity_sentence([r["parity"] for r in rows], artifact)
        crops = rows[0]["parity"].get("crops")
        where = ", ".join(dict.fromkeys(dataset_name(r) for r in rows))
        lines.append(f"{artifact_name(rows[0])} in {runtime_name(runtime)}: {sentence} ({crops} fixed crops per set; {where})")
    return lines


def machine_words(env: dict[str, Any]) -> str:
    """``Intel(R) Xeon(R) Processor (avx2, avx512f, avx512_vnni, amx_int8), 2 cores, 2 threads, Linux x86_64``."""
    flags = speed_flags(env.get("cpu_flags"))
    cpu = f"{env.get('cpu') or 'unknown CPU'}" + (f" ({', '.join(flags)})" if flags else "")
    os_name = str(env.get("os") or "").split("-")[0]
    return f"{cpu}, {env.get('cores', '?')} cores, {env.get('threads', '?')} threads, {os_name} {env.get('machine') or ''}".rstrip()


def version_words(env: dict[str, Any]) -> str:
    """``Python 3.11.7, sropt 0.1.0, TensorFlow 2.21.0, ...`` (installed ones only)."""
    packages = env.get("packages") or {}
    parts = [f"Python {env['python']}"] if env.get("python") else []
    parts += [f"{label} {packages[name]}" for name, label in VERSION_NAMES.items() if packages.get(name)]
    return ", ".join(parts)


DEGRADATION_WORDS = {"matlab-bicubic": "MATLAB imresize bicubic (matlab-bicubic)", "opencv-cubic": "cv2.resize cubic (opencv-cubic)",
                     "opencv-area": "cv2.resize area (opencv-area)", "paired-lr": "the given LR files (paired-lr)"}


def protocol_sentence(report: dict[str, Any]) -> str:
    """How every number was made, in one sentence (datasets with their image counts, degradation, latency input)."""
    results, config = report.get("results", []), report.get("config", {})
    bicubic = [r for r in results if r.get("artifact") == BICUBIC]
    sets = ", ".join(f"{dataset_name(r)} ({len(r.get('images') or [])} images)" for r in bicubic) or "no dataset"
    degradations = ", ".join(dict.fromkeys(DEGRADATION_WORDS.get(str(r.get("degradation")), str(r.get("degradation"))) for r in bicubic))
    scale = config.get("scale") or next((r.get("scale") for r in results), "?")
    return (f"x{scale} on {sets}, LR made by {degradations or '-'}; PSNR/SSIM on the BT.601 Y channel of the uint8 output "
            f"with {scale} border pixels cropped, gray images scored as replicated colour (BasicSR); {latency_words(report)}.")


def latency_words(report: dict[str, Any]) -> str:
    """``latency is the median of 3 runs on one synthetic 64x64 LR input (model execution only, 2 threads)``."""
    results, config = report.get("results", []), report.get("config", {})
    latency_input = next((str(r["latency_input"]) for r in results if r.get("latency_input")), None)
    if latency_input is None:
        return "no latency was measured"
    if latency_input.startswith("synthetic"):
        dims = latency_input.split("[", 1)[-1].split("]", 1)[0].split(",")
        latency_input = f"one synthetic {dims[1].strip()}x{dims[2].strip()} LR input" if len(dims) == 4 else latency_input
    threads = (report.get("environment") or {}).get("threads")
    repeats = config.get("repeats", "?")
    return (f"latency is the median of {repeats} run{'' if repeats == 1 else 's'} on {latency_input} "
            f"(model execution only{f', {threads} threads' if threads else ''})")
