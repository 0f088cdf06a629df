"""`sropt datasets list`: the registered image sets and where they are found."""

from __future__ import annotations

import json

import typer

datasets_app = typer.Typer(help="Registered image sets (Set5, Set14, T91): sizes, checksums, local copies.", no_args_is_help=True)


@datasets_app.command("list")
def list_datasets(json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the registered sets, their size, source and local copy.

    Example: sropt datasets list --json
    """
    from sropt.models.datasets import dataset_registry, local_copy

    rows = []
    for entry in dataset_registry().values():
        folder, present = local_copy(entry)
        rows.append({"name": entry.name, "files": len(entry.files), "bytes": entry.size,
                     "source": entry.base_url or "mirror only (SROPT_DATASETS_DIR)",
                     "local": str(folder), "present": present})
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['name']:6} {r['files']:3d} files {r['bytes'] / 1e6:5.1f} MB  local {r['present']}/{r['files']} in {r['local']}  source {r['source']}")


def register(app: typer.Typer) -> None:
    """Add `datasets` to the CLI."""
    app.add_typer(datasets_app, name="datasets")
