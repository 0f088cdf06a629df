"""Loading, checksumming and probe-running the served artifacts at start-up."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sropt.core.errors import InputError, SroptError, StageError

ARTIFACT_SUFFIXES = (".pb", ".onnx", ".tflite")
# The registry name served with no argument (the bundled demo lookup lives only here).
DEMO_MODEL = "EDSR-T91-b8f64_x3"
# The probe image's LR size: non-square (catches a height/width swap) and small, so start-up stays fast.
PROBE_HW = (12, 16)


def default_model_refs() -> list[str]:
    """What `sropt serve` serves with no argument: the bundled demo model."""
    return [DEMO_MODEL]


@dataclass
class ServeRef:
    """One artifact to serve: its served name, the file or registry name, and its validation rows (run folders)."""

    name: str
    ref: str
    validation: list[dict] = field(default_factory=list)


@dataclass
class ServedModel:
    """One loaded artifact: its runner, facts shown by /v1/models and a lock (runners are not thread-safe)."""

    name: str
    runner: object
    runtime: str
    sha256: str
    size_bytes: int
    validation: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> dict:
        """The /v1/models entry."""
        art = self.runner.artifact
        return {"name": self.name, "family": art.family.value, "scale": art.scale, "runtime": self.runtime,
                "size_bytes": self.size_bytes, "sha256": self.sha256, "validation": self.validation}


def run_folder_refs(folder: Path) -> list[ServeRef]:
    """A `sropt run` folder's artifacts under their step names, with the PSNR its validate step measured.

    The names and PSNRs come from report.json (``pipeline.artifacts`` and the
    ``results`` rows of the runtime the server uses for that file type); a
    folder without one (an interrupted run) serves ``artifacts/*`` under their
    file stems, without PSNR.
    """
    report = folder / "report.json"
    if not report.is_file():
        arts = sorted(f for f in (folder / "artifacts").glob("*") if f.suffix in ARTIFACT_SUFFIXES)
        if not arts:
            raise InputError(f"{folder}: a folder but not a `sropt run` folder (no report.json, no artifacts/*.pb|.onnx|.tflite).")
        return [ServeRef(f.stem, str(f)) for f in arts]
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
        steps = data["pipeline"]["artifacts"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{report}: not a `sropt run` report ({exc}); serve the files in {folder / 'artifacts'} by path.") from None
    refs = []
    for step, rel in steps.items():
        path = folder / rel
        refs.append(ServeRef(step, str(path), _validation_rows(data.get("results", []), step, path)))
    return refs


def _validation_rows(results: list[dict], step: str, path: Path) -> list[dict]:
    """The report rows of ``step`` measured in the runtime serve uses for ``path``, with their protocol."""
    from sropt.core.artifacts import ArtifactKind
    from sropt.validate.upscale import DEFAULT_RUNTIME

    runtime = DEFAULT_RUNTIME[ArtifactKind.from_path(path)]
    return [{"dataset": r.get("dataset"), "psnr_y_db": r["psnr_y"], "ssim_y": r.get("ssim_y"), "runtime": runtime,
             "degradation": r.get("degradation"), "protocol": r.get("metric_protocol")}
            for r in results if r.get("stage") == step and r.get("runtime") == runtime and r.get("psnr_y") is not None]


def expand_refs(refs: list[str]) -> list[ServeRef]:
    """What to serve: a run folder gives its artifacts under their step names; names must be unique."""
    out: list[ServeRef] = []
    for ref in refs:
        p = Path(ref)
        if p.is_dir():
            out += run_folder_refs(p)
        else:
            out.append(ServeRef(p.stem if p.suffix in ARTIFACT_SUFFIXES else ref, ref))
    names = [r.name for r in out]
    if len(set(names)) != len(names):
        raise InputError(f"two served artifacts share a name ({', '.join(names)}); serve them separately.")
    return out


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_model(ref: ServeRef, threads: int | None) -> ServedModel:
    """Open, checksum, load and probe-run one artifact; InputError/StageError naming it on any failure."""
    from sropt.validate.inference import upscale_image
    from sropt.validate.resolve import open_artifact
    from sropt.validate.runners import get_runner
    from sropt.validate.upscale import DEFAULT_RUNTIME

    art = open_artifact(ref.ref).artifact
    runtime = DEFAULT_RUNTIME[art.kind]
    runner = get_runner(runtime)().load(art, threads)
    h, w = PROBE_HW
    probe = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = upscale_image(runner, probe)
    if out.shape != (h * art.scale, w * art.scale, 3) or out.dtype != np.uint8:
        raise StageError(f"{ref.ref}: the probe run gave {out.dtype} {out.shape} for a {w}x{h} image, "
                         f"expected uint8 x{art.scale}; not serving it.")
    return ServedModel(ref.name, runner, runtime, sha256_file(art.path), art.size_bytes, ref.validation)


def load_models(refs: list[str], threads: int | None = None) -> dict[str, ServedModel]:
    """Every model loaded and probed, or one error listing every failure (never a half-working service)."""
    served, problems, worst = {}, [], InputError
    for ref in expand_refs(refs or default_model_refs()):
        try:
            served[ref.name] = load_model(ref, threads)
        except SroptError as exc:
            problems.append(f"{ref.name}: {exc}")
            worst = StageError if isinstance(exc, StageError) or worst is StageError else InputError
        except Exception as exc:  # a runtime's own exception (its native loader): still named, still fatal
            problems.append(f"{ref.name}: {ref.ref}: {type(exc).__name__}: {exc}")
            worst = StageError
    if problems:
        raise worst(f"not serving: {len(problems)} of {len(problems) + len(served)} artifacts failed to load or "
                    "probe-run; fix or leave out each one below", problems=problems)
    return served
