"""report.md from the same page context as report.html (``sropt.validate.report_context``).

Markdown carries no pictures: it says where they are (report.html) and keeps
everything else, so it can be pasted into a design doc or a PR comment.
"""

from __future__ import annotations

from typing import Any


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(map(_cell, header)) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(map(_cell, row)) + " |" for row in rows)]


def _delta(text: str) -> str:
    return "reference" if text == "ref" else f"{text} dB"


def summary_markdown(v: dict[str, Any]) -> list[str]:
    """The facts list, the one-row-per-artifact table and the agreement sentences."""
    models = ", ".join(f"`{m['name']}`" + (f" (sha256 {m['sha256']})" if m["sha256"] else "") + (f" {m['note']}" if m["note"] else "")
                       for m in v["models"]) or "no artifact could be opened"
    lines = [f"- **Model**: {models}", f"- **Compared with**: {v['summary']['reference']} (every Δ source and speed-up)", f"- **Protocol**: {v['protocol']} (see [How to read this report](#{v['explained']}))",
             f"- **Machine**: {v['machine']}", f"- **Versions**: {v['versions']}", ""]
    s = v["summary"]
    header = ["artifact", "format", "runtime", "size (× source)", *(f"{d} PSNR-Y dB / SSIM (Δ source, Δ bicubic)" for d in s["datasets"]),
              "latency (synthetic input)", f"speed-up vs {s['speed_reference']}", *(["gates passed"] if s["has_gates"] else [])]
    rows = []
    for r in s["rows"]:
        name = f"**{r['name']}**" + (f" `{r['file']}`" if r["file"] and r["file"] != r["name"] else "")
        size = r["size"] + (f" ({r['size_ratio']})" if r["size_ratio"] != "-" else "")
        scores = [f"{c['psnr']} / {c['ssim']} ({_delta(c['d_src'])}, {_delta(c['d_bic'])})" for c in r["scores"]]
        gates = [r["gates"]["text"] if r["gates"] else "-"] if s["has_gates"] else []
        rows.append([name, r["format"], r["runtime"], size, *scores, r["latency"], r["speedup"], *gates])
        if r["errors"]:
            rows.append([f"error: {'; '.join(r['errors'])}", *[""] * (len(header) - 1)])
    lines += _table(header, rows)
    if v["agreement"]:
        lines += ["", "Agreement across runtimes:", "", *(f"- {a}" for a in v["agreement"])]
    if v["warnings"]:
        lines += ["", "**Warnings**", "", *(f"- {w}" for w in v["warnings"])]
    if v["problems"]:
        lines += ["", "**Problems and errors**", "", *(f"- {p}" for p in v["problems"])]
    return lines


def gates_markdown(gates: dict[str, Any]) -> list[str]:
    """Gates grouped per artifact: one line per gate with every runtime and dataset it covered."""
    lines = ["## Gates", ""]
    for g in gates["groups"]:
        lines += [f"### {g['artifact']}: {g['count']} passed", ""]
        lines += _table(["status", "rule", "checked in", "result"], [[x["status"], x["rule"], x["covered"], x["result"]] for x in g["lines"]])
        lines.append("")
    return lines


def details_markdown(v: dict[str, Any]) -> list[str]:
    """Every row, notes, what the columns mean, and the per-image figures."""
    lines = ["## All rows", "", *_table(v["details"]["header"], v["details"]["rows"])]
    if v["notes"]:
        lines += ["", "## Notes", "", *(f"- {n}" for n in v["notes"])]
    lines += ["", f'<a id="{v["explained"]}"></a>', "## How to read this report", "",
              "- PSNR-Y / SSIM: BasicSR's protocol (Y channel, border crop = scale, uint8 outputs), dataset means of per-image values.",
              "- Δ vs source: against the source model on the same dataset; Δ vs bicubic: against bicubic upscaling.",
              "- Latency: one figure per artifact, the median of timed runs on one synthetic input, runtime only; "
              "speed-up = the source model's latency / this one.",
              "- Agreement: outputs on fixed crops in the other runtimes that load a file, against the same model's reference output, "
              "in uint8 levels per pixel value (1 level is float rounding).",
              "- Crops and plots: report.html (images where the outputs differ most from the reference, with heat maps).",
              "- More: docs/validate.md, \"Reading a report\"."]
    for table in v["per_image"]:
        lines += ["", f"### {table['heading']}", "", *_table(["image", "PSNR-Y", "SSIM-Y", "median ms"], table["rows"])]
    return lines


def render_markdown_page(v: dict[str, Any]) -> str:
    """report.md of a `sropt validate` page context."""
    lines = [f"# {v['title']}", "", *summary_markdown(v), "",
             "Pictures (crops where the outputs differ most, heat maps, quality plots): report.html.", "", *details_markdown(v)]
    return "\n".join(lines) + "\n"
