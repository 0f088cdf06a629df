"""`sropt package`: one folder an app developer can take (issue 18, item 3).

The folder holds the model, its sidecar (when sropt wrote one),
``metadata.json`` (contract, I/O tensors, TFLite metadata, what is inferred
or unknown), a README for this model (sizes, measured PSNR/latency from its
report, the contract, a ``benchmark_model`` command for a phone) and usage
snippets (``upscale.py``; ``SuperResolution.kt`` for .tflite). It is built in
a hidden sibling folder and renamed into place, so a failure leaves nothing
half-written; an existing non-empty folder is refused, never merged into.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sropt.core.artifacts import ArtifactKind, sidecar_path
from sropt.core.errors import InputError
from sropt.validate.handoff import Handoff, Measurement, describe_handoff
from sropt.validate.handoff_readme import render_readme
from sropt.validate.handoff_snippets import kotlin_snippet, python_snippet

REPORT_NAME = "report.json"


@dataclass
class PackageResult:
    """What ``write_package`` wrote."""

    folder: Path
    files: list[str]
    handoff: Handoff
    measurement: Measurement | None
    notes: list[str] = field(default_factory=list)


def write_package(ref: str | Path, out: Path | str, report: Path | str | None = None) -> PackageResult:
    """Write the hand-off folder ``out`` for artifact ``ref`` (a .tflite or .onnx)."""
    out = Path(out).expanduser()
    check_package_folder(out)
    handoff = describe_handoff(ref)
    measurement = find_measurement(handoff.artifact.path, Path(report) if report else None)
    notes = [] if measurement else ["no validation report found beside the model: pass --report run/report.json "
                                    "to put measured PSNR/latency in the README"]
    files = _package_files(handoff, measurement)
    _write_folder(out, handoff.artifact.path, files)
    return PackageResult(out, sorted(p.name for p in out.iterdir()), handoff, measurement, notes)


def check_package_folder(out: Path) -> None:
    """InputError unless ``out`` is a new or empty folder whose parent can be written."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file; give -o a new folder for the package.")
    if out.is_dir() and any(out.iterdir()):
        raise InputError(f"{out}: folder exists and is not empty; give -o a new or empty folder "
                         "(sropt package never overwrites or merges).")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{out}: cannot create the package there ({parent} is not a writable folder); "
                         "choose another -o.")


def find_measurement(model: Path, report: Path | None) -> Measurement | None:
    """Rows measuring ``model`` in ``report``, or in a report.json beside it or one folder up (a run's layout)."""
    if report is not None:
        if not report.is_file():
            raise InputError(f"{report}: no such report; give the report.json of `sropt run` or `sropt validate`.")
        candidates = [report]
    else:
        candidates = [p for p in (model.parent / REPORT_NAME, model.parent.parent / REPORT_NAME) if p.is_file()]
    for path in candidates:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a readable JSON report ({exc}); give the report.json of a run.") from exc
        rows = [r for r in data.get("results", []) if isinstance(r, dict) and _same_file(path.parent, r.get("artifact"), model)]
        if rows or report is not None:
            env = data.get("environment", {})
            return Measurement(path, rows, str(env.get("cpu", "unknown CPU")), str(env.get("machine", "")))
    return None


def _same_file(base: Path, name: Any, model: Path) -> bool:
    if not isinstance(name, str):
        return False
    candidate = (base / name) if not Path(name).is_absolute() else Path(name)
    try:
        return candidate.resolve() == model.resolve()
    except OSError:
        return False


def _package_files(handoff: Handoff, measurement: Measurement | None) -> dict[str, str]:
    """File name -> text of everything but the model itself."""
    art = handoff.artifact
    contract = handoff.contract
    files = {
        "metadata.json": json.dumps(handoff.to_json(), indent=2, sort_keys=True) + "\n",
        "upscale.py": python_snippet(art.path.name, art.kind.value, contract),
    }
    if art.kind is ArtifactKind.TFLITE:
        files["SuperResolution.kt"] = kotlin_snippet(art.path.name, contract)
    files["README.md"] = render_readme(handoff, measurement, bench_shape(handoff, measurement), sorted(files))
    return files


def bench_shape(handoff: Handoff, measurement: Measurement | None) -> tuple[int, int]:
    """The H, W for benchmark_model: the fixed shape, else the input our latency was measured at, else 128x128."""
    h, w = handoff.io["input"]["shape"][1:3] if handoff.io["input"]["shape"][3] in (1, 3) else handoff.io["input"]["shape"][2:4]
    if h > 0 and w > 0:
        return int(h), int(w)
    for row in measurement.rows if measurement else []:
        m = re.search(r"\[1, (\d+), (\d+), \d\]", str(row.get("latency_input") or ""))
        if m:
            return int(m.group(1)), int(m.group(2))
    return 128, 128


def _write_folder(out: Path, model: Path, files: dict[str, str]) -> None:
    """Build the folder beside ``out`` and rename it into place (an empty ``out`` is replaced)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    except OSError as exc:
        raise InputError(f"{out}: cannot create the package there ({exc.strerror or exc}); choose another -o.") from None
    try:
        shutil.copyfile(model, tmp / model.name)
        side = sidecar_path(model)
        if side.is_file():
            shutil.copyfile(side, tmp / side.name)
        for name, text in files.items():
            (tmp / name).write_text(text)
        os.chmod(tmp, 0o777 & ~_umask())
        os.replace(tmp, out)  # atomic; replaces only an empty folder
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
