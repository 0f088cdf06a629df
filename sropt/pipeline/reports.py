"""The run folder's report.json / report.md / report.html.

One page context (``sropt.validate.report_context``) from the run's
report.json renders both report.md and report.html (run.html, which extends
the validate page's base layout): the ten-second summary with a gates
column, the gates grouped per artifact, the steps, and the pictures. The
crops come from the validate step's stored context (its outputs are not in
report.json); the plots are drawn from the run's rows, named by step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sropt.validate.report_words import runtime_name, size_words


def payoff_notes(p: dict[str, Any]) -> list[tuple[str, str]]:
    """(step, sentence) for each quantized artifact that is larger or slower than its float parent, or was skipped for it."""
    skipped = {s["name"]: s["note"] for s in p.get("steps", []) if "skip_if_not_smaller" in (s.get("note") or "")}
    out = []
    for s in p["summary"]:
        note = (s.get("payoff") or {}).get("note")
        if note:
            out.append((s["step"], note + (f"; {skipped[s['step']]}" if s["step"] in skipped else "")))
    return out


def model_identity(p: dict[str, Any]) -> dict[str, str]:
    """The model file that ran (never the config's label when ``--model`` replaced it) and its sha256."""
    from sropt.validate.report_context import model_identity as identity

    name = Path(str(p.get("source") or p.get("model") or "-")).name
    note = f"given with --model {p['model_given']}; the pipeline names {p.get('model')}" if p.get("model_given") else ""
    return identity(name, p.get("model_sha256") or "", note)


def _stored_crops(validate_dir: Path | None, by_file: dict[str, str]) -> tuple[list[dict[str, Any]], str | None]:
    """The validate step's crops, panel titles named by step; or none and a sentence saying why."""
    from sropt.validate.report import CONTEXT_FILE

    if validate_dir is None:
        return [], "This pipeline has no validate step: no crops."
    path = Path(validate_dir) / CONTEXT_FILE
    try:
        crops = json.loads(path.read_text(encoding="utf-8"))["pictures"]["crops"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [], f"The crops could not be read from {path} ({type(exc).__name__}: {exc}); rerun with --force to make them again."
    rename = _step_titles(by_file)
    for crop in crops:
        for item in [*crop.get("panels", []), *(h for h in crop.get("heat", []) if h)]:
            if "title" in item:
                item["title"] = rename(item["title"])
        crop["why"] = rename(crop.get("why", ""))
    return crops, None if crops else "No crops: no artifact produced an output on a dataset image."


def _step_titles(by_file: dict[str, str]):
    """``X.quantize.tflite.int8.tflite [tflite]`` -> ``quantize.tflite.int8 [LiteRT]`` (any text containing such titles)."""
    def rename(text: str) -> str:
        for file, step in sorted(by_file.items(), key=lambda kv: -len(kv[0])):
            for rt in ("opencv", "ort", "tflite", "tf"):
                text = text.replace(f"{file} [{rt}]", f"{step} [{runtime_name(rt)}]")
        return text

    return rename


def run_context(report: dict[str, Any], validate_dir: Path | None = None) -> dict[str, Any]:
    """The page context of a run report."""
    from sropt.validate.report_context import page_context
    from sropt.validate.report_html import plot_pictures

    p = report["pipeline"]
    by_file = {Path(path).name: step for step, path in (p.get("artifacts") or {}).items()}
    crops, missing = _stored_crops(validate_dir, by_file)
    steps = {"header": ["step", "status", "build time (s)", "artifact", "size"],
             "rows": [[s["step"], s["status"], f"{s['seconds']:.1f}", s["artifact"] or "-", size_words(s["size_bytes"])] for s in p["summary"]]}
    extra = {"description": p.get("description"), "stand_in": p.get("bundled_stand_in"), "payoff_notes": payoff_notes(p), "steps": steps}
    return page_context(report, title=f"sropt run: {p['name']}", models=[model_identity(p)], gate_results=p.get("gate_results") or [],
                        pictures={"crops": crops, "plots": plot_pictures(report), "missing": missing}, extra=extra)


def run_markdown(v: dict[str, Any]) -> str:
    """report.md of a run, from the same context as report.html."""
    from sropt.validate.report_markdown import _table, details_markdown, gates_markdown, summary_markdown

    lines = [f"# {v['title']}", ""]
    if v.get("stand_in"):
        lines += ["**Ran on the bundled stand-in model, not a model you gave.**", ""]
    if v.get("description"):
        lines += [f"> {v['description']}", ""]
    if v["gates"]:
        verdict = "passed" if v["gates"]["passed"] else f"FAILED ({v['gates']['failed']} of {v['gates']['total']} gates)"
        lines += [f"**Gates: {verdict}** (grouped per artifact below; every check in gates.md).", ""]
    lines += summary_markdown(v)
    lines += ["", *(f"- **{step}**: {note}" for step, note in v["payoff_notes"])] if v["payoff_notes"] else []
    lines += ["", *gates_markdown(v["gates"])] if v["gates"] and v["gates"]["groups"] else []
    lines += ["", "## Steps", "", *_table(v["steps"]["header"], v["steps"]["rows"]), "",
              "Pictures (crops where the outputs differ most, heat maps, quality plots): report.html.", "", *details_markdown(v)]
    return "\n".join(lines) + "\n"


def write_run_reports(report: dict[str, Any], out_dir: Path, *, validate_dir: Path | None = None) -> None:
    """Write report.json, report.md and report.html into ``out_dir`` (a staging folder)."""
    from sropt.validate.report_html import render_html

    out_dir = Path(out_dir)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    context = run_context(report, validate_dir)
    (out_dir / "report.md").write_text(run_markdown(context), encoding="utf-8")
    (out_dir / "report.html").write_text(render_html(context, "run.html"), encoding="utf-8")
