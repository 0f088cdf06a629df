"""The runner with fake stages: caching, reruns, corruption, resume, the run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sropt.cli import main
from sropt.core.errors import StageError
from sropt.pipeline.cache import StageCache
from sropt.pipeline.config import load_pipelines
from sropt.pipeline.runner import run_pipeline

ALL = ["source", "prune", "export.onnx", "quantize.tflite.int8", "quantize.onnx.int8", "validate"]


def _run(pipeline_file: Path, **kw):
    return run_pipeline(load_pipelines(pipeline_file), "small", **kw)


def test_cold_then_warm_run_skips_every_step(pipeline_file, fake_stages):
    first = _run(pipeline_file)
    assert [s.name for s in first.steps] == ALL
    assert [s.status for s in first.steps] == ["ran"] * 6
    assert fake_stages.calls == ALL
    fake_stages.calls.clear()
    second = _run(pipeline_file)
    assert [s.status for s in second.steps] == ["cached"] * 6
    assert all(s.skipped for s in second.steps)
    assert fake_stages.calls == []
    assert [s.key for s in second.steps] == [s.key for s in first.steps]
    # The skip record is in the report too.
    rep = json.loads((pipeline_file.parent / "runs/small/report.json").read_text())
    assert [s["status"] for s in rep["pipeline"]["steps"]] == ["cached"] * 6


def test_changing_one_option_reruns_that_stage_and_later_only(pipeline_file, fake_stages):
    first = _run(pipeline_file)
    pipeline_file.write_text(pipeline_file.read_text().replace("tflite: [{mode: int8, calib_count: 4}]", "tflite: [{mode: int8, calib_count: 5}]"))
    fake_stages.calls.clear()
    second = _run(pipeline_file)
    status = {s.name: s.status for s in second.steps}
    assert status == {"source": "cached", "prune": "cached", "export.onnx": "cached",
                      "quantize.tflite.int8": "ran", "quantize.onnx.int8": "cached", "validate": "ran"}
    assert fake_stages.calls == ["quantize.tflite.int8", "validate"]
    manifest = json.loads((StageCache().entry_path(second.steps[3].key) / "manifest.json").read_text())
    assert manifest["key_inputs"]["config"]["calib_count"] == 5  # why it reran is on record
    keys1 = {s.name: s.key for s in first.steps}
    keys2 = {s.name: s.key for s in second.steps}
    assert [n for n in ALL if keys1[n] != keys2[n]] == ["quantize.tflite.int8", "validate"]

    # An upstream option changes every key downstream of it.
    pipeline_file.write_text(pipeline_file.read_text().replace("ratio: 0.25", "ratio: 0.5"))
    fake_stages.calls.clear()
    third = _run(pipeline_file)
    assert [s.status for s in third.steps] == ["cached"] + ["ran"] * 5
    assert fake_stages.calls == ALL[1:]


def test_changed_model_content_reruns_everything(pipeline_file, fake_stages):
    _run(pipeline_file)
    (pipeline_file.parent / "model.pb").write_text("fake frozen graph v2")
    fake_stages.calls.clear()
    assert [s.status for s in _run(pipeline_file).steps] == ["ran"] * 6


def test_corrupted_cache_entry_is_detected_and_rebuilt(pipeline_file, fake_stages):
    first = _run(pipeline_file)
    prune_key = next(s.key for s in first.steps if s.name == "prune")
    entry = StageCache().entry_path(prune_key)
    pb = next(entry.glob("*.pb"))
    good = pb.read_bytes()
    pb.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one flipped bit, same size
    fake_stages.calls.clear()
    second = _run(pipeline_file)
    rec = next(s for s in second.steps if s.name == "prune")
    assert rec.status == "rebuilt"
    assert "content does not match its sha256" in rec.note
    # The rebuilt output is identical, so nothing downstream changes.
    assert fake_stages.calls == ["prune"]
    assert pb.read_text().startswith("pruned 0.25 of ")
    log = (pipeline_file.parent / "runs/small/run.log").read_text()
    assert "content does not match its sha256" in log


def test_missing_manifest_is_corruption(pipeline_file, fake_stages):
    first = _run(pipeline_file)
    (StageCache().entry_path(first.steps[0].key) / "manifest.json").unlink()
    second = _run(pipeline_file)
    assert second.steps[0].status == "rebuilt" and "unreadable manifest" in second.steps[0].note


def test_interrupted_run_resumes_and_keeps_previous_results(pipeline_file, fake_stages):
    _run(pipeline_file)
    run_dir = pipeline_file.parent / "runs/small"
    before = (run_dir / "report.json").read_text()
    pipeline_file.write_text(pipeline_file.read_text().replace("ratio: 0.25", "ratio: 0.3"))
    fake_stages.fail_on = "quantize.tflite.int8"
    fake_stages.calls.clear()
    with pytest.raises(StageError, match=r"step 'quantize.tflite.int8' failed: RuntimeError: simulated crash") as info:
        _run(pipeline_file)
    assert "finished steps are cached, rerun to resume" in str(info.value)
    (failure_log,) = (StageCache().root.parent / "logs").glob("small-*.log")
    assert "step quantize.tflite.int8 failed" in failure_log.read_text()
    assert fake_stages.calls == ["prune", "export.onnx", "quantize.tflite.int8"]
    assert (run_dir / "report.json").read_text() == before  # old results intact
    assert not list(StageCache().root.glob(".tmp-*"))  # no half-written entry
    fake_stages.fail_on = None
    fake_stages.calls.clear()
    resumed = _run(pipeline_file)
    assert {s.name: s.status for s in resumed.steps}["export.onnx"] == "cached"
    assert fake_stages.calls == ["quantize.tflite.int8", "quantize.onnx.int8", "validate"]


def test_force_reruns_everything(pipeline_file, fake_stages):
    _run(pipeline_file)
    fake_stages.calls.clear()
    assert [s.status for s in _run(pipeline_file, force=True).steps] == ["ran"] * 6
    assert fake_stages.calls == ALL


def test_run_folder_contents(pipeline_file, fake_stages):
    result = _run(pipeline_file)
    run_dir = pipeline_file.parent / "runs/small"
    assert result.out_dir == Path("runs/small")
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == ["artifacts", "gates.md", "junit.xml", "report.html", "report.json", "report.md", "resolved.yaml", "run.log"]
    arts = sorted(p.name for p in (run_dir / "artifacts").iterdir() if not p.name.endswith(".sropt.json"))
    assert arts == ["model.export.onnx", "model.pb", "model.prune.pb", "model.quantize.onnx.int8.onnx", "model.quantize.tflite.int8.tflite"]
    rep = json.loads((run_dir / "report.json").read_text())
    rows = {(r.get("stage"), r["runtime"]): r for r in rep["results"]}
    assert rows[("prune", "opencv")]["artifact"] == "artifacts/model.prune.pb"
    assert rows[("source", "opencv")]["role"] == "source"
    summary = {s["step"]: s for s in rep["pipeline"]["summary"]}
    # Deltas are against the source in the same runtime, else OpenCV (30.50).
    assert summary["prune"]["psnr_delta"] == {"Set5": pytest.approx(-0.30)}
    assert summary["quantize.tflite.int8"]["psnr_delta"] == {"Set5": pytest.approx(-1.10)}
    assert summary["quantize.onnx.int8"]["runtime"] == "ort"
    assert rep["pipeline"]["passed"] is True
    resolved = yaml.safe_load((run_dir / "resolved.yaml").read_text())
    assert resolved["config"]["prune"]["ratio"] == 0.25
    assert resolved["config"]["validate"]["repeats"] == 1  # merged from defaults
    assert len(resolved["source"]["sha256"]) == 64
    md = (run_dir / "report.md").read_text()
    assert "| prune | ran |" in md and "-0.30" in md


def test_run_cli_gate_failure_exits_1_after_writing_everything(pipeline_file, fake_stages, capsys):
    pipeline_file.write_text(pipeline_file.read_text().replace("max_drop: 1.5", "max_drop: 1.0"))
    code = main(["run", str(pipeline_file), "--pipeline", "small"])
    assert code == 1
    err = capsys.readouterr().err
    assert "1 of 13 checks over runtimes x datasets" in err
    assert "drop +1.100" in err
    rep = json.loads((pipeline_file.parent / "runs/small/report.json").read_text())
    assert rep["pipeline"]["passed"] is False
    failed = [g for g in rep["pipeline"]["gate_results"] if g["status"] == "fail"]
    assert [(g["stage"], g["runtime"]) for g in failed] == [("quantize.tflite.int8", "tflite")]
    # `sropt check` on the written report reaches the same verdict from the recorded gates.
    assert main(["check", str(pipeline_file.parent / "runs/small/report.json")]) == 1


def test_run_cli_json_and_out(pipeline_file, fake_stages, capsys):
    code = main(["run", str(pipeline_file), "-p", "small", "--out", "elsewhere", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is True and out["out_dir"] == "elsewhere"
    assert [s["status"] for s in out["steps"]] == ["ran"] * 6
    assert (pipeline_file.parent / "elsewhere/report.json").is_file()


def test_cli_help_lists_commands_without_heavy_imports():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from sropt.cli import main\n"
        "for args in (['--help'], ['run', '--help'], ['check', '--help'], ['baseline', 'update', '--help']):\n"
        "    assert main(args) == 0, args\n"
        "heavy = [m for m in ('tensorflow', 'onnxruntime', 'cv2', 'tf2onnx') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY=\n" in out.stdout
    for word in ("run", "check", "baseline", "--pipeline", "--force", "--junit", "--summary", "--baseline", "--to"):
        assert word in out.stdout


def test_sweep_removes_leftovers_of_dead_runs(tmp_path):
    cache = StageCache(tmp_path)
    dead = tmp_path / ".tmp-abc-999999999-1"
    live = tmp_path / f".tmp-def-{__import__('os').getpid()}-1"
    dead.mkdir()
    live.mkdir()
    assert cache.sweep_stale() == [dead]
    assert live.exists() and not dead.exists()


def test_run_folder_is_independent_of_the_cache(pipeline_file, fake_stages):
    """Issue 20 item 4: run artifacts used to be hard links into the cache; editing one edited the other."""
    import os

    from sropt.pipeline.cache import StageCache

    result = _run(pipeline_file)
    art = pipeline_file.parent / "runs/small/artifacts/model.prune.pb"
    record = next(s for s in result.steps if s.name == "prune")
    entry = StageCache().lookup(record.key)
    cached = entry.path / "model.prune.pb"
    before = art.read_bytes()
    assert cached.read_bytes() == before and os.stat(cached).st_ino != os.stat(art).st_ino
    cached.write_bytes(b"changed in the cache")
    assert art.read_bytes() == before
    art.write_bytes(b"changed in the run")
    assert cached.read_bytes() == b"changed in the cache"
