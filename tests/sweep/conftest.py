"""Sweep fixtures: the pipeline tests' fake stages and workdir, plus a sweeps.yaml over their 'small' pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipeline.conftest import FakeStages, fake_stages, pipeline_file, workdir  # noqa: F401  (fixtures)

SWEEP_YAML = """\
version: 1
sweeps:
  grid4:
    base: small
    grid:
      prune.ratio: [0.25, 0.5]
      quantize.tflite: [[{mode: int8, calib_count: 4}], [{mode: fp16}]]
    goal:
      maximize: speed_up
      subject_to:
        - {metric: psnr_drop, max: 0.5}
"""


@pytest.fixture
def sweep_file(pipeline_file: Path) -> Path:
    """sweeps.yaml beside the pipeline tests' pipelines.yaml."""
    p = pipeline_file.parent / "sweeps.yaml"
    p.write_text(SWEEP_YAML)
    return p
