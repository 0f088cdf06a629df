"""pipelines.yaml: fixed_shape and depth_to_space on TFLite targets, and the gpu_compatible gate (issue 18 item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from sropt.cli import main
from sropt.pipeline.gates import GateStatus, evaluate_gates
from sropt.pipeline.schema import Gate, Pipeline, TFLiteTarget


@pytest.mark.parametrize("value", ["0x8", "8x0", "-1x8", "abc", "128", "12.5x8"])
def test_bad_fixed_shape_is_refused_with_the_field(value: str) -> None:
    with pytest.raises(ValidationError, match=rf"fixed_shape '{value}': give the input height and width as two positive integers"):
        TFLiteTarget(mode="int8", fixed_shape=value)


def test_fixed_shape_read_by_yaml_as_a_number_is_named() -> None:
    with pytest.raises(ValidationError, match="fixed_shape 8 is a number; give HxW as text"):
        TFLiteTarget(mode="int8", fixed_shape=8)  # what YAML makes of `fixed_shape: 0x8`


@pytest.mark.shared
def test_fixed_shape_the_model_cannot_take_stops_the_run_before_any_step(tmp_path: Path, shared_models: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    shutil.copy(shared_models / "ESPCN_x3.pb", tmp_path / "m.pb")
    (tmp_path / "p.yaml").write_text("version: 1\npipelines:\n  big:\n    model: m.pb\n    quantize:\n      tflite:\n"
                                     "        - {mode: int8, fixed_shape: 40000x40000}\n")
    assert main(["run", str(tmp_path / "p.yaml"), "--pipeline", "big", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "p.yaml:7" in err and "field 'tflite[0].fixed_shape': fixed_shape 40000x40000: running the model" in err
    assert not (tmp_path / "run").exists()


def test_fixed_shape_and_depth_to_space_rules_and_names() -> None:
    assert TFLiteTarget(mode="int8", fixed_shape=" 128X96 ").fixed_shape == "128x96"
    target = TFLiteTarget(mode="int8", io="uint8", fixed_shape="128x128", depth_to_space="transpose_conv")
    assert target.step_name == "quantize.tflite.int8-iouint8-128x128-d2s-tconv"
    assert TFLiteTarget(mode="int8", io="uint8").step_name == "quantize.tflite.int8-iouint8"  # unchanged names
    with pytest.raises(ValidationError, match="transpose_conv needs fixed_shape"):
        TFLiteTarget(mode="int8", depth_to_space="transpose_conv")
    with pytest.raises(ValidationError, match="fixed_shape cannot be combined with qat or max_psnr_drop"):
        TFLiteTarget(mode="int8", fixed_shape="64x64", max_psnr_drop=0.1)


def test_fixed_shape_reaches_the_stage_and_the_cache_key() -> None:
    from sropt.pipeline.stage_calls import _quantize_config
    from sropt.pipeline.steps import plan_steps

    target = TFLiteTarget(mode="int8", io="uint8", fixed_shape="128x96", depth_to_space="transpose_conv")
    config = _quantize_config(target, "tflite")
    assert config.fixed_shape == (128, 96) and config.depth_to_space == "transpose_conv"
    pipeline = Pipeline(model="FSRCNN_x3", quantize={"tflite": [{"mode": "int8"}, {"mode": "int8", "fixed_shape": "128x96"}]})
    (plain, fixed) = [s for s in plan_steps(pipeline) if s.kind == "quantize.tflite"]
    assert plain.key_config["fixed_shape"] is None and fixed.key_config["fixed_shape"] == "128x96"
    assert plain.name != fixed.name


def test_gpu_gate_schema() -> None:
    gate = Gate(gpu_compatible=True, artifacts=["quantize.tflite.*"])
    assert (gate.label, gate.kind, gate.relative) == ("gpu_compatible", "gpu_compatible", False)
    with pytest.raises(ValidationError, match="gpu_compatible: false checks nothing"):
        Gate(gpu_compatible=False)
    with pytest.raises(ValidationError, match="gpu_compatible takes no metric"):
        Gate(gpu_compatible=True, metric="psnr_y")
    with pytest.raises(ValidationError, match="give the metric the gate bounds"):
        Gate(min=30.0)
    with pytest.raises(ValidationError, match="gpu_compatible checks .tflite artifacts"):
        Pipeline(model="FSRCNN_x3", validate={}, gates=[{"gpu_compatible": True}])


def _gpu(verified: bool, unsupported: list[dict]) -> dict:
    summary = f"{len(unsupported)} of 10 ops not GPU-compatible" if unsupported else "all 10 ops GPU-compatible"
    return {"compatible": not unsupported, "verified": verified, "unsupported": unsupported, "summary": summary}


def _report(gpu: dict | None) -> dict:
    row = {"artifact": "artifacts/m.quantize.tflite.int8.tflite", "stage": "quantize.tflite.int8", "kind": "tflite",
           "runtime": "tflite", "dataset": "Set5", "psnr_y": 30.0, "images": []}
    if gpu is not None:
        row["gpu_delegate"] = gpu
    onnx = {"artifact": "artifacts/m.export.onnx.onnx", "stage": "export.onnx", "kind": "onnx", "runtime": "ort",
            "dataset": "Set5", "psnr_y": 30.5, "images": []}
    return {"schema_version": "1.0", "results": [row, dict(row, dataset="Set14"), onnx]}


def test_gpu_gate_passes_fails_naming_ops_or_errors() -> None:
    gate = Gate(gpu_compatible=True)
    (ok,) = evaluate_gates([gate], _report(_gpu(True, [])))  # one result per file, not per dataset row
    assert ok.status is GateStatus.PASS and ok.stage == "quantize.tflite.int8"
    flagged = [{"op": "Op#3 TOPK_V2", "reason": "Not supported op TOPK_V2"}, {"op": "Op#5 CUSTOM_X", "reason": ""}]
    (bad,) = evaluate_gates([gate], _report(_gpu(True, flagged)))
    assert bad.status is GateStatus.FAIL
    assert bad.message == "not GPU-compatible: Op#3 TOPK_V2 (Not supported op TOPK_V2), Op#5 CUSTOM_X"
    (unverified,) = evaluate_gates([gate], _report(_gpu(False, [])))
    assert unverified.status is GateStatus.ERROR and unverified.message.startswith("cannot tell:")
    (missing,) = evaluate_gates([gate], _report(None))
    assert missing.status is GateStatus.ERROR
    (none,) = evaluate_gates([Gate(gpu_compatible=True, artifacts=["export.*"])], _report(_gpu(True, [])))
    assert none.status is GateStatus.ERROR and "matched no .tflite rows" in none.message


def test_failing_gpu_gate_exits_1_naming_the_ops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    flagged = [{"op": "Op#3 TOPK_V2", "reason": "Not supported op TOPK_V2"}]
    data = _report(_gpu(True, flagged))
    data["pipeline"] = {"name": "hand", "model_sha256": "ab" * 32, "gates": [{"gpu_compatible": True}]}
    report.write_text(json.dumps(data))
    assert main(["check", str(report)]) == 1
    out = capsys.readouterr()
    assert "fail: not GPU-compatible: Op#3 TOPK_V2 (Not supported op TOPK_V2)" in out.out + out.err


def test_gpu_gate_decides_on_validated_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Validation rows carry the ported rules' verdicts (this stack's analyzer flags nothing), so the gate
    passes sropt's fixed-shape TRANSPOSE_CONV export and fails a graph the C++ refuses, naming its ops."""
    import cv2
    import numpy as np

    from sropt.convert.tflite_export import export_tflite
    from sropt.models.synth import write_synthetic_edsr
    from sropt.validate import ValidationConfig, validate_artifacts
    from tests.convert.test_tflite_gpu import SHAPE_SLICE_REFUSED, shape_slice_model

    src = write_synthetic_edsr(tmp_path / "edsr.pb", blocks=2, filters=16, scale=3, seed=1).path
    taken = export_tflite(src, tmp_path / "taken.tflite", fixed_shape=(12, 20), depth_to_space="transpose_conv").path
    refused = tmp_path / "refused.tflite"
    refused.write_bytes(shape_slice_model())
    (tmp_path / "HR").mkdir()
    cv2.imwrite(str(tmp_path / "HR" / "a.png"), np.random.default_rng(0).integers(0, 256, (72, 120, 3), dtype=np.uint8))
    config = ValidationConfig(datasets=[tmp_path / "HR"], runtimes=["tflite"], repeats=1, warmup=0, bench_size=0,
                              isolate=False)
    report = validate_artifacts([taken, refused], config).to_json()
    results = {Path(r.artifact).name: r for r in evaluate_gates([Gate(gpu_compatible=True)], report)}
    assert results["taken.tflite"].status is GateStatus.PASS
    assert results["taken.tflite"].message.startswith("all ") and "per ported gpu_compatibility.cc rules" in \
        results["taken.tflite"].message
    assert results["refused.tflite"].status is GateStatus.FAIL
    assert results["refused.tflite"].message == "not GPU-compatible: " + ", ".join(
        f"{op} ({reason})" for op, reason in SHAPE_SLICE_REFUSED)
    report["pipeline"] = {"name": "hand", "model_sha256": "ab" * 32, "gates": [{"gpu_compatible": True}]}
    (tmp_path / "report.json").write_text(json.dumps(report))
    assert main(["check", str(tmp_path / "report.json")]) == 1
    out = capsys.readouterr()
    assert "fail: not GPU-compatible: Op#1 SHAPE (Not supported op SHAPE)" in out.out + out.err
