"""The local engine on fake stages: every point is a pipeline run, shared prefixes are built once, failures are recorded."""

from __future__ import annotations

import json

from sropt.sweep.config import load_sweeps, plan_sweep
from sropt.sweep.engines import LocalEngine
from sropt.sweep.runner import run_sweep


def _plan(sweep_file, name="grid4"):
    file, raw, path = load_sweeps(sweep_file)
    return plan_sweep(file, raw, name, path=path)


def test_grid_of_four_points_builds_each_shared_prefix_once(sweep_file, fake_stages):
    result = run_sweep(_plan(sweep_file), sweep_file.parent / "out", LocalEngine(jobs=1))
    points = result["points"]
    assert [p["overrides"] for p in points] == [
        {"prune.ratio": 0.25, "quantize.tflite": [{"mode": "int8", "calib_count": 4}]},
        {"prune.ratio": 0.25, "quantize.tflite": [{"mode": "fp16"}]},
        {"prune.ratio": 0.5, "quantize.tflite": [{"mode": "int8", "calib_count": 4}]},
        {"prune.ratio": 0.5, "quantize.tflite": [{"mode": "fp16"}]},
    ]
    status = [{s["name"]: s["status"] for s in p["steps"]} for p in points]
    # source: built by the first point only; each prune ratio (and its ONNX export
    # and ORT INT8) by the first point that has it; every tflite target and validate once per point.
    assert [s["source"] for s in status] == ["ran", "cached", "cached", "cached"]
    assert [s["prune"] for s in status] == ["ran", "cached", "ran", "cached"]
    assert [s["export.onnx"] for s in status] == ["ran", "cached", "ran", "cached"]
    assert [s["quantize.onnx.int8"] for s in status] == ["ran", "cached", "ran", "cached"]
    assert fake_stages.calls.count("source") == 1
    assert fake_stages.calls.count("prune") == 2
    assert fake_stages.calls.count("validate") == 4
    assert all(p["status"] == "ok" for p in points)
    saved = json.loads((sweep_file.parent / "out/sweep.json").read_text())
    assert saved["points"][3]["id"] == "grid4_p03"


def test_rerun_resumes_from_cache(sweep_file, fake_stages):
    run_sweep(_plan(sweep_file), sweep_file.parent / "out", LocalEngine(jobs=1))
    fake_stages.calls.clear()
    again = run_sweep(_plan(sweep_file), sweep_file.parent / "out", LocalEngine(jobs=1))
    assert fake_stages.calls == []
    assert {s["status"] for p in again["points"] for s in p["steps"]} == {"cached"}


def test_a_failing_point_is_recorded_and_the_sweep_goes_on(sweep_file, fake_stages):
    fake_stages.fail_on = "quantize.tflite.fp16"
    result = run_sweep(_plan(sweep_file), sweep_file.parent / "out", LocalEngine(jobs=1))
    status = [(p["id"], p["status"], p["error_class"]) for p in result["points"]]
    assert status == [("grid4_p00", "ok", None), ("grid4_p01", "failed", "StageError"),
                      ("grid4_p02", "ok", None), ("grid4_p03", "failed", "StageError")]
    assert "step 'quantize.tflite.fp16' failed: RuntimeError: simulated crash" in result["points"][1]["error"]
    assert result["points"][1]["exit_code"] == 4 and result["points"][1]["candidates"] == []
    assert "## Failed points" in (sweep_file.parent / "out/sweep.md").read_text()


def test_two_jobs_build_in_parallel_then_measure_one_at_a_time(sweep_file, fake_stages):
    events = []
    result = run_sweep(_plan(sweep_file), sweep_file.parent / "out", LocalEngine(jobs=2),
                       on_start=lambda pid, phase: events.append(("start", phase, pid)),
                       on_done=lambda o: events.append(("done", o.phase, o.id)))
    builds = [e for e in events if e[1] == "build"]
    measures = [e for e in events if e[1] == "measure"]
    assert len(builds) == 8 and events[:8] == builds  # every build finished before the first measure started
    # Measures strictly one after another: start p, done p, start next, ...
    assert measures == [(k, "measure", f"grid4_p0{i}") for i in range(4) for k in ("start", "done")]
    steps = [{s["name"]: s["status"] for s in p["steps"]} for p in result["points"]]
    assert all(s["validate"] == "ran" for s in steps)
    # The source task built the source for p00; each point's own tflite target was built in a worker.
    assert [s["source"] for s in steps] == ["ran", "cached", "cached", "cached"]
    assert [s["prune"] for s in steps] == ["ran", "cached", "ran", "cached"]
    assert [s["quantize.tflite.int8" if i % 2 == 0 else "quantize.tflite.fp16"] for i, s in enumerate(steps)] == ["ran"] * 4
    assert [p["status"] for p in result["points"]] == ["ok"] * 4


def test_generated_pipelines_file_reproduces_a_point_from_the_cache(sweep_file, fake_stages):
    from sropt.pipeline.config import load_pipelines
    from sropt.pipeline.runner import run_pipeline

    result = run_sweep(_plan(sweep_file), sweep_file.parent / "out", LocalEngine(jobs=1))
    winner = result["winners"]["overall"]
    assert winner["command"] == f"sropt run {sweep_file.parent / 'out/sweep.pipelines.yaml'} -p {winner['point']}"
    fake_stages.calls.clear()
    again = run_pipeline(load_pipelines(sweep_file.parent / "out/sweep.pipelines.yaml"), winner["point"], out=sweep_file.parent / "again")
    assert [s.status for s in again.steps] == ["cached"] * len(again.steps)
    assert fake_stages.calls == []


def test_build_plan_waits_for_the_first_builder_of_each_shared_step(sweep_file):
    from sropt.sweep.engines import build_plan

    plan = _plan(sweep_file)
    build, deps = build_plan([(plan.point_config(p), p.id, sweep_file.parent / p.id) for p in plan.points])
    assert [(pid, phase) for _, pid, _, phase in build] == [("grid4_p00", "source")] + [(f"grid4_p0{i}", "build") for i in range(4)]
    # p01 shares prune 0.25 (and its export, ORT INT8) with p00; p03 shares prune 0.5 with p02; everyone shares the source.
    assert deps == {"grid4_p00.source": set(), "grid4_p00": {"grid4_p00.source"}, "grid4_p01": {"grid4_p00.source", "grid4_p00"},
                    "grid4_p02": {"grid4_p00.source"}, "grid4_p03": {"grid4_p00.source", "grid4_p02"}}


def test_a_worker_killed_mid_task_is_retried_and_the_sweep_finishes(sweep_file, fake_stages, monkeypatch):
    import os
    import signal

    marker = sweep_file.parent / "killed-once"
    real_prune = fake_stages.prune

    def prune_killing_its_worker_once(ctx):
        if ctx.config.ratio == 0.5 and not marker.exists():
            marker.write_text("")
            os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
        return real_prune(ctx)

    table = fake_stages.table()
    table["prune"] = prune_killing_its_worker_once
    monkeypatch.setattr("sropt.pipeline.steps.ADAPTERS", table)
    result = run_sweep(_plan(sweep_file), sweep_file.parent / "out", LocalEngine(jobs=2))
    assert marker.exists()
    assert [p["status"] for p in result["points"]] == ["ok"] * 4
    # p02 builds prune 0.5 first; its worker died and the task ran again. Nobody else was retried.
    assert [p["retries"] for p in result["points"]] == [0, 0, 1, 0]
    assert all(len(p["candidates"]) == 7 for p in result["points"])


def test_a_worker_killed_every_time_fails_its_point_only(sweep_file, fake_stages, monkeypatch):
    import os
    import signal

    real_prune = fake_stages.prune

    def prune_always_killed(ctx):
        if ctx.config.ratio == 0.5:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_prune(ctx)

    table = fake_stages.table()
    table["prune"] = prune_always_killed
    monkeypatch.setattr("sropt.pipeline.steps.ADAPTERS", table)
    result = run_sweep(_plan(sweep_file), sweep_file.parent / "out", LocalEngine(jobs=2, max_retries=1))
    status = {p["id"]: (p["status"], p["error_class"]) for p in result["points"]}
    assert status["grid4_p02"] == ("failed", "WorkerLost") and status["grid4_p03"][0] == "failed"
    assert status["grid4_p00"] == ("ok", None) and status["grid4_p01"] == ("ok", None)
    assert "worker process died 2 times (killed by signal 9; killed or out of memory)" in result["points"][2]["error"]


def test_cli_runs_the_sweep_and_prints_json(sweep_file, fake_stages, capsys):
    from sropt.cli import main

    out = sweep_file.parent / "cli-out"
    assert main(["sweep", str(sweep_file), "--jobs", "2", "--out", str(out), "--json"]) == 0  # the file's only sweep
    printed = json.loads(capsys.readouterr().out)
    assert printed["out_dir"] == str(out)
    assert [p["status"] for p in printed["points"]] == ["ok"] * 4
    assert printed["winners"]["overall"]["command"] == f"sropt run {out / 'sweep.pipelines.yaml'} -p grid4_p00"
    assert sorted(f.name for f in out.iterdir()) == ["points", "sweep.html", "sweep.json", "sweep.md", "sweep.pipelines.yaml"]
