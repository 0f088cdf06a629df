"""The pipeline's validate step fails like `sropt validate` does: a crashed runtime is exit 4, never a pass."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from sropt.core.artifacts import ArtifactKind
from sropt.core.errors import InputError, StageError
from sropt.pipeline import stage_calls
from sropt.validate import ValidationReport, ValidationResult
from sropt.validate.results import ImageResult


def _ctx(tmp_path: Path) -> SimpleNamespace:
    import cv2
    import numpy as np

    images = tmp_path / "Set5"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.zeros((48, 48, 3), np.uint8))
    config = SimpleNamespace(runtimes=[SimpleNamespace(value="opencv")], datasets=[str(images)], degradation=SimpleNamespace(value="matlab-bicubic"),
                             repeats=1, rgb=False, bench_size=32, threads=None)
    artifact = SimpleNamespace(kind=ArtifactKind.FROZEN_GRAPH, path=tmp_path / "m.pb")
    return SimpleNamespace(config=config, inputs={"source": artifact}, out_dir=tmp_path, say=lambda m: None, log=logging.getLogger("t"))


def _row(tmp_path: Path, *, images: int, failure: str | None = None) -> ValidationResult:
    row = ValidationResult(str(tmp_path / "m.pb"), "opencv", "Set5", 3, "matlab-bicubic", label="m.pb", failure=failure)
    row.images = [ImageResult(f"{i}.png", 30.0, 0.9, (32, 32)) for i in range(images)]
    if failure:
        row.errors = [f"opencv: {failure}"]
    return row


@pytest.mark.parametrize(("rows", "expected"), [
    ("crash", StageError),       # the runtime's process died: exit 4 even beside good rows
    ("input", InputError),       # nothing could start: exit 2
])
def test_validate_step_raises_after_writing_the_report(tmp_path, monkeypatch, rows, expected):
    report = ValidationReport(environment={}, config={}, results=[_row(tmp_path, images=5), _row(tmp_path, images=0, failure=rows)])
    if rows == "input":
        report.results = [_row(tmp_path, images=0, failure="input")]
    monkeypatch.setattr("sropt.validate.validate_artifacts", lambda paths, config, progress: report)
    with pytest.raises(expected):
        stage_calls.validate(_ctx(tmp_path))
    written = json.loads((tmp_path / "report.json").read_text())
    assert any(r.get("errors") for r in written["results"])  # the evidence is on disk


def test_validate_step_with_measured_rows_returns_the_report(tmp_path, monkeypatch):
    report = ValidationReport(environment={}, config={}, results=[_row(tmp_path, images=5)])
    monkeypatch.setattr("sropt.validate.validate_artifacts", lambda paths, config, progress: report)
    assert stage_calls.validate(_ctx(tmp_path)) == tmp_path / "report.json"
