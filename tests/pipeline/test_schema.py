"""pipelines.yaml validation: exact messages with pipeline, stage, field and line; nothing runs on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sropt.cli import main
from sropt.core.errors import ConfigError
from sropt.core.locations import PROJECT_ROOT
from sropt.pipeline.config import load_pipelines, parse_pipelines
from sropt.pipeline.runner import run_pipeline
from sropt.pipeline.schema import Pipeline, json_schema


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_pipelines(text, "p.yaml")
    return str(info.value)


def test_yaml_syntax_error_names_file_and_line():
    msg = _error("pipelines:\n  a:\n    model: FSRCNN_x3\n    prune: {ratio: 0.2\n")
    assert msg.startswith("p.yaml:5:1: YAML syntax error: while parsing a flow mapping")
    assert "Fix the YAML at that line." in msg


def test_unknown_key_gets_suggestion_and_line():
    msg = _error("pipelines:\n  a:\n    model: FSRCNN_x3\n    prune:\n      ratio: 0.2\n      scop: inner\n")
    assert "p.yaml:6: pipeline 'a', stage 'prune': unknown key 'scop'; did you mean 'scope'?" in msg
    assert "(allowed: bias_compensation, calib, calib_count," in msg


def test_unknown_stage_key_suggests_stage():
    msg = _error("pipelines:\n  a:\n    model: FSRCNN_x3\n    quantise: {}\n")
    assert "p.yaml:4: pipeline 'a': unknown key 'quantise'; did you mean 'quantize'?" in msg


def test_wrong_type_and_enum_are_reported_together():
    msg = _error(
        "pipelines:\n"
        "  a:\n"
        "    model: FSRCNN_x3\n"
        "    prune: {ratio: lots}\n"
        "    quantize:\n"
        "      tflite:\n"
        "        - {mode: int9}\n"
        "  b:\n"
        "    model: ESPCN_x3\n"
        "    validate: {runtimes: [opencv, onnxruntime]}\n"
    )
    assert msg.startswith("p.yaml: 3 problem(s); nothing was run")
    assert "p.yaml:4: pipeline 'a', stage 'prune', field 'ratio': Input should be a valid number, unable to parse string as a number (got 'lots')" in msg
    assert "p.yaml:7: pipeline 'a', stage 'quantize', field 'tflite[0].mode': Input should be 'float32', 'fp16', 'dynamic', 'int8' or 'int16x8' (got 'int9')" in msg
    assert "p.yaml:10: pipeline 'b', stage 'validate', field 'runtimes[1]': Input should be 'tf', 'opencv', 'ort' or 'tflite' (got 'onnxruntime')" in msg


def test_gate_on_metric_no_stage_produces():
    msg = _error(
        "pipelines:\n"
        "  a:\n"
        "    model: FSRCNN_x3\n"
        "    validate: {datasets: [Set5]}\n"
        "    gates:\n"
        "      - {metric: psnr_y, min: 30}\n"
        "      - {metric: psnr_rgb, min: 30}\n"
        "  b:\n"
        "    model: FSRCNN_x3\n"
        "    gates:\n"
        "      - {metric: ssim_y, min: 0.8}\n"
    )
    assert "p.yaml:7: pipeline 'a', stage 'gates', field '[1].metric': gate on metric 'psnr_rgb' but validate.rgb is false; set rgb: true" in msg
    assert "p.yaml:11: pipeline 'b', stage 'gates', field '[0].metric': gate on metric 'ssim_y' but this pipeline has no validate stage; add one" in msg


def test_cross_stage_checks():
    msg = _error(
        "pipelines:\n"
        "  a:\n"
        "    model: FSRCNN_x3\n"
        "    quantize:\n"
        "      onnx: [{mode: int8}]\n"
        "    validate: {}\n"
        "    gates:\n"
        "      - {metric: psnr_y, max_drop: 0.3, artifacts: [quantize.tflite.*]}\n"
        "      - {metric: psnr_y, min: 30, max: 40}\n"
    )
    assert "p.yaml:5: pipeline 'a', stage 'quantize', field 'onnx': ONNX Runtime quantization needs an ONNX model; add export: {onnx: {}}" in msg or "give exactly one of min, max, max_drop, max_ratio, min_gain (got min, max)" in msg
    assert "p.yaml:9: pipeline 'a', stage 'gates', field '[1]': give exactly one of min, max, max_drop, max_ratio, min_gain (got min, max)" in msg
    # Fix the gate: the cross-stage problems appear, each on its own line.
    msg = _error(
        "pipelines:\n"
        "  a:\n"
        "    model: FSRCNN_x3\n"
        "    quantize:\n"
        "      onnx: [{mode: int8}]\n"
        "    validate: {}\n"
        "    gates:\n"
        "      - {metric: psnr_y, max_drop: 0.3, artifacts: [quantize.tflite.*]}\n"
    )
    assert "p.yaml:5: pipeline 'a', stage 'quantize', field 'onnx': ONNX Runtime quantization needs an ONNX model; add export: {onnx: {}}" in msg
    assert "p.yaml:8: pipeline 'a', stage 'gates', field '[0].artifacts[0]': pattern 'quantize.tflite.*' matches no artifact of this pipeline (source, quantize.onnx.int8)" in msg


def test_gate_patterns_name_artifact_files_as_the_steps_write_them():
    text = (
        "pipelines:\n"
        "  a:\n"
        "    model: FSRCNN_x3\n"
        "    export: {onnx: {}}\n"
        "    validate: {}\n"
        "    gates:\n"
        "      - {metric: psnr_y, max_drop: 0.3, artifacts: [FSRCNN_x3.export.onnx, FSRCNN_x3.pb]}\n"
    )
    assert parse_pipelines(text).file.pipelines["a"].gates[0].artifacts == ["FSRCNN_x3.export.onnx", "FSRCNN_x3.pb"]
    # The doubled extension of the old file name (issue 19) names nothing any more.
    msg = _error(text.replace("FSRCNN_x3.export.onnx,", "FSRCNN_x3.export.onnx.onnx,"))
    assert "pattern 'FSRCNN_x3.export.onnx.onnx' matches no artifact of this pipeline (source, export.onnx)" in msg


def test_defaults_merge_and_anchors():
    cfg = parse_pipelines(
        "defaults:\n"
        "  validate: {datasets: [Set5, Set14], repeats: 2}\n"
        "x-q: &q\n"
        "  tflite: [{mode: int8, calib_count: 4}]\n"
        "pipelines:\n"
        "  a:\n"
        "    model: FSRCNN_x3\n"
        "    quantize: *q\n"
        "    validate: {repeats: 5}\n"
        "  b:\n"
        "    model: ESPCN_x3\n"
        "    quantize:\n"
        "      <<: *q\n"
        "      onnx: []\n"
    )
    a, b = cfg.file.pipelines["a"], cfg.file.pipelines["b"]
    assert a.validate_.datasets == ["Set5", "Set14"] and a.validate_.repeats == 5
    assert b.validate_.repeats == 2
    assert a.quantize.tflite[0].calib_count == 4 and b.quantize.tflite[0].calib_count == 4


def test_error_in_defaults_points_at_defaults_line_once():
    msg = _error(
        "defaults:\n"
        "  validate: {degradation: bicubic}\n"
        "pipelines:\n"
        "  a: {model: FSRCNN_x3}\n"
        "  b: {model: ESPCN_x3}\n"
    )
    assert msg.count("p.yaml:2:") == 2  # once per pipeline that inherits it, each naming its pipeline
    assert "p.yaml:2: pipeline 'a', stage 'validate', field 'degradation': Input should be 'matlab-bicubic', 'opencv-cubic' or 'opencv-area' (got 'bicubic')" in msg


def test_duplicate_key_is_an_error():
    msg = _error("pipelines:\n  a:\n    model: FSRCNN_x3\n    model: ESPCN_x3\n")
    assert "line 4: duplicate key 'model' (first at line 3); remove one of them" in msg


def test_unknown_pipeline_name_suggests(pipeline_file):
    cfg = load_pipelines(pipeline_file)
    with pytest.raises(ConfigError, match=r"no pipeline named 'smal'\. Did you mean 'small'\? Defined pipelines: small\."):
        cfg.select("smal")


def _previous_run(workdir: Path) -> Path:
    run = workdir / "runs/small"
    run.mkdir(parents=True)
    (run / "report.json").write_text('{"keep": true}')
    return run / "report.json"


def test_missing_dataset_runs_nothing_and_keeps_previous_run(pipeline_file, fake_stages, workdir, capsys):
    keep = _previous_run(workdir)
    pipeline_file.write_text(pipeline_file.read_text().replace("datasets: [Set5]", "datasets: [Set5, Urban100]"))
    code = main(["run", str(pipeline_file), "-p", "small"])
    assert code == 2
    err = capsys.readouterr().err
    assert (
        f"{pipeline_file}:4: pipeline 'small', field 'validate.datasets': dataset 'Urban100' not found at {workdir / 'datasets/Urban100'}. "
        "Set SROPT_DATASETS_DIR to the folder holding it, or give a path." in err
    )
    assert fake_stages.calls == []
    assert keep.read_text() == '{"keep": true}'


def test_output_folder_that_is_a_file(pipeline_file, fake_stages, workdir):
    target = workdir / "out.txt"
    target.write_text("precious")
    with pytest.raises(ConfigError, match=r"output folder out\.txt is a file\. Remove it or choose another folder \(--out DIR\)"):
        run_pipeline(load_pipelines(pipeline_file), "small", out=Path("out.txt"))
    assert target.read_text() == "precious" and fake_stages.calls == []


def test_bad_yaml_via_cli_exits_2_and_runs_nothing(pipeline_file, fake_stages, workdir, capsys):
    keep = _previous_run(workdir)
    pipeline_file.write_text(pipeline_file.read_text().replace("ratio: 0.25", "ratio: 0.25, ratoi: 1"))
    assert main(["run", str(pipeline_file), "-p", "small"]) == 2
    assert "unknown key 'ratoi'; did you mean 'ratio'?" in capsys.readouterr().err
    assert fake_stages.calls == [] and keep.read_text() == '{"keep": true}'


def test_missing_model_path_and_unobtainable_registry_model(pipeline_file, fake_stages, workdir, monkeypatch):
    pipeline_file.write_text(pipeline_file.read_text().replace("./model.pb", "./nope.pb"))
    with pytest.raises(ConfigError, match=r"pipelines\.yaml:9: pipeline 'small', field 'model': model file .*nope\.pb not found\. Fix the path or use --model PATH"):
        run_pipeline(load_pipelines(pipeline_file), "small")
    pipeline_file.write_text(pipeline_file.read_text().replace("./nope.pb", "EDSR_x3"))
    monkeypatch.setenv("SROPT_MODEL_MIRROR", str(workdir / "empty-mirror"))
    (workdir / "empty-mirror").mkdir()
    from sropt.core.errors import FetchError

    with pytest.raises(FetchError) as info:
        run_pipeline(load_pipelines(pipeline_file), "small")
    msg = str(info.value)
    assert "model 'EDSR_x3' is not in the cache and could not be obtained" in msg
    assert "set SROPT_MODEL_MIRROR to a folder (or URL) holding EDSR_x3.pb; pass the file with --model PATH; or download it once with `sropt models fetch EDSR_x3`" in msg
    assert fake_stages.calls == []
    # --model replaces the registry model.
    result = run_pipeline(load_pipelines(pipeline_file), "small", model=workdir / "model.pb")
    assert result.steps[0].status == "ran"


def test_shipped_pipelines_file_is_valid():
    cfg = load_pipelines(PROJECT_ROOT / "pipelines.yaml")
    names = set(cfg.file.pipelines)
    assert {"edsr_x3_mobile", "edsr_x3_ci", "espcn_x3", "lapsrn_x4"} <= names
    assert cfg.select(None)[0] == "edsr_x3_mobile"
    mobile = cfg.file.pipelines["edsr_x3_mobile"]
    assert mobile.model == "EDSR_x3" and mobile.prune.scope.value == "inner"
    assert mobile.step_names() == ["source", "prune", "export.onnx", "quantize.tflite.int8", "quantize.onnx.int8", "validate"]
    assert mobile.validate_.datasets == ["Set5", "Set14"]
    assert [r.value for r in mobile.validate_.runtimes] == ["opencv", "ort", "tflite"]
    ci = cfg.file.pipelines["edsr_x3_ci"]
    assert ci.validate_.datasets == [str(PROJECT_ROOT / "models/bundled/datasets/Set5")] and ci.quantize.tflite[0].calib_count <= 16
    assert ci.baseline == "baselines/edsr_x3_ci.json" and (PROJECT_ROOT / ci.baseline).is_file()
    families = {p.model.split("_")[0].split("-")[0] for p in cfg.file.pipelines.values()}
    assert families == {"EDSR", "ESPCN", "FSRCNN", "LapSRN"}
    # Datasets are bare names (resolved through SROPT_DATASETS_DIR) or the
    # bundled copies given relative to the file (anchored there at load); the file holds no absolute path.
    for p in cfg.file.pipelines.values():
        refs = list(p.validate_.datasets) + [t.calib for t in p.quantize.tflite] + [o.calib for o in p.quantize.onnx]
        assert all("/" not in r or r.startswith(str(PROJECT_ROOT / "models/bundled/datasets")) for r in refs), refs
    # Issue 14: every shipped pipeline requires every artifact to beat bicubic
    # on every dataset, at least in the runtime the artifact is made for.
    import fnmatch

    def own_runtime(step: str) -> str:
        return "tflite" if ".tflite." in step else "ort" if step.startswith(("export.onnx", "quantize.onnx")) else "opencv"

    for name, p in cfg.file.pipelines.items():
        beat = [g for g in p.gates if g.against.value == "bicubic" and g.kind == "min_gain" and g.bound >= 0.0 and g.datasets is None]
        for step in p.step_names():
            if step == "validate":
                continue
            assert any(
                any(fnmatch.fnmatchcase(step, pat) for pat in g.artifacts)
                and (g.runtimes is None or own_runtime(step) in {r.value for r in g.runtimes})
                for g in beat
            ), (name, step)
    assert "/work" not in (PROJECT_ROOT / "pipelines.yaml").read_text()


def test_committed_json_schema_matches_models():
    committed = json.loads((PROJECT_ROOT / "pipelines.schema.json").read_text())
    assert committed == json_schema(), "regenerate with: python -m sropt.pipeline.schema > pipelines.schema.json"


def test_python_built_pipeline_runs_cross_checks():
    with pytest.raises(ValueError, match=r"gates\.0\.metric: gate on metric 'psnr_y' but this pipeline has no validate stage"):
        Pipeline.model_validate({"model": "FSRCNN_x3", "gates": [{"metric": "psnr_y", "min": 30}]})


def test_null_in_pipeline_removes_inherited_stage():
    cfg = parse_pipelines("defaults:\n  validate: {datasets: [Set5]}\npipelines:\n  a: {model: FSRCNN_x3, validate: null}\n")
    assert cfg.file.pipelines["a"].validate_ is None


def test_ci_example_workflow_runs_the_gate():
    wf = yaml.safe_load((PROJECT_ROOT / "docs/ci-example.yml").read_text())
    steps = wf["jobs"]["quality-gate"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "sropt run pipelines.yaml --pipeline edsr_x3_ci" in runs
    assert "sropt check runs/ci/report.json" in runs and "--baseline" in runs and "--junit" in runs
    assert "pull_request" in wf[True]  # PyYAML reads the bare key `on` as True


def _registered_names(decorator: str) -> list[str]:
    """Names passed to ``@decorator("name")`` anywhere in the package source, read with ast (nothing imported)."""
    import ast

    names = []
    for folder in ("core", "convert", "models", "validate", "prune", "quantize", "sropt"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == decorator and node.args:
                    names.append(node.args[0].value)
    return names


def test_schema_enums_are_the_validate_registries():
    """Runtime and Degradation list exactly what the source registers, in the JSON schema too (a new one fails here)."""
    from sropt.pipeline.schema import Degradation, Runtime, ValidateStage
    from sropt.validate.degradation import DEGRADATIONS
    from sropt.validate.runners import BUILTIN_RUNTIMES

    runtimes, degradations = [m.value for m in Runtime], [m.value for m in Degradation]
    assert sorted(runtimes) == sorted(_registered_names("register_runner")) == ["opencv", "ort", "tf", "tflite"]
    assert runtimes == list(BUILTIN_RUNTIMES)
    assert sorted(degradations) == sorted(_registered_names("register_degradation")) == ["matlab-bicubic", "opencv-area", "opencv-cubic"]
    assert degradations == list(DEGRADATIONS)
    defs = json.loads((PROJECT_ROOT / "pipelines.schema.json").read_text())["$defs"]
    assert defs["Runtime"]["enum"] == runtimes and defs["Degradation"]["enum"] == degradations
    for name in degradations:
        assert ValidateStage(degradation=name).degradation.value == name
    with pytest.raises(ValueError, match="matlab-bicubic"):
        ValidateStage(degradation="lanczos")


def test_bias_compensation_false_is_the_deprecated_spelling_of_compensation_none():
    from sropt.pipeline.schema import PruneStage
    from sropt.prune.config import Compensation

    old, new = PruneStage(ratio=0.25, bias_compensation=False), PruneStage(ratio=0.25, compensation="none")
    assert old.compensation is Compensation.NONE
    # Both spellings give one cache key and one resolved.yaml, which name compensation only.
    assert old.model_dump(mode="json") == new.model_dump(mode="json")
    assert "bias_compensation" not in new.model_dump() and new.model_dump()["compensation"] is Compensation.NONE
    assert PruneStage(ratio=0.25, bias_compensation=True, compensation="mean").compensation is Compensation.MEAN
    assert PruneStage(ratio=0.25, bias_compensation=True).compensation is Compensation.LSTSQ
    msg = _error("pipelines:\n  a:\n    model: FSRCNN_x3\n    prune: {ratio: 0.2, bias_compensation: false, compensation: mean}\n")
    assert "p.yaml:4: pipeline 'a', stage 'prune': bias_compensation: false contradicts compensation: mean" in msg
