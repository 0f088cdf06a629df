"""Writing a ValidationReport: report.json, report.md and report.html (atomically), from one page context."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sropt.core.atomic import write_text_atomic
from sropt.validate.results import ValidationReport

#: The page context next to the reports: `sropt run` reads the validate step's crops from it.
CONTEXT_FILE = "report.context.json"


def write_report(report: ValidationReport, out_dir: Path | str) -> dict[str, Path]:
    """Write the three report files (and the page context) into ``out_dir``; return {"json"|"md"|"html": path}."""
    from sropt.validate.report_html import render_html

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        from sropt.core.errors import InputError

        raise InputError(f"--out {out}: exists and is not a folder; give a folder for the reports.")
    out.mkdir(parents=True, exist_ok=True)
    context = validation_context(report)
    write_text_atomic(out / CONTEXT_FILE, json.dumps(context) + "\n")
    return {
        "json": write_text_atomic(out / "report.json", report_json(report)),
        "md": write_text_atomic(out / "report.md", _markdown(context)),
        "html": write_text_atomic(out / "report.html", render_html(context)),
    }


def report_json(report: ValidationReport) -> str:
    """report.json text (strict JSON: no NaN/Infinity)."""
    return json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n"


def validation_context(report: ValidationReport) -> dict[str, Any]:
    """The page context of a `sropt validate` report: summary, crops, plots, every row."""
    from sropt.validate.report_context import model_identity, page_context
    from sropt.validate.report_html import crop_pictures, plot_pictures

    doc = report.to_json()
    artifacts = dict.fromkeys(r.artifact for r in report.results if r.artifact != "bicubic")
    models = [model_identity(a) for a in artifacts]
    crops = crop_pictures(report.crops, report.config.get("scale"))
    missing = None if crops else "No crops: no artifact produced an output on a dataset image (see the problems above)."
    pictures = {"crops": crops, "plots": plot_pictures(doc), "missing": missing}
    return page_context(doc, title="sropt validation report", models=models, pictures=pictures)


def render_markdown(report: ValidationReport) -> str:
    """report.md of ``report``."""
    return _markdown(validation_context(report))


def _markdown(context: dict[str, Any]) -> str:
    from sropt.validate.report_markdown import render_markdown_page

    return render_markdown_page(context)
