"""The sweep on the bundled trained EDSR layout (EDSR-T91-b8f64_x3): real stages, local engine and Ray."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sropt.core.locations import PROJECT_ROOT
from sropt.sweep.config import load_sweeps, plan_sweep
from sropt.sweep.engines import LocalEngine
from sropt.sweep.runner import run_sweep

# Two points sharing source and prune (ONNX left out and one repeat, to keep it short).
SWEEP = f"""\
version: 1
pipelines: {PROJECT_ROOT / 'pipelines.yaml'}
sweeps:
  real:
    base: edsr_x3_ci
    grid:
      export: [null]
      quantize.onnx: [[]]
      validate.runtimes: [[opencv, tflite]]
      validate.repeats: [1]
      quantize.tflite:
        - [{{mode: int8, calib: models/bundled/datasets/T91, calib_count: 8, weight_rounding: nearest, equalize: "off"}}]
        - [{{mode: fp16}}]
    goal:
      maximize: speed_up
      subject_to: [{{metric: psnr_drop, max: 0.3}}]
"""


def _plan(tmp_path: Path):
    path = tmp_path / "sweeps.yaml"
    path.write_text(SWEEP)
    file, raw, path = load_sweeps(path)
    return plan_sweep(file, raw, "real", path=path)


def _canonical_sha256(path: Path) -> str:
    """sha256 of an artifact's content: a frozen graph re-serialized deterministically.

    Protobuf writes a NodeDef's attr map in arbitrary order, so two byte-different
    .pb files of the same pruned graph come out of two local runs alike; TFLite
    and ONNX files are compared as they are.
    """
    import hashlib

    data = path.read_bytes()
    if path.suffix == ".pb":
        import tensorflow as tf

        graph = tf.compat.v1.GraphDef()
        graph.ParseFromString(data)
        data = graph.SerializeToString(deterministic=True)
    return hashlib.sha256(data).hexdigest()


def _artifact_hashes(result: dict, cache_root: Path) -> dict:
    """(point, step) -> content sha256 of its artifact, for every build step of every point.

    The sidecar and details.json are left out: they record the cache folder's
    absolute path and the stage's timings, which differ between any two caches.
    """
    return {
        (p["id"], s["name"]): _canonical_sha256(cache_root / "stages" / s["key"] / s["artifact"])
        for p in result["points"] for s in p["steps"] if s["artifact"]
    }


def _quality(result: dict) -> dict:
    return {(c["point"], c["stage"], c["runtime"]): (c["psnr_y"], c["ssim_y"], c["size_bytes"]) for p in result["points"] for c in p["candidates"]}


@pytest.mark.slow
def test_local_engine_on_the_bundled_model(tmp_path, monkeypatch):
    monkeypatch.setenv("SROPT_CACHE_DIR", str(tmp_path / "cache"))
    result = run_sweep(_plan(tmp_path), tmp_path / "out", LocalEngine(jobs=1))
    status = [{s["name"]: s["status"] for s in p["steps"]} for p in result["points"]]
    assert status == [
        {"source": "ran", "prune": "ran", "quantize.tflite.int8": "ran", "validate": "ran"},
        {"source": "cached", "prune": "cached", "quantize.tflite.fp16": "ran", "validate": "ran"},
    ]
    q = _quality(result)
    # The source in OpenCV is the reference of every drop: its own drop is 0.
    src = next(c for c in result["points"][0]["candidates"] if c["stage"] == "source" and c["runtime"] == "opencv")
    assert src["psnr_drop"] == {"Set5": 0.0} and src["speed_up"] == 1.0
    # The same pruned graph measured by both points' validation runs agrees exactly (PSNR is deterministic).
    assert q[("real_p00", "prune", "opencv")][0] == q[("real_p01", "prune", "opencv")][0]
    # fp16 TFLite stores float16 weights: about half the float32 pruned graph (the 0.25-pruned B8/F64 layout).
    fp16 = next(c for c in result["points"][1]["candidates"] if c["stage"] == "quantize.tflite.fp16")
    pruned = next(c for c in result["points"][1]["candidates"] if c["stage"] == "prune")
    assert 0.45 < fp16["size_bytes"] / pruned["size_bytes"] < 0.6
    assert abs(fp16["psnr_drop"]["Set5"] - pruned["psnr_drop"]["Set5"]) < 0.01  # fp16 weights cost < 0.01 dB
    w = result["winners"]["overall"]
    assert w is not None and w["psnr_drop"]["Set5"] <= 0.3 and w["stage"] != "source"
    assert all(c["speed_up"] <= w["speed_up"] for p in result["points"] for c in p["candidates"]
               if c["stage"] != "source" and not c["violations"])


@pytest.mark.slow
def test_ray_engine_matches_the_local_engine(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]'")
    from sropt.sweep.engines import RayEngine

    monkeypatch.setenv("SROPT_CACHE_DIR", str(tmp_path / "cache-local"))
    local = run_sweep(_plan(tmp_path), tmp_path / "out-local", LocalEngine(jobs=1))
    monkeypatch.setenv("SROPT_CACHE_DIR", str(tmp_path / "cache-ray"))
    # The workers inherit this environment (the second cache), as a remote node gets it through runtime_env.
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="WARNING", log_to_driver=False)
    try:
        engine = RayEngine()
        remote = run_sweep(_plan(tmp_path), tmp_path / "out-ray", engine)
        engine.close()
    finally:
        ray.shutdown()
    assert [p["status"] for p in remote["points"]] == ["ok", "ok"]
    # Built from scratch in a second cache by Ray workers: the same keys and byte-identical artifacts.
    hashes_local = _artifact_hashes(local, tmp_path / "cache-local")
    hashes_ray = _artifact_hashes(remote, tmp_path / "cache-ray")
    assert hashes_ray == hashes_local
    # Keys below prune differ between the two caches: they hash the pruned entry's files,
    # whose .pb bytes and sidecar (it records the cache path) differ; the keys up to prune agree.
    keys = [{(p["id"], s["name"]): s["key"] for p in r["points"] for s in p["steps"] if s["name"] in ("source", "prune")} for r in (local, remote)]
    assert keys[0] == keys[1]
    assert _quality(remote) == _quality(local)
    # Every build step ran in a Ray worker (the source in its own task), none in the driver's measure phase.
    assert [{s["name"]: s["status"] for s in p["steps"]}["prune"] for p in remote["points"]] == ["ran", "cached"]
    assert remote["engine"] == "ray"


@pytest.mark.slow
def test_ray_engine_starts_ray_during_the_sources_and_stops_it_before_measuring(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]'")
    import threading

    from sropt.sweep.engines import RayEngine

    monkeypatch.setenv("SROPT_CACHE_DIR", str(tmp_path / "cache"))
    engine = RayEngine(num_cpus=2)
    assert not ray.is_initialized()  # nothing is started before the first task is waited for
    seen: dict[str, object] = {}

    def on_start(pid: str, phase: str) -> None:
        if phase == "measure" and "measure" not in seen:
            # The build phase is over: the local instance is stopping (or stopped) in the background.
            seen["measure"] = ray.is_initialized() is False or any(t.name == "ray-shutdown" for t in threading.enumerate())

    try:
        result = run_sweep(_plan(tmp_path), tmp_path / "out", engine, on_start=on_start)
    finally:
        engine.close()
    assert not ray.is_initialized()
    assert seen == {"measure": True}
    assert [p["status"] for p in result["points"]] == ["ok", "ok"]
    # The source was built in a process forked from the driver while Ray started; prune and the rest in Ray tasks.
    source = next(s for s in result["points"][0]["steps"] if s["name"] == "source")
    assert source["status"] == "ran" and source["node"].endswith("(driver, while Ray started)")
    assert "(driver" not in result["points"][0]["node"]  # the point's own build ran in a Ray task


def _sweep_with_ray_faults(tmp_path: Path) -> dict:
    """Run the sweep on Ray with p00's build worker SIGKILLed once and p01's on every attempt (in a child process)."""
    import ray

    from sropt.sweep.engines import RayEngine

    marker = str(tmp_path / "p00-killed-once")

    def run_point_with_faults(config, pid, out, phase):  # pickled by value into the Ray workers
        import os
        import signal

        from sropt.sweep.engines import run_point

        if phase == "build" and (pid == "real_p01" or not os.path.exists(marker)):
            if pid == "real_p00":
                open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
        return run_point(config, pid, out, phase)

    engine = RayEngine(num_cpus=2, max_retries=2)
    engine._remote = ray.remote(num_cpus=1, max_retries=engine.max_retries)(run_point_with_faults)
    try:
        return run_sweep(_plan(tmp_path), tmp_path / "out", engine)
    finally:
        engine.close()


@pytest.mark.slow
def test_ray_worker_killed_mid_task_is_retried_and_one_killed_every_time_fails_its_point_only(tmp_path):
    """Faults on the Ray engine: p00's build worker is SIGKILLed once (Ray reruns the task, the point finishes);
    p01's is killed on every attempt (the point fails after max_retries, with the reason; p00 still wins).

    Run in a child process: a third Ray session in one Python process (after the two tests above) ended pytest
    itself when Ray's driver was touched after its background shutdown ("The core worker has already been
    shutdown ... The process will exit"); one sweep per process is how `sropt sweep` runs anyway.
    """
    import subprocess
    import sys

    pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]'")
    code = ("import json, sys\nfrom pathlib import Path\nfrom tests.sweep.test_real import _sweep_with_ray_faults\n"
            "print('RESULT ' + json.dumps(_sweep_with_ray_faults(Path(sys.argv[1]))))")
    env = {**os.environ, "SROPT_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    result = json.loads(line[len("RESULT "):])
    p00, p01 = result["points"]
    assert (tmp_path / "p00-killed-once").exists()  # p00's first attempt really died
    assert p00["status"] == "ok" and {s["name"]: s["status"] for s in p00["steps"]}["quantize.tflite.int8"] == "ran"
    assert p01["status"] == "failed"
    assert "Ray task failed after 2 retries" in p01["error"] and "died" in p01["error"].lower()
    assert result["winners"]["overall"]["point"] == "real_p00"
