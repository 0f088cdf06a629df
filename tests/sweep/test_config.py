"""sweeps.yaml validation: every bad input is exit 2 before anything runs, naming the key and its line."""

from __future__ import annotations

import json

import pytest

from sropt.cli import main
from sropt.core.errors import ConfigError
from sropt.core.locations import PROJECT_ROOT
from sropt.pipeline.config import load_pipelines
from sropt.sweep.config import apply_overrides, expand_grid, json_schema, parse_sweeps, plan_sweep

HEAD = "version: 1\nsweeps:\n  s:\n    base: small\n"
GOAL = "    goal: {maximize: speed_up, subject_to: [{metric: psnr_drop, max: 0.3}]}\n"


def _plan(pipeline_file, text):
    file, raw = parse_sweeps(text, "sw.yaml")
    return plan_sweep(file, raw, "s", pipelines=load_pipelines(pipeline_file), file_name="sw.yaml")


def _error(pipeline_file, text) -> str:
    with pytest.raises(ConfigError) as info:
        _plan(pipeline_file, text)
    return str(info.value)


def test_grid_expands_first_key_slowest_and_overrides_replace_dotted_keys(pipeline_file):
    plan = _plan(pipeline_file, HEAD + "    grid:\n      prune.ratio: [0.25, 0.5]\n      prune.scope: [inner, all]\n" + GOAL)
    assert [p.overrides for p in plan.points] == [
        {"prune.ratio": 0.25, "prune.scope": "inner"}, {"prune.ratio": 0.25, "prune.scope": "all"},
        {"prune.ratio": 0.5, "prune.scope": "inner"}, {"prune.ratio": 0.5, "prune.scope": "all"},
    ]
    p = plan.points[3].pipeline
    assert (p.prune.ratio, p.prune.scope.value) == (0.5, "all")
    assert p.gates == [] and p.baseline is None  # the goal judges points, not the base's gates
    assert p.quantize.tflite[0].calib_count == 4  # untouched keys come from the base


def test_null_removes_a_stage_and_models_sets_model():
    base = {"model": "A", "prune": {"ratio": 0.25}, "gates": [{"metric": "psnr_y", "min": 1}]}
    assert apply_overrides(base, {"prune": None, "models": "B"}) == {"model": "B"}
    assert base["prune"] == {"ratio": 0.25}  # the base is not modified


def test_explicit_points_follow_the_grid(pipeline_file):
    file, _ = parse_sweeps(HEAD + "    grid: {prune.ratio: [0.25]}\n    points: [{prune: null}]\n" + GOAL, "sw.yaml")
    assert expand_grid(file.sweeps["s"]) == [{"prune.ratio": 0.25}, {"prune": None}]


def test_unknown_grid_key_names_key_line_and_suggestion(pipeline_file):
    msg = _error(pipeline_file, HEAD + "    grid:\n      prune.ratoi: [0.25]\n" + GOAL)
    assert "sw.yaml:6: sweep 's', grid key 'prune.ratoi': not a pipeline field; did you mean 'ratio'?" in msg
    assert "nothing was run" in msg


def test_wrong_value_type_is_reported_per_point_at_the_grid_key(pipeline_file):
    msg = _error(pipeline_file, HEAD + "    grid:\n      prune.ratio: [0.25, lots, 1.5]\n" + GOAL)
    assert "2 problem(s)" in msg
    assert "sw.yaml:6: sweep point prune.ratio='lots', grid key 'prune.ratio': stage 'prune', field 'ratio': Input should be a valid number" in msg
    assert "sweep point prune.ratio=1.5, grid key 'prune.ratio': stage 'prune', field 'ratio': Input should be less than 1" in msg


def test_empty_grid_and_no_grid_are_errors(pipeline_file):
    assert "sw.yaml:6: sweep 's', grid key 'prune.ratio': empty list of values" in _error(pipeline_file, HEAD + "    grid:\n      prune.ratio: []\n" + GOAL)
    assert "no grid and no points: nothing to sweep" in _error(pipeline_file, HEAD + GOAL)


def test_goal_metric_no_stage_produces(pipeline_file):
    msg = _error(pipeline_file, HEAD + "    grid:\n      validate.include_source: [false]\n" + GOAL)
    assert "field 'goal.maximize': goal metric 'speed_up' is measured against the source in OpenCV; set validate.include_source: true" in msg
    assert "field 'goal.subject_to.0.metric': goal metric 'psnr_drop'" in msg
    msg = _error(pipeline_file, HEAD + "    grid:\n      validate: [null]\n" + GOAL)
    assert "goal metric 'speed_up' but the pipeline has no validate stage" in msg
    msg = _error(pipeline_file, HEAD + "    grid: {prune.ratio: [0.25]}\n    goal: {maximize: speed, subject_to: []}\n")
    assert "sw.yaml" in msg and "goal.maximize" in msg and "'speed_up'" in msg


def test_cli_bad_sweep_is_exit_2_before_any_stage(sweep_file, fake_stages, capsys):
    sweep_file.write_text(sweep_file.read_text().replace("prune.ratio:", "prune.ratoi:"))
    assert main(["sweep", str(sweep_file), "-s", "grid4", "--out", str(sweep_file.parent / "out")]) == 2
    assert "grid key 'prune.ratoi': not a pipeline field" in capsys.readouterr().err
    assert fake_stages.calls == []


def test_committed_schema_is_current():
    committed = json.loads((PROJECT_ROOT / "sweeps.schema.json").read_text())
    assert committed == json_schema(), "regenerate with: python -m sropt.sweep.config > sweeps.schema.json"
