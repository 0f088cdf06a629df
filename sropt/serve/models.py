"""Loading, checksumming and probe-running the served artifacts at start-up."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sropt.core.errors import InputError

ARTIFACT_SUFFIXES = (".pb", ".onnx", ".tflite")
# The registry name served with no argument (the bundled demo lookup lives only here).
DEMO_MODEL = "EDSR-T91-b8f64_x3"


def default_model_refs() -> list[str]:
    """What `sropt serve` serves with no argument: the bundled demo model."""
    return [DEMO_MODEL]


@dataclass
class ServedModel:
    """One loaded artifact: its runner, facts shown by /v1/models and a lock (runners are not thread-safe)."""

    name: str
    runner: object
    runtime: str
    sha256: str
    size_bytes: int
    psnr: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> dict:
        art = self.runner.artifact
        return {"name": self.name, "family": art.family.value, "scale": art.scale, "runtime": self.runtime,
                "size_bytes": self.size_bytes, "sha256": self.sha256, "validation_psnr": self.psnr}


def expand_refs(refs: list[str]) -> list[tuple[str, str]]:
    """(served name, artifact ref) pairs: a run folder gives its artifacts under their step names."""
    pairs = []
    for ref in refs:
        p = Path(ref)
        if p.is_dir():
            arts = sorted(f for f in (p / "artifacts").glob("*") if f.suffix in ARTIFACT_SUFFIXES)
            if not arts:
                raise InputError(f"{ref}: a folder but not a `sropt run` folder (no artifacts/*.pb|.onnx|.tflite).")
            pairs += [(f.stem, str(f)) for f in arts]
        else:
            pairs.append((p.stem if p.suffix in ARTIFACT_SUFFIXES else ref, ref))
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names):
        raise InputError(f"two served artifacts share a name ({', '.join(names)}); serve them separately.")
    return pairs


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_model(name: str, ref: str, threads: int | None) -> ServedModel:
    """Open, checksum, load and probe-run one artifact; InputError/StageError naming it on any failure."""
    from sropt.validate.inference import upscale_image
    from sropt.validate.resolve import open_artifact
    from sropt.validate.runners import get_runner
    from sropt.validate.upscale import DEFAULT_RUNTIME

    opened = open_artifact(ref)
    art = opened.artifact
    runtime = DEFAULT_RUNTIME[art.kind]
    runner = get_runner(runtime)().load(art, threads)
    probe = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    out = upscale_image(runner, probe)
    if out.shape != (12 * art.scale, 16 * art.scale, 3):
        raise InputError(f"{ref}: probe run gave shape {out.shape}, expected x{art.scale}; not serving it.")
    return ServedModel(name, runner, runtime, sha256_file(art.path), art.size_bytes)


def load_models(refs: list[str], threads: int | None = None) -> dict[str, ServedModel]:
    """Every model loaded and probed, or the first failure raised (never a half-working service)."""
    return {name: load_model(name, ref, threads) for name, ref in expand_refs(refs or default_model_refs())}
