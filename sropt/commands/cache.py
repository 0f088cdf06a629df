"""`sropt cache info|clean`: see and empty sropt's caches (stages, downloaded models and image sets, logs, benchmarks, parity crops, prepared sets).

Thin shell over ``sropt.pipeline.cache_inventory``; the root is
``SROPT_CACHE_DIR`` (default: the per-user cache folder).
"""

from __future__ import annotations

import json
import time
from typing import List, Optional

import typer

cache_app = typer.Typer(
    name="cache",
    help="sropt's caches under $SROPT_CACHE_DIR: show sizes and entries, remove old ones.",
    no_args_is_help=True,
)

KIND_HELP = "Only this cache kind: stages, models, logs, benchmarks, datasets, parity, sets (info also: other). Repeatable."


def register(app: typer.Typer) -> None:
    """Add the `cache` command group to ``app``."""
    app.add_typer(cache_app, name="cache")


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _versions(item) -> str:
    env = item.details.get("environment") or {}
    text = " ".join(f"{name}={version}" for name, version in (env.get("libraries") or {}).items()) or "-"
    if env.get("machine"):  # the full ISA list is in --json
        m = env["machine"]
        where = ", ".join(str(m[k]) for k in ("cpu", "machine") if m.get(k))
        cores = f", {m['cores']} cores" if m.get("cores") else ""
        text += f"; {where}{cores}, {len(m.get('isa', []))} SIMD extensions"
    return text


@cache_app.command("info")
def info(
    kind: Optional[List[str]] = typer.Option(None, "--kind", help=KIND_HELP),
    entries: bool = typer.Option(False, "--entries", help="List every entry (stage entries with their step and library versions)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary and every entry as JSON."),
) -> None:
    """Show where the cache is, and its size and entry count per kind.

    Example: sropt cache info --kind stages --entries
    """
    from sropt.core.locations import cache_dir
    from sropt.pipeline.cache_inventory import list_cache, summarize

    root, now = cache_dir(), time.time()
    items = list_cache(root, kind)
    summary = summarize(items, root, kind)
    if as_json:
        typer.echo(json.dumps({**summary, "items": [i.to_json(now) for i in items]}, indent=2))
        return

    from rich.table import Table

    from sropt.commands._shared import _console

    console = _console(stderr=False)
    table = Table(title=f"sropt cache: {root}")
    for col in ("kind", "entries", "size", "building", "stale"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for name, k in summary["kinds"].items():
        table.add_row(name, str(k["entries"]), _human(k["size_bytes"]), str(k["building"]), str(k["stale"]))
    table.add_row("[bold]total[/]", str(summary["entries"]), _human(summary["size_bytes"]), "", "")
    console.print(table)
    if entries:
        _print_entries(console, items, now)


def _print_entries(console, items, now: float) -> None:
    """One line per entry, its library versions on the next: a table column of them wraps unreadably."""
    from rich.markup import escape

    for i in items:
        name = i.path.name[:16] if i.kind == "stages" else i.path.name
        step = i.details.get("step") or ""
        console.print(escape(f"{i.kind}/{name}  {step}  {i.state}  {_human(i.size_bytes)}  {_age(i.age_seconds(now))} old"))
        if i.kind == "stages" and i.state == "ready":
            console.print(escape(f"    {_versions(i)}"))


@cache_app.command("clean")
def clean(
    older_than: Optional[str] = typer.Option(None, "--older-than", help="Only entries not built or used for this long: 90m, 12h, 7d, 2w."),
    kind: Optional[List[str]] = typer.Option(None, "--kind", help=KIND_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be removed; remove nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the removed entries as JSON."),
) -> None:
    """Remove cache entries (all, or those older than --older-than); entries a live run is building are kept.

    Example: sropt cache clean --older-than 7d --kind stages --dry-run
    """
    from sropt.core.errors import InputError
    from sropt.core.locations import cache_dir
    from sropt.pipeline.cache_inventory import list_cache, parse_age, remove_item, select_removable

    limit = parse_age(older_than) if older_than is not None else None
    if kind and "other" in kind:
        raise InputError("--kind other: sropt never removes files it does not own under the cache root; delete them yourself")
    root, now = cache_dir(), time.time()
    items = list_cache(root, kind or None)
    chosen = select_removable(items, limit, now)
    if not dry_run:
        for item in chosen:
            remove_item(item)
    kept_building = sum(i.state == "building" for i in items)
    if as_json:
        typer.echo(json.dumps({"root": str(root), "dry_run": dry_run, "removed": [i.to_json(now) for i in chosen],
                               "size_bytes": sum(i.size_bytes for i in chosen), "kept_building": kept_building}, indent=2))
        return
    verb = "would remove" if dry_run else "removed"
    for i in chosen:
        typer.echo(f"{verb} {i.kind}/{i.path.name} ({_human(i.size_bytes)}, {i.state}, {_age(i.age_seconds(now))} old)")
    tail = f"; kept {kept_building} being built by a live run" if kept_building else ""
    typer.echo(f"{verb} {len(chosen)} entr{'y' if len(chosen) == 1 else 'ies'}, {_human(sum(i.size_bytes for i in chosen))} under {root}{tail}")
