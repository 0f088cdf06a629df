"""Everything a report page shows, as one JSON-serialisable context for the markdown and HTML renderers.

`sropt validate` builds it from its report; `sropt run` from the run's
report.json (rows carrying pipeline steps, gate results) plus the crops the
validate step stored. Both render through the same templates, so a page is
never spliced out of another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sropt.validate.report_summary import (
    agreement_lines, dataset_name, gates_by_artifact, machine_words, protocol_sentence, comparison_words, speed_reference,
    summary_rows,
    version_words,
)
from sropt.validate.report_table import TABLE_HEADER, detail_rows, fmt_psnr, fmt_ssim
from sropt.validate.report_words import EXPLAINED, gate_phrase, runtime_name

#: report.context.json's own version (the run report reads the validate step's crops from it).
CONTEXT_VERSION = 2


def page_context(doc: dict[str, Any], *, title: str, models: list[dict[str, str]], gate_results: list[dict[str, Any]] | None = None,
                 pictures: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The context of one report page from report.json ``doc``.

    ``models``: [{name, sha256, note}] of what actually ran; ``gate_results``:
    the run's gate results (None outside a pipeline); ``pictures``: {crops,
    plots, missing} already encoded; ``extra``: page-specific fields
    (a run's description, stand-in notice, payoff notes).
    """
    env = doc.get("environment") or {}
    results = doc.get("results") or []
    _, speed_ref = speed_reference(results)
    return {
        "version": CONTEXT_VERSION, "title": title, "explained": EXPLAINED, "models": models,
        "protocol": protocol_sentence(doc), "machine": machine_words(env), "versions": version_words(env),
        "summary": {
            "datasets": list(dict.fromkeys(dataset_name(r) for r in results)),
            "rows": summary_rows(doc, gate_results), "has_gates": gate_results is not None, "speed_reference": speed_ref,
            "reference": comparison_words(results),
        },
        "agreement": agreement_lines(doc),
        "gates": gate_groups(gate_results) if gate_results is not None else None,
        "details": {"header": TABLE_HEADER, "rows": detail_rows(results)},
        "per_image": per_image_tables(results),
        "warnings": list(doc.get("warnings") or []),
        "problems": list(doc.get("problems") or []) + row_problems(results),
        "notes": artifact_notes(results),
        "pictures": pictures or {"crops": [], "plots": [], "missing": "No pictures were made for this report."},
        **(extra or {}),
    }


def row_problems(results: list[dict[str, Any]]) -> list[str]:
    """Every row error, once per artifact x runtime (a missing file gives the same error on every dataset)."""
    seen = {}
    for r in results:
        for e in r.get("errors") or []:
            seen.setdefault(f"{r.get('label') or r.get('artifact')} [{r.get('runtime')}]: {e}", None)
    return list(seen)


def artifact_notes(results: list[dict[str, Any]]) -> list[str]:
    """Each artifact's notes once (its rows in every runtime and dataset repeat them), e.g. its CPU target."""
    seen: dict[str, list[str]] = {}
    for r in results:
        if r.get("artifact") == "bicubic":
            continue
        notes = seen.setdefault(str(r.get("stage") or r.get("label") or r.get("artifact")), [])
        notes += [n for n in r.get("notes") or [] if n not in notes and not n.startswith("Traceback")]
    return [f"{label}: {note}" for label, notes in seen.items() for note in notes]


def per_image_tables(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per full-set row: its images' PSNR/SSIM/latency (report.md's appendix)."""
    out = []
    for r in results:
        if not r.get("images"):
            continue
        name = r.get("stage") or r.get("label") or r.get("artifact")
        out.append({
            "heading": f"{name} [{r.get('runtime')}] {dataset_name(r)} x{r.get('scale')} {r.get('degradation')}",
            "rows": [[i["name"], fmt_psnr(i.get("psnr_y"), bool(i.get("psnr_y_inf"))), fmt_ssim(i.get("ssim_y")),
                      f"{i['latency_ms']['median']:.1f}" if i.get("latency_ms") else "-"] for i in r["images"]],
        })
    return out


def gate_groups(gate_results: list[dict[str, Any]]) -> dict[str, Any]:
    """Gate results grouped per artifact, one line per gate naming every runtime and dataset it covered."""
    counts = gates_by_artifact(gate_results)
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for g in gate_results:
        groups.setdefault(str(g.get("stage") or "-"), {}).setdefault(str(g.get("gate")), []).append(g)
    out = []
    for stage, by_gate in groups.items():
        lines = [_gate_line(rs) for rs in by_gate.values()]
        count = counts.get(stage, {"text": "nothing evaluated", "ok": all(line["status"] == "skip" for line in lines)})
        out.append({"artifact": stage, "count": count["text"], "ok": count["ok"], "lines": lines})
    lines = [line for g in out for line in g["lines"]]
    failed = sum(line["status"] in ("fail", "error") for line in lines)
    return {"passed": not failed, "groups": out, "failed": failed, "total": len(lines)}


def _gate_line(rows: list[dict[str, Any]]) -> dict[str, str]:
    """One gate on one artifact: its status (worst of its rows), where it looked, and what it found."""
    order = {"error": 0, "fail": 1, "pass": 2, "skip": 3}
    status = min((r.get("status", "error") for r in rows), key=lambda s: order.get(s, 0))
    runtimes = ", ".join(dict.fromkeys(runtime_name(r.get("runtime")) for r in rows if r.get("runtime")))
    datasets = ", ".join(dict.fromkeys(str(r.get("dataset")) for r in rows if r.get("dataset")))
    messages = list(dict.fromkeys(str(r.get("message")) for r in rows))
    if len(messages) > 1:  # one figure per dataset/runtime; a size gate gives one message for all of them
        messages = [f"{r.get('dataset')} [{runtime_name(r.get('runtime'))}]: {r.get('message')}" for r in rows]
    covered = " on ".join(x for x in (runtimes, datasets) if x) or "-"
    return {"status": status, "rule": gate_phrase(rows[0]), "gate": str(rows[0].get("gate")), "covered": covered, "result": "; ".join(messages)}


def model_identity(path: Path | str, sha256: str | None = None, note: str = "") -> dict[str, str]:
    """{name, sha256 (first 16 hex digits), note} of a model file; the hash is computed when not given."""
    path = Path(path)
    if sha256 is None and path.is_file():
        import hashlib

        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        sha256 = digest.hexdigest()
    if sha256 is None:
        note = (note + "; " if note else "") + "file not found"
    return {"name": path.name, "sha256": (sha256 or "")[:16], "note": note}

