"""The short load test on a real server (loopback): 60 requests at concurrency 8 over two artifacts and runtimes.

The long version, with the latency and throughput figures, is
``python -m benchmarks.serve_load`` (results in benchmarks/results/serve_load.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.serve_load import BAD_KINDS, run_load
from tests.serve.helpers import DEMO, TINY_ONNX


@pytest.mark.slow
def test_short_load_every_answer_right_rss_bounded_nothing_written_outside_cache(artifact_files, tmp_path: Path) -> None:
    dirs = {k: tmp_path / k for k in ("cwd", "home", "tmp", "sropt-cache", "xdg-cache")}
    for d in dirs.values():
        d.mkdir()
    env = {**os.environ, "HOME": str(dirs["home"]), "TMPDIR": str(dirs["tmp"]), "SROPT_CACHE_DIR": str(dirs["sropt-cache"]),
           "XDG_CACHE_HOME": str(dirs["xdg-cache"])}
    result = run_load([DEMO, str(artifact_files[TINY_ONNX])], tmp_path / "serve-cache", requests=60, concurrency=8,
                      bad_every=5, sizes=(32, 64), max_seconds=240, cwd=dirs["cwd"], env=env)
    assert result.failures == []  # every valid request 200 (no 5xx, no 503), every bad one its code, RSS under the bound
    kinds = [o.kind for o in result.outcomes]
    assert len(kinds) == 60 and kinds.count("valid") == 48
    assert {k: kinds.count(k) for k in BAD_KINDS} == {k: 3 for k in BAD_KINDS}
    assert {o.artifact for o in result.outcomes if o.kind == "valid"} == {DEMO, TINY_ONNX}
    assert {name: sorted(p.name for p in d.rglob("*")) for name, d in dirs.items()} == {name: [] for name in dirs}
