"""Accelerator facts of a .tflite in `sropt inspect`, a package's README/metadata and validation rows (issue 18)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny EDSR layout exported with dynamic H/W and at a fixed 12x20 with DepthToSpace as TRANSPOSE_CONV."""
    from sropt.convert.tflite_export import export_tflite
    from sropt.models.synth import write_synthetic_edsr

    folder = tmp_path_factory.mktemp("delegates")
    src = write_synthetic_edsr(folder / "edsr.pb", blocks=2, filters=16, scale=3, seed=1).path
    return {
        "dynamic": export_tflite(src, folder / "dynamic.tflite").path,
        "fixed": export_tflite(src, folder / "fixed.tflite", fixed_shape=(12, 20), depth_to_space="transpose_conv").path,
    }


def _op_counts(path: Path) -> dict[str, int]:
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    return dict(Counter(flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) for op in model.subgraphs[0].operators))


def test_describe_delegates(tiny_models: dict[str, Path]) -> None:
    from sropt.validate.delegate_notes import describe_delegates

    fixed = describe_delegates(tiny_models["fixed"])
    assert fixed["gpu"]["op_counts"] == dict(sorted(_op_counts(tiny_models["fixed"]).items()))
    assert "TRANSPOSE_CONV" in fixed["gpu"]["op_counts"] and "DEPTH_TO_SPACE" not in fixed["gpu"]["op_counts"]
    assert fixed["notes"][-1] == "input fixed at 12x20: a delegate compiles it once (an app tiles larger images)"
    cpu = fixed["compiled_model"]["cpu_vs_interpreter"]
    assert cpu == {"input_shape": [1, 12, 20, 3], "max_abs_diff": 0.0, "identical": True}
    assert [p["accelerators"] for p in fixed["compiled_model"]["accelerators"]] == ["CPU", "GPU", "GPU|CPU", "NPU", "NPU|CPU"]
    assert fixed["compiled_model"]["accelerators"][0]["compiled"] is True
    dynamic = describe_delegates(tiny_models["dynamic"])
    assert "has dynamic H/W" in dynamic["notes"][-1] and "tensorflow/tensorflow#38036" in dynamic["notes"][-1]
    assert dynamic["compiled_model"]["cpu_vs_interpreter"]["input_shape"] == [1, 13, 17, 3]


def test_inspect_and_package_show_them(tiny_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sropt.cli import main

    assert main(["inspect", str(tiny_models["fixed"]), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["delegates"]["gpu"]["ops_total"] == sum(_op_counts(tiny_models["fixed"]).values())
    assert main(["package", str(tiny_models["fixed"]), "-o", str(tmp_path / "pkg")]) == 0
    readme = (tmp_path / "pkg" / "README.md").read_text()
    assert "## Accelerators" in readme and "Replacing N out of M node(s) with delegate" in readme
    assert "--input_layer=lr_image --input_layer_shape=1,12,20,3 --use_gpu=true" in readme
    assert json.loads((tmp_path / "pkg" / "metadata.json").read_text())["delegates"]["gpu"] is not None


def test_validation_rows_carry_the_gpu_analysis(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    import cv2
    import numpy as np

    from sropt.validate import ValidationConfig, validate_artifacts

    hr = tmp_path / "HR"
    hr.mkdir()
    cv2.imwrite(str(hr / "a.png"), np.random.default_rng(0).integers(0, 256, (48, 60, 3), dtype=np.uint8))
    config = ValidationConfig(datasets=[hr], runtimes=["tflite"], repeats=1, warmup=0, bench_size=0, isolate=False)
    report = validate_artifacts([tiny_models["fixed"]], config)
    (row,) = [r for r in report.results if r.kind == "tflite"]
    assert row.gpu_delegate["op_counts"] == dict(sorted(_op_counts(tiny_models["fixed"]).items()))
    assert any(n.startswith("GPU delegate: all ") for n in row.notes)
    assert row.to_json()["gpu_delegate"] == row.gpu_delegate
