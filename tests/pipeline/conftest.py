"""Fixtures for pipeline tests: fake stage adapters and a tiny datasets folder.

The fake adapters write small deterministic files and a hand-made
validation report, so cache, run-folder and gate behaviour is tested in
milliseconds without TensorFlow. ``calls`` records which steps really ran.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.families import Family
from sropt.pipeline import steps as steps_mod
from sropt.pipeline.steps import artifact_file_name

#: PSNR-Y the fake validator reports per step (Set5), chosen by hand.
FAKE_PSNR = {
    "source": 30.50,
    "prune": 30.20,
    "export.onnx": 30.20,
    "quantize.tflite.int8": 29.40,
    "quantize.onnx.int8": 30.05,
}
RUNTIMES_OF = {"pb": ["opencv"], "onnx": ["ort", "opencv"], "tflite": ["tflite"]}
#: A valid 1x1 grey PNG (what cv2.imencode writes), so the fixtures need no image library.
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55"
    "0000000a49444154081d6368000000820081f0aae3220000000049454e44ae426082"
)


class FakeStages:
    """Adapter table replacement; records every step that actually ran."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail_on: str | None = None

    def _write(self, ctx, suffix: str, payload: str, kind: ArtifactKind, step: dict) -> Artifact:
        self.calls.append(ctx.step.name)
        if self.fail_on == ctx.step.name:
            raise RuntimeError("simulated crash")
        out = ctx.out_dir / artifact_file_name(ctx.stem, ctx.step.name, suffix)
        out.write_text(payload)
        src = next(iter(ctx.inputs.values())) if ctx.inputs else None
        if src is None:
            return Artifact(out, kind, Family.FSRCNN, 3)
        return src.derive(out, kind, step)

    def source(self, ctx):
        return self._write(ctx, ".pb", ctx.source_path.read_text(), ArtifactKind.FROZEN_GRAPH, {})

    def prune(self, ctx):
        body = f"pruned {ctx.config.ratio} of " + ctx.only_input().path.read_text()
        return self._write(ctx, ".pb", body, ArtifactKind.FROZEN_GRAPH, {"stage": "prune", "ratio": ctx.config.ratio})

    def export_onnx(self, ctx):
        return self._write(ctx, ".onnx", "onnx " + ctx.only_input().path.read_text(), ArtifactKind.ONNX, {"stage": "export"})

    def quantize_tflite(self, ctx):
        return self._write(ctx, ".tflite", f"tflite {ctx.config.mode.value} {ctx.config.calib_count}", ArtifactKind.TFLITE, {"stage": "quantize"})

    def quantize_onnx(self, ctx):
        return self._write(ctx, ".onnx", f"ort {ctx.config.mode.value}", ArtifactKind.ONNX, {"stage": "quantize"})

    def validate(self, ctx):
        self.calls.append("validate")
        if self.fail_on == "validate":
            raise RuntimeError("simulated crash")
        rows = [{"artifact": "bicubic", "runtime": "none", "dataset": "Set5", "scale": 3, "degradation": "matlab-bicubic",
                 "psnr_y": 28.0, "ssim_y": 0.80, "latency_ms": None, "size_bytes": 0, "images": []}]
        for step, art in ctx.inputs.items():
            for runtime in RUNTIMES_OF[art.kind.value]:
                if runtime not in [r.value for r in ctx.config.runtimes]:
                    continue
                psnr = FAKE_PSNR.get(step, 30.0)
                rows.append({
                    "artifact": str(art.path), "runtime": runtime, "dataset": "Set5", "scale": 3,
                    "degradation": ctx.config.degradation.value, "psnr_y": psnr, "ssim_y": round(0.85 + (psnr - 30) / 100, 4),
                    "latency_ms": {"median": 10.0, "p90": 11.0, "min": 9.0}, "size_bytes": art.path.stat().st_size,
                    "images": [{"name": "baby.png", "psnr_y": psnr, "ssim_y": 0.9}],
                })
        out = ctx.out_dir / "report.json"
        out.write_text(json.dumps({"schema_version": 1, "environment": {}, "results": rows}))
        return out

    def table(self) -> dict:
        return {
            "source": self.source, "prune": self.prune, "export.onnx": self.export_onnx,
            "quantize.tflite": self.quantize_tflite, "quantize.onnx": self.quantize_onnx, "validate": self.validate,
        }


@pytest.fixture
def fake_stages(monkeypatch: pytest.MonkeyPatch) -> FakeStages:
    """Replace every stage adapter with a fast fake."""
    fake = FakeStages()
    monkeypatch.setattr(steps_mod, "ADAPTERS", fake.table())
    return fake


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp cwd with datasets Set5/T91, a fake model file and an isolated cache."""
    ds = tmp_path / "datasets"
    for name in ("Set5", "T91"):
        (ds / name).mkdir(parents=True)
        # The preflight refuses an empty dataset folder; the fake stages never read the image.
        (ds / name / "img.png").write_bytes(TINY_PNG)
    monkeypatch.setenv("SROPT_DATASETS_DIR", str(ds))
    monkeypatch.setenv("SROPT_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "model.pb").write_text("fake frozen graph v1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


PIPELINE_YAML = """\
version: 1
defaults:
  validate:
    datasets: [Set5]
    runtimes: [opencv, ort, tflite]
    repeats: 1
pipelines:
  small:
    model: ./model.pb
    prune: {ratio: 0.25, scope: inner}
    export: {onnx: {opset: 17}}
    quantize:
      tflite: [{mode: int8, calib_count: 4}]
      onnx: [{mode: int8, calib_count: 4}]
    gates:
      - {metric: psnr_y, min: 29.0}
      - {metric: psnr_y, max_drop: 0.5, artifacts: [prune, export.onnx, quantize.onnx.int8]}
      - {metric: psnr_y, max_drop: 1.5, artifacts: [quantize.tflite.int8]}
"""


@pytest.fixture
def pipeline_file(workdir: Path) -> Path:
    """pipelines.yaml with one pipeline 'small' over the fake model."""
    p = workdir / "pipelines.yaml"
    p.write_text(PIPELINE_YAML)
    return p
