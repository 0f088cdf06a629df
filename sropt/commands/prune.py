"""`sropt prune`: structured L1 channel pruning of a frozen SR graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import typer


# The choices as typer lists them (`<inner|trunk|all>`). Spelled out so --help imports no
# sropt.prune (0.3 s); tests/cli/test_choices.py checks them against the library.
ScopeChoice = Literal["inner", "trunk", "all"]
StoreChoice = Literal["float32", "quint8"]
ImportanceChoice = Literal["l1", "activation"]


def register(app: typer.Typer) -> None:
    """Add the `prune` command to ``app``."""
    app.command("prune")(prune_command)


def prune_command(
    model: str = typer.Argument(..., help="A frozen graph (.pb) path or a registry name such as FSRCNN_x3."),
    ratio: float = typer.Option(..., "--ratio", help="Fraction of each in-scope group's channels to remove, in [0, 1)."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the pruned frozen graph (.pb)."),
    scope: ScopeChoice = typer.Option("inner", "--scope", help="inner (non-residual groups), trunk (residual groups) or all."),
    round_to: int = typer.Option(1, "--round-to", help="Round kept channel counts to a multiple of this (e.g. 8)."),
    store: StoreChoice = typer.Option("float32", "--store", help="float32, or quint8 (quantize_weights form, like the released EDSR)."),
    importance: ImportanceChoice = typer.Option("l1", "--importance", help="l1: L1 norm of filters / fan-in (data-free); activation: activation std x consumer weight norm on the calibration crops."),
    compensation: str = typer.Option(None, "--compensation", help="How removed channels are made up for, from calibration crops: lstsq (default): ridge regression from kept channels into the next conv's weights and bias, the most accurate; mean: removed channels' mean activation into the next bias; none: plain pruning."),
    # Deprecated spelling of --compensation none (it switched off lstsq too, not only the bias kind).
    no_bias_compensation: bool = typer.Option(False, "--no-bias-compensation", hidden=True, help="Deprecated: use --compensation none."),
    calib: Path = typer.Option(None, "--calib", help="Folder of HR calibration images (default: T91 under SROPT_DATASETS_DIR)."),
    calib_count: int = typer.Option(32, "--calib-count", help="Number of calibration crops."),
    sensitivity: bool = typer.Option(False, "--sensitivity", help="Measure each group's calibration PSNR change at ratios 0.1..0.5 (table + plot)."),
    max_psnr_drop: float = typer.Option(None, "--max-psnr-drop", help="Choose per-group ratios removing the most MACs within this calibration PSNR drop (dB); confirmed on --eval."),
    eval_dataset: str = typer.Option("Set5", "--eval", help="Evaluation set confirming --max-psnr-drop / --finetune-steps (never used for choices)."),
    finetune_steps: int = typer.Option(0, "--finetune-steps", help="Distillation steps from the unpruned model (L1, Adam 2e-4 cosine, batch 16 of 32x32)."),
    strict: bool = typer.Option(False, "--strict", help="Refuse (instead of skipping) in-scope groups holding ops the surgery does not understand."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Remove the least important channels (L1 norm) per channel group and write a smaller frozen graph.

    Example: sropt prune EDSR_x3 --ratio 0.3 --round-to 8 -o edsr_x3_p30.pb
    """
    from sropt.core.errors import InputError
    from sropt.prune import Compensation, PruneConfig, Scope, WeightStore, prune_model

    if no_bias_compensation and compensation not in (None, Compensation.NONE.value):
        raise InputError(f"--no-bias-compensation contradicts --compensation {compensation}: give --compensation only "
                         "(--compensation none switches compensation off).")
    compensation = compensation or (Compensation.NONE if no_bias_compensation else Compensation.LSTSQ).value
    choices = {"--scope": (scope, Scope), "--store": (store, WeightStore), "--compensation": (compensation, Compensation)}
    for flag, (value, enum) in choices.items():
        if value not in {e.value for e in enum}:
            raise InputError(f"{flag} {value!r}: choose one of {', '.join(e.value for e in enum)}.")
    config = PruneConfig(
        ratio=ratio, scope=scope, round_to=round_to, store=store, compensation=compensation, importance=importance,
        calib_dir=calib, calib_count=calib_count, sensitivity=sensitivity, max_psnr_drop=max_psnr_drop,
        eval_dataset=eval_dataset, finetune_steps=finetune_steps, strict=strict,
    )
    if as_json:
        result = prune_model(model, config, out)
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("pruning") as status:
        result = prune_model(model, config, out, progress=lambda msg: status.update(msg))
    _print_result(result)


def _fmt_psnr(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _print_result(result) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    sizes = Table(title=f"pruned {result.artifact.path}")
    for col in ("", "params", "MACs / LR pixel", "file bytes"):
        sizes.add_column(col, justify="right")
    b, a = result.before, result.after
    sizes.add_row("before", f"{b.params:,}", f"{b.macs_per_pixel:,}", f"{b.size_bytes:,}")
    sizes.add_row("after", f"{a.params:,}", f"{a.macs_per_pixel:,}", f"{a.size_bytes:,}")
    sizes.add_row("change", f"{a.params / b.params - 1:+.1%}", f"{a.macs_per_pixel / b.macs_per_pixel - 1:+.1%}",
                  f"{a.size_bytes / b.size_bytes - 1:+.1%}")
    console.print(sizes)

    groups = Table(title="channel groups")
    for col in ("group", "channels", "kept", "ratio", "status"):
        groups.add_column(col, justify="right" if col in ("channels", "kept", "ratio") else "left")
    for g in result.groups:
        groups.add_row(g.name + (" (residual)" if g.residual else ""), str(g.channels), str(g.kept),
                       f"{g.ratio:.2f}", g.status + (f": {g.note}" if g.note else ""))
    console.print(groups)

    if result.sensitivity:
        sens = Table(title="sensitivity (calibration, one group at a time)")
        for col in ("group", "ratio", "kept", "MACs removed", "PSNR", "change dB"):
            sens.add_column(col, justify="left" if col == "group" else "right")
        for r in result.sensitivity:
            sens.add_row(r.group, f"{r.ratio:.1f}", f"{r.kept}/{r.channels}", f"{r.macs_removed:,}",
                         f"{r.psnr:.3f}", f"{r.delta:+.3f}")
        console.print(sens)
        if result.plot:
            console.print(f"plot: {result.plot}")
    if result.budget:
        bud = result.budget
        console.print(f"budget: calibration drop estimated {bud.estimated_drop:.3f} dB, measured "
                      f"{bud.measured_drop:.3f} dB ({bud.undone_steps} step(s) undone)")
    cal, ev = result.calibration, result.evaluation
    if cal.get("psnr_original") is not None or ev:
        q = Table(title="quality (PSNR dB)")
        for col in ("set", "original", "pruned", "fine-tuned"):
            q.add_column(col, justify="left" if col == "set" else "right")
        if cal.get("psnr_original") is not None:
            q.add_row(f"calibration ({cal['crops']} crops of {Path(cal['source']).name})", _fmt_psnr(cal.get("psnr_original")),
                      _fmt_psnr(cal.get("psnr_pruned")), _fmt_psnr(cal.get("psnr_finetuned")))
        if ev:
            q.add_row(f"{ev['dataset']} ({ev['images']} images)", _fmt_psnr(ev.get("psnr_original")),
                      _fmt_psnr(ev.get("psnr_pruned")), _fmt_psnr(ev.get("psnr_finetuned")))
        console.print(q)
        console.print(f"[dim]protocol: {ev.get('protocol') or cal.get('protocol')}[/]")
    for note in result.notes:
        console.print(f"note: {note}")
