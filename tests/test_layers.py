"""The layer rule, checked from the source: imports point down, never up or sideways.

Reads every import (module level and inside functions; ``if TYPE_CHECKING:``
blocks too, since a type-only import still couples the layers) of every
module, maps folders to ``sropt.*`` names through pyproject's package-dir,
and fails on

* an import from a higher layer or from a sibling package of the same layer
  (``convert`` and ``models`` are siblings, so are ``prune`` and ``quantize``);
* any import of the entry-point package ``sropt`` (the CLI, the pipeline
  runner, serve, sweep) from outside it: nothing imports the top floor;
* an import cycle between modules.

Run it alone with ``python -m pytest tests/test_layers.py``; docs/DEVELOPING.md
shows the diagram.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Floor of each stage package; the entry-point package ``sropt`` is the top.
LAYERS = {"core": 0, "convert": 1, "models": 1, "validate": 2, "prune": 3, "quantize": 3}
TOP = "sropt"


def package_dirs() -> dict[str, Path]:
    """``sropt.core`` -> ROOT/core, ... as pyproject's package-dir says."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    return {pkg: ROOT / folder for pkg, folder in mapping.items()}


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name (the mapped folders do not nest)."""
    found: dict[str, Path] = {}
    for pkg, folder in package_dirs().items():
        for path in folder.rglob("*.py"):
            parts = [p for p in path.relative_to(folder).with_suffix("").parts if p != "__init__"]
            found[".".join([pkg, *parts])] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules ``name`` imports (resolved to modules of this package)."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    here = name if is_pkg else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                targets.add(sub if sub in known else base)
    resolved = set()
    for t in targets:
        while t and t not in known:
            t = t.rpartition(".")[0]
        if t and t != name and t.startswith("sropt"):
            resolved.add(t)
    return resolved


def stage_of(module: str) -> str:
    """``core`` for sropt.core.x, ``sropt`` for the entry points (sropt, sropt.cli, sropt.pipeline...)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else TOP


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def test_mapping_covers_every_stage_folder():
    dirs = package_dirs()
    for stage in LAYERS:
        assert f"sropt.{stage}" in dirs, f"pyproject package-dir lacks sropt.{stage}"


def test_imports_point_down():
    bad = []
    for importer, targets in import_graph().items():
        src = stage_of(importer)
        for target in targets:
            dst = stage_of(target)
            if src == dst:
                continue
            if dst == TOP:
                bad.append(f"{importer} imports {target}: nothing imports the entry-point package sropt")
            elif src != TOP and LAYERS[dst] >= LAYERS[src]:
                way = "sideways" if LAYERS[dst] == LAYERS[src] else "up"
                bad.append(f"{importer} ({src}) imports {target} ({dst}): {way}")
    assert not bad, "imports that break the layers:\n" + "\n".join(sorted(bad))


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def package_init_edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph without edges into a package's own ``__init__`` re-exports from inside it.

    ``sropt.convert/__init__`` re-exports its submodules; a submodule that
    imports a sibling through the package name is not a design cycle.
    """
    return {m: {t for t in ts if not (m.startswith(t + "."))} for m, ts in graph.items()}


def test_no_import_cycles():
    cycles = find_cycles(package_init_edges(import_graph()))
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_cycle_finder_on_a_hand_made_graph():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c"]]
