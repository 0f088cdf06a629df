"""Shared fixtures and the ../shared skip policy.

Tests that read ../shared (real models, datasets) use the ``shared_models`` /
``datasets`` fixtures or ``require_shared(...)``. On a user's machine without
../shared they skip with a reason; with ``SROPT_REQUIRE_SHARED=1`` (set by
.ci/run, because CI always has ../shared) a missing path is a test error, so
CI can never go green by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sropt.core.locations import datasets_dir, shared_dir


def require_shared(path: Path, what: str) -> Path:
    """Return ``path`` if it exists; else skip (or fail under SROPT_REQUIRE_SHARED)."""
    if path.exists():
        return path
    reason = (
        f"{what} not found at {path}; point SROPT_SHARED_DIR (or SROPT_DATASETS_DIR) "
        "at the shared folder to run this test"
    )
    if os.environ.get("SROPT_REQUIRE_SHARED") == "1":
        pytest.fail(f"SROPT_REQUIRE_SHARED=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """../shared/models, holding the real zoo .pb files."""
    return require_shared(shared_dir() / "models", "shared models folder")


@pytest.fixture(scope="session")
def datasets() -> Path:
    """../shared/datasets, holding Set5/, Set14/, T91/."""
    return require_shared(datasets_dir(), "shared datasets folder")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's cache under a temp folder, never the user's cache."""
    if "SROPT_CACHE_DIR" not in os.environ or os.environ.get("SROPT_TEST_KEEP_CACHE") != "1":
        monkeypatch.setenv("SROPT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "sropt-cache"))
