"""`sropt datasets list|fetch`: the registered image sets, where they are found, and fetching them."""

from __future__ import annotations

import json

import typer

datasets_app = typer.Typer(help="Registered image sets (Set5, Set14, T91): sizes, checksums, local copies.", no_args_is_help=True)


@datasets_app.command("list")
def list_datasets(json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the registered sets, their size, source and local copy.

    Example: sropt datasets list --json
    """
    from sropt.core.errors import SroptError
    from sropt.models.datasets import dataset_registry, resolve_dataset

    rows = []
    for entry in dataset_registry().values():
        try:  # where `Set5` etc. would resolve now, without downloading
            folder = resolve_dataset(entry.name, download=False)
            present = sum((folder / f["file"]).is_file() for f in entry.files)
        except SroptError:
            folder, present = "-", 0
        rows.append({"name": entry.name, "files": len(entry.files), "bytes": entry.size,
                     "source": entry.base_url or "mirror only (SROPT_DATASET_MIRROR)",
                     "local": str(folder), "present": present})
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['name']:6} {r['files']:3d} files {r['bytes'] / 1e6:5.1f} MB  local {r['present']}/{r['files']} in {r['local']}  source {r['source']}")


@datasets_app.command("fetch")
def fetch_datasets(
    names: list[str] = typer.Argument(..., metavar="NAME...", help="Registered sets, e.g. Set5 Set14 (see `sropt datasets list`)."),
    timeout: float = typer.Option(300.0, "--timeout", min=0.1, help="Seconds for each file's whole download (a 15 s connect/read timeout applies too)."),
) -> None:
    """Download registered sets into the cache, each file checked against the registry (sha256 and git blob id).

    With SROPT_DATASET_MIRROR (a folder holding NAME/, or an http(s) base URL
    with the same layout) the mirror replaces the network. Files already in
    the cache with the right checksum are not fetched again; a failed or
    corrupted download is retried, then exit 3 naming the file and URL.

    Example: sropt datasets fetch Set5 Set14
    """
    from sropt.models.datasets import fetch_dataset, get_dataset

    for name in names:
        get_dataset(name)  # every name is checked before anything is fetched
    for name in names:
        folder = fetch_dataset(name, timeout=timeout)
        typer.echo(f"{get_dataset(name).name}: {folder}")


def register(app: typer.Typer) -> None:
    """Add `datasets` to the CLI."""
    app.add_typer(datasets_app, name="datasets")
