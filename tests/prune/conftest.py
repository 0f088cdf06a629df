"""Fixtures for the prune tests: a tiny EDSR-layout graph written to disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from sropt.models.synth import write_synthetic_edsr


@pytest.fixture(scope="session")
def tiny_edsr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """EDSR layout, B=2, F=16, x3, float32 weights (random)."""
    out = tmp_path_factory.mktemp("edsr") / "edsr_b2f16.pb"
    write_synthetic_edsr(out, blocks=2, filters=16, scale=3, seed=0, quantize_weights=False)
    return out


@pytest.fixture(scope="session")
def tiny_edsr_quint8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """EDSR layout, B=2, F=32, x3, quantize_weights form (32*32*9 >= 1024 elements per block filter)."""
    out = tmp_path_factory.mktemp("edsr") / "edsr_b2f32_q.pb"
    write_synthetic_edsr(out, blocks=2, filters=32, scale=3, seed=1, quantize_weights=True)
    return out
