"""Fixtures of the `sropt serve` tests: three served artifacts in two runtimes, clients with fresh limits, references.

The artifacts: a tiny synthetic EDSR (B=2, F=16, x3) as .pb (OpenCV) and as
.onnx (ONNX Runtime), and the bundled demo model EDSR-T91-b8f64_x3 (what
`sropt serve` serves with no argument). They load once per session; each
test gets its own app (own cache, counters, rate limiter) around them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from tests.serve.helpers import DEMO, TINY_ONNX, TINY_PB


@pytest.fixture(scope="session")
def artifact_files(tmp_path_factory) -> dict[str, Path]:
    """Served name -> the file `sropt upscale` is given for the same artifact."""
    from sropt.convert.onnx_export import export_onnx
    from sropt.models import resolve_model
    from sropt.models.synth import write_synthetic_edsr

    d = tmp_path_factory.mktemp("serve-models")
    pb = d / f"{TINY_PB}.pb"
    write_synthetic_edsr(pb, blocks=2, filters=16, scale=3, seed=0)
    onnx = export_onnx(pb, d / f"{TINY_ONNX}.onnx").path
    return {TINY_PB: pb, TINY_ONNX: Path(onnx), DEMO: Path(resolve_model(DEMO))}


@pytest.fixture(scope="session")
def served(artifact_files):
    """The three artifacts loaded and probed, as `sropt serve <tiny.pb> <tiny.onnx> EDSR-T91-b8f64_x3` does."""
    from sropt.serve.models import load_models

    return load_models([str(artifact_files[TINY_PB]), str(artifact_files[TINY_ONNX]), DEMO])


@pytest.fixture
def make_client(served, tmp_path):
    """make_client(**limits) -> (TestClient, cache folder) for a fresh app over ``served``."""
    from fastapi.testclient import TestClient

    from sropt.serve.app import ServeConfig, create_app

    made = []

    def make(models=None, **limits):
        cache = tmp_path / f"cache{len(made)}"
        client = TestClient(create_app(models or served, ServeConfig(cache_dir=cache, **limits)))
        made.append(client)
        return client, cache

    yield make
    for c in made:
        c.close()
