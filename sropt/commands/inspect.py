"""`sropt inspect`: print what sropt knows about a frozen SR graph."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    """Add the `inspect` command to ``app``."""
    app.command("inspect")(inspect_model)


def inspect_model(
    model: str = typer.Argument(..., help="A frozen graph (.pb) path or a registry name such as FSRCNN_x3."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (stable keys) instead of tables."),
) -> None:
    """Show family, scale, I/O, contract, weight storage, params, MACs and per-layer channel groups.

    For a .tflite or .onnx: the pre/post-processing contract, the I/O tensors
    (dtype, shape, scale/zero point) and the TFLite metadata.

    Example: sropt inspect EDSR_x3 --json
    """
    from pathlib import Path

    from sropt.convert.frozen import describe_frozen_graph
    from sropt.models import resolve_model

    if Path(model).suffix.lower() in (".tflite", ".onnx"):
        _inspect_exported(model, as_json)
        return
    # Protobuf only: importing TensorFlow took 3.4 of the 5 s this command needed for FSRCNN_x3 (issue 19).
    artifact, info = describe_frozen_graph(resolve_model(model))
    facts = info.to_json()
    facts["path"] = str(artifact.path)
    facts["size_bytes"] = artifact.size_bytes
    facts["provenance"] = list(artifact.provenance)
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    _print_tables(facts)


def _inspect_exported(model: str, as_json: bool) -> None:
    import os

    from sropt.validate.handoff import describe_handoff

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    facts = describe_handoff(model).to_json()
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    c = facts["contract"]
    rows = [("file", f"{facts['file']} ({facts['size_bytes']:,} bytes, {facts['kind']}/{facts['precision']})"),
            ("family / scale", f"{facts['family'] or 'unknown'} x{facts['scale']}"),
            ("contract", c["name"]), ("input", c["input"]), ("output", c["output"]),
            ("normalization", f"(pixel - {c['mean']}) / {c['std']}"), ("postprocess", c["postprocess"])]
    if c.get("chroma"):
        rows.append(("chroma", c["chroma"]))
    for role in ("input", "output"):
        t = c["io"][role]
        quant = f", scale {t['scale']:.9g}, zero point {t['zero_point']}" if "scale" in t else ""
        rows.append((f"{role} tensor", f"{t['name']} {t['dtype']} {t['shape']}{quant}"))
    meta = facts["tflite_metadata"]
    if facts["kind"] == "tflite":
        rows.append(("TFLite metadata", f"{meta['name']} ({meta['version']}), min parser {meta['min_parser_version']}, "
                     f"sropt contract {'included' if meta['contract'] else 'absent'}" if meta else "none"))
    rows += _delegate_rows(facts.get("delegates"))
    rows += [("made by", ", ".join(f"{k}={v}" for k, v in step.items())) for step in facts["provenance"]]
    rows += [("inferred", x) for x in facts["inferred"]] + [("unknown", x) for x in facts["unknown"]]
    _print_rows(rows)


def _delegate_rows(delegates: dict | None) -> list[tuple[str, str]]:
    """GPU-delegate verdicts (per op when any is flagged) and what LiteRT's CompiledModel did on this machine."""
    if not delegates:
        return []
    gpu = delegates.get("gpu")
    rows = [("GPU delegate", gpu["summary"] if gpu else delegates["notes"][0])]
    if gpu:
        rows.append(("ops", ", ".join(f"{op} x{n}" for op, n in gpu["op_counts"].items())))
        rows += [("not on GPU", f"{op['op']}: {op['reason'] or 'flagged'}") for op in gpu["unsupported"]]
    rows += [("note", note) for note in delegates["notes"][1:]]
    compiled = delegates["compiled_model"]
    cpu = compiled["cpu_vs_interpreter"]
    rows.append(("CompiledModel CPU", cpu.get("error") or f"output {'identical to' if cpu['identical'] else 'differs from'} "
                 f"the Interpreter's on a {cpu['input_shape']} input (max |diff| {cpu['max_abs_diff']:g})"))
    for probe in compiled["accelerators"]:
        state = (f"compiles, fully accelerated: {probe['fully_accelerated']}" if probe["compiled"] else probe["error"])
        rows.append((f"CompiledModel {probe['accelerators']}", f"{state} (on {compiled['machine']})"))
    return rows


def _print_rows(rows: list[tuple[str, str]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    for k, v in rows:
        summary.add_row(k, escape(str(v)))  # LiteRT's messages carry [file:line], which rich reads as markup
    Console().print(summary)


def _print_tables(facts: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    rows = [
        ("file", f"{facts['path']} ({facts['size_bytes']:,} bytes)"),
        ("family / scale", f"{facts['family']} x{facts['scale']}"),
        ("contract", facts["contract"]),
        ("input", f"{', '.join(facts['inputs'])} ({facts['input_channels']} channel(s))"),
        ("outputs", ", ".join(facts["outputs"]) + f"  (main: {facts['main_output']})"),
        ("weights", f"{facts['weight_storage']}" + (f", {facts['dequantize_nodes']} Dequantize nodes" if facts["dequantize_nodes"] else "")),
        ("params", f"{facts['params']:,}"),
        ("MACs / LR pixel", f"{facts['macs_per_pixel']:,}"),
    ]
    for step in facts["provenance"]:
        rows.append(("made by", ", ".join(f"{k}={v}" for k, v in step.items())))
    for note in facts["notes"]:
        rows.append(("note", note))
    for k, v in rows:
        summary.add_row(k, str(v))
    console.print(summary)

    table = Table(title="convolutions", show_lines=False)
    for col in ("layer", "weights", "kernel", "in", "out", "MACs/px", "group"):
        table.add_column(col, justify="right" if col in ("in", "out", "MACs/px") else "left")
    for layer in facts["layers"]:
        table.add_row(
            layer["name"], layer["weight_node"], "x".join(map(str, layer["kernel"])),
            str(layer["in_channels"]), str(layer["out_channels"]), f"{layer['macs_per_pixel']:,}",
            layer["group"] or "-",
        )
    console.print(table)
