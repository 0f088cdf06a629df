"""`sropt models ...`: list the registry, fetch models, synthesize EDSR graphs."""

from __future__ import annotations

import enum
import json
from pathlib import Path

import typer

models_app = typer.Typer(
    name="models",
    help="The model registry (OpenCV dnn_superres zoo): list, fetch (verified), synthesize EDSR.",
    no_args_is_help=True,
)

MIRROR_HELP = "Folder or http(s) base URL holding the .pb files; replaces the network (default: $SROPT_MODEL_MIRROR)."


def register(app: typer.Typer) -> None:
    """Add the `models` command group to ``app``."""
    app.add_typer(models_app, name="models")


def _format_size(entry) -> str:
    if entry.size is not None:
        return f"{entry.size:,}"
    if entry.approx_size is not None:
        return f"~{entry.approx_size / 1e6:.1f} MB"
    return "unknown"


@models_app.command("list")
def list_models(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
    mirror: str = typer.Option(None, "--mirror", help=MIRROR_HELP),
) -> None:
    """Show every registry model, its family/scale/size, and whether it is cached or in the mirror.

    Example: sropt models list --mirror ../shared/models --json
    """
    from sropt.models import configured_mirror, load_registry, model_cache_dir
    from sropt.models.verify import verify_file

    source = configured_mirror(mirror)
    cache = model_cache_dir()
    rows = []
    for entry in load_registry():
        cached = cache / entry.file
        if cached.is_file():
            status = "verified" if verify_file(cached, entry).ok else "corrupt"
        else:
            status = "absent"
        rows.append((entry, status, source.has(entry) if source else None))

    if as_json:
        out = []
        for entry, status, in_mirror in rows:
            item = entry.to_json()
            item["cache"] = {"path": str(cache / entry.file), "status": status}
            item["in_mirror"] = in_mirror
            out.append(item)
        typer.echo(json.dumps(out, indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    where = "no mirror set" if source is None else f"mirror: {source.folder or source.base_url}"
    table = Table(title="sropt model registry", caption=f"cache: {cache}; {where}")
    for col in ("name", "family", "scale", "bytes", "source", "cache", "mirror"):
        table.add_column(col, justify="right" if col in ("scale", "bytes") else "left")
    for entry, status, in_mirror in rows:
        if source is None:
            mirror_cell = "-"
        elif in_mirror is None:
            mirror_cell = "not probed"
        else:
            mirror_cell = "yes" if in_mirror else "no"
        cache_cell = {"verified": "[green]verified[/]", "corrupt": "[red]corrupt[/]", "absent": "-"}[status]
        source_cell = "released" if not entry.mirror_only else "[yellow]trained*[/]"
        table.add_row(entry.name, entry.family.value, str(entry.scale), _format_size(entry),
                      source_cell, cache_cell, mirror_cell)
    console = Console()
    console.print(table)
    console.print(
        "[dim]* trained for sropt on T91 in the EDSR layout (B=8, F=64), available only through a "
        "mirror; it is NOT the released EDSR_x3.[/]"
    )


@models_app.command("fetch")
def fetch_models(
    names: list[str] = typer.Argument(..., metavar="NAME...", help="Registry names, e.g. EDSR_x3 FSRCNN_x3 (see `sropt models list`)."),
    mirror: str = typer.Option(None, "--mirror", help=MIRROR_HELP),
    timeout: float = typer.Option(300.0, "--timeout", min=0.1, help="Seconds the whole download of one file may take (connecting and each read also wait at most 15 s)."),
) -> None:
    """Download (or copy from a mirror) and verify models into the cache, atomically.

    Example: sropt models fetch EDSR_x3 FSRCNN_x3
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn,
    )

    from sropt.core.errors import FetchError, InputError
    from sropt.models import cached_model, configured_mirror, fetch_model, find_model
    from sropt.models.registry import unknown_model_message
    from sropt.models.verify import verify_file

    unknown = [n for n in names if find_model(n) is None]
    if unknown:
        raise InputError("unknown model name(s); nothing was fetched", problems=[unknown_model_message(n, could_be_path=False) for n in unknown])
    configured_mirror(mirror)  # a bad --mirror is a usage error before any download

    console = Console(stderr=True)
    failures = []
    for name in names:
        entry = find_model(name)
        hit = cached_model(entry)
        if hit is not None:
            typer.echo(f"{entry.name}: already cached and verified: {hit}")
            continue
        # A bar only on a terminal: in CI logs rich would print blank lines for it.
        with Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=console, transient=True, disable=not console.is_terminal,
        ) as bar:
            task = bar.add_task(entry.file, total=entry.size or entry.approx_size)
            try:
                path = fetch_model(
                    entry, mirror=mirror, timeout=timeout,
                    progress=lambda done, total: bar.update(task, completed=done, total=total or None),
                )
            except FetchError as exc:
                failures.append(str(exc))
                continue
        checked = verify_file(path, entry)
        typer.echo(f"{entry.name}: {path} ({checked.size:,} bytes; verified {checked.checked})")
    if failures:
        raise FetchError(f"{len(failures)} of {len(names)} model(s) could not be fetched", problems=failures)


class SynthFamily(str, enum.Enum):
    """Families the builder can synthesize."""

    EDSR = "edsr"


@models_app.command("synth")
def synth_model(
    family: SynthFamily = typer.Argument(..., metavar="FAMILY", help="The layout to build (edsr: the released EDSR_xN.pb layout)."),
    blocks: int = typer.Option(32, "--blocks", "-B", help="Residual blocks (release: 32)."),
    filters: int = typer.Option(256, "--filters", "-F", help="Filters per conv (release: 256)."),
    scale: int = typer.Option(3, "--scale", "-s", help="Upscaling factor: 2, 3 or 4."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random weights."),
    out: Path = typer.Option(..., "--out", "-o", help="Output frozen graph (.pb); a sidecar OUT.sropt.json is written next to it."),
    quantize_weights: bool = typer.Option(
        True, "--quantize-weights/--float-weights",
        help="Store weights >= 1024 elements as quint8 + Dequantize like the release (default) or keep float32.",
    ),
) -> None:
    """Write an EDSR graph in the released layout with RANDOM weights (structure/size/latency only).

    Example: sropt models synth edsr -B 32 -F 256 -s 3 -o EDSR_x3_layout.pb
    """
    from sropt.core.artifacts import sidecar_path
    from sropt.models.synth import write_synthetic_edsr

    artifact = write_synthetic_edsr(
        out, blocks=blocks, filters=filters, scale=scale, seed=seed, quantize_weights=quantize_weights
    )
    typer.echo(
        f"wrote {artifact.path} ({artifact.size_bytes:,} bytes): EDSR layout B={blocks} F={filters} "
        f"x{scale}, RANDOM weights (seed {seed}) - valid for structure, size and latency, not quality"
    )
    side = sidecar_path(artifact.path)
    typer.echo(f"sidecar {side}:")
    typer.echo(side.read_text().rstrip())
