"""Fixtures of the fuzz suite: one CLI worker process for the session, seed files, a small image set.

CI runs a bounded, derandomized number of examples per test (reproducible:
the same examples every run for a given Hypothesis version);
``SROPT_FUZZ_EXAMPLES=N`` runs N per test instead, for a longer search.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from tests.fuzz.harness import CliWorker
from tests.graphs_tiny import build_tiny_graph

#: Seed graphs: one tiny graph per family (tests/graphs_tiny.py), each recognized by the analysis.
SEED_GRAPHS = ("espcn", "fsrcnn", "edsr", "lapsrn")
#: A tiny call takes < 10 s here (the first pays the TensorFlow import); far longer is a hang.
CALL_TIMEOUT_S = 120.0


def fuzz_settings(ci_examples: int) -> settings:
    """Hypothesis settings: ``ci_examples`` (or SROPT_FUZZ_EXAMPLES), derandomized, no deadline, no database."""
    return settings(
        max_examples=int(os.environ.get("SROPT_FUZZ_EXAMPLES") or ci_examples),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


class Seeds(dict):
    """Seed files by name; a short repr, so a failing example's report is not 200 kB of bytes."""

    def __repr__(self) -> str:
        return f"Seeds({', '.join(sorted(self))})"


@pytest.fixture(scope="session")
def worker() -> Iterator[CliWorker]:
    """The spawned process every native-code CLI call of the suite runs in."""
    w = CliWorker(timeout_s=CALL_TIMEOUT_S)
    yield w
    w.close()


@pytest.fixture(scope="session")
def seed_graphs() -> dict[str, bytes]:
    """Serialized tiny GraphDefs by family name."""
    return Seeds({name: build_tiny_graph(name)[0].SerializeToString(deterministic=True) for name in SEED_GRAPHS})


@pytest.fixture(scope="session")
def seed_exports(worker: CliWorker, seed_graphs: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Float .onnx and .tflite exports of two seed graphs, by file name."""
    folder = tmp_path_factory.mktemp("seed-exports")
    exports = Seeds()
    for name in ("espcn", "fsrcnn"):
        pb = folder / f"{name}.pb"
        pb.write_bytes(seed_graphs[name])
        for suffix in ("onnx", "tflite"):
            out = folder / f"{name}.{suffix}"
            outcome = worker.run(["export", str(pb), "--to", suffix, "-o", str(out)])
            assert outcome.code == 0, outcome.stderr
            exports[out.name] = out.read_bytes()
    return exports


@pytest.fixture(scope="session")
def image_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One non-square 64x72 PNG: large enough for every seed's scale (x2-x4)."""
    import cv2

    folder = tmp_path_factory.mktemp("images")
    cv2.imwrite(str(folder / "a.png"), np.random.default_rng(0).integers(0, 256, (64, 72, 3), dtype=np.uint8))
    return folder


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder that holds one fresh case folder per example."""
    return tmp_path_factory.mktemp("fuzz")

