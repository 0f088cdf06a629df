"""Smoke tests of the benchmark scripts: argument parsing, derived figures, result JSON schema.

Performance itself is never asserted here (DEVELOPING.md: no timed
assertions); the benchmarks measure it. One end-to-end run uses a
one-block, 8-filter EDSR at 16x16 so it finishes in seconds.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from sropt.core.locations import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT))  # benchmarks/ is a folder of scripts, importable from the project root

from benchmarks import frontier, ort_profile, pipeline_time, runtime_matrix, tuning  # noqa: E402
from benchmarks.cells import agreement_db  # noqa: E402
from benchmarks.machine_peak import fraction_of_peak  # noqa: E402


def test_quick_sets_defaults_but_explicit_flags_win():
    args = runtime_matrix.parse_args(["--quick"])
    assert (args.sizes, args.ratios, args.repeats, args.tflite_modes) == ([128], [0.25], 3, ["float32", "int8"])
    args = runtime_matrix.parse_args(["--quick", "--sizes", "64,256", "--repeats", "7"])
    assert (args.sizes, args.repeats) == ([64, 256], 7)
    assert runtime_matrix.parse_args(["--sizes", "64,128,256"]).sizes == [64, 128, 256]


@pytest.mark.parametrize("argv, message", [
    (["--variants", "ort,nosuch"], "--variants: unknown nosuch"),
    (["--sizes", "4"], "--sizes: give input sides >= 8"),
    (["--ratios", "1.5"], "--ratios: each ratio must be in (0, 1)"),
    (["--tflite-modes", "int4"], "--tflite-modes: unknown int4"),
])
def test_bad_arguments_exit_2_naming_the_flag(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        runtime_matrix.parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_other_scripts_parse_and_reject():
    assert frontier.parse_args(["--ratios", "0.25,0.5"]).ratios == [0.25, 0.5]
    assert tuning.parse_args(["--only", "qdq,layout"]).only == ["qdq", "layout"]
    with pytest.raises(SystemExit):
        tuning.parse_args(["--only", "nosuch"])
    with pytest.raises(SystemExit):
        pipeline_time.parse_args(["--model", "m.pb", "--runs", "0"])
    with pytest.raises(SystemExit):
        pipeline_time.parse_args(["--model", "m.pb", "--set", "finetune_steps=0"])


def test_fraction_of_peak_and_agreement_goldens():
    # 1e6 MACs/px x 100x100 px in 10 ms = 1000 GMAC/s; against a 1000 GMAC/s peak -> 1.0.
    assert fraction_of_peak(1_000_000, 100, 10.0, 1000.0) == 1.0
    assert fraction_of_peak(0, 100, 10.0, 1000.0) is None
    ref = np.zeros((1, 4, 6, 3), np.float32)
    # Off by 1 everywhere on a 0..255 scale: 10*log10(255^2) = 48.13 dB.
    assert agreement_db(ref + 1, ref, 255.0) == pytest.approx(48.13, abs=0.01)
    assert agreement_db(ref, ref, 255.0) == "identical"
    assert agreement_db(ref[:, :2], ref, 255.0) is None


def test_derived_pipelines_overrides_only_validate(tmp_path):
    import yaml

    args = pipeline_time.parse_args(["--model", "m.pb", "--validate-datasets", "Set5", "--validate-repeats", "1",
                                     "--set", "prune.finetune_steps=0"])
    changes = pipeline_time.overrides(args)
    assert changes == {"prune": {"finetune_steps": 0}, "validate": {"datasets": ["Set5"], "repeats": 1}}
    dest = pipeline_time.derived_pipelines(PROJECT_ROOT / "pipelines.yaml", "edsr_x3_mobile", changes, tmp_path / "p.yaml")
    doc = yaml.safe_load(dest.read_text())
    original = yaml.safe_load((PROJECT_ROOT / "pipelines.yaml").read_text())
    got, want = doc["pipelines"]["edsr_x3_mobile"], original["pipelines"]["edsr_x3_mobile"]
    assert got["validate"]["datasets"] == ["Set5"] and got["validate"]["repeats"] == 1
    assert got["prune"] == {**want["prune"], "finetune_steps": 0} and got["quantize"] == want["quantize"]


@pytest.mark.shared
def test_matrix_end_to_end_json_schema(tmp_path, datasets):
    """A one-block EDSR through build + cells; the JSON has every field and consistent derived numbers."""
    argv = ["--models", "edsr", "--blocks", "1", "--filters", "8", "--sizes", "16", "--repeats", "1",
            "--ratios", "", "--tflite-modes", "", "--variants", "opencv,ort", "--calib-count", "2",
            "--gemm-size", "128", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out"), "--stem", "m"]
    assert runtime_matrix.main(argv) == 0
    record = json.loads((tmp_path / "out" / "m.json").read_text())
    assert record["schema_version"] == 1 and record["benchmark"] == "runtime_matrix"
    env = record["environment"]
    assert env["threads"] >= 1 and env["cores"] >= 1 and env["cpu"] and env["packages"]["onnxruntime"]
    (model,) = record["models"]
    assert model["model"] == "EDSR_b1f8_x3_s0"
    keys = {a["key"] for a in model["artifacts"]}
    assert keys == {"original", "folded", "original/onnx-fp32", "original/onnx-int8"}
    cells = {(c["artifact"], c["variant"]): c for c in model["cells"]}
    # .pb runs in OpenCV only here; .onnx in OpenCV and ORT.
    assert set(cells) >= {("original", "opencv"), ("folded", "opencv"), ("original/onnx-fp32", "ort"),
                          ("original/onnx-int8", "ort")}
    base = cells[("original", "opencv")]["sizes"][0]
    assert base["speedup_vs_baseline"] == 1.0
    macs = {a["key"]: a["macs_per_pixel"] for a in model["artifacts"]}
    # Hand count for B=1, F=8, x3: head 3*9*8 + block 2*(9*8*8) + tail 9*8*8 + 9*8*27 = 216+1152+576+1944.
    assert macs["original"] == 216 + 1152 + 576 + 1944
    for c in model["cells"]:
        for s in c["sizes"]:
            if not s["latency_ms"]:
                continue
            med = s["latency_ms"]["median"]
            assert 0 < med <= s["latency_ms"]["p90"] and s["peak_rss_mb"] > 0
            want = macs[c["artifact"]] * 16 * 16 / (med / 1000) / 1e9 / record["peak"]["gmacs_per_s_best"]
            assert math.isclose(s["fraction_of_fp32_peak"], round(want, 3), abs_tol=1e-3)
    # The folded graph computes the same function: its output agrees with the original's.
    assert cells[("folded", "opencv")]["agreement_db"] == "identical" or cells[("folded", "opencv")]["agreement_db"] > 60
    md = (tmp_path / "out" / "m.md").read_text()
    assert "| artifact | runtime | MACs/px |" in md and env["cpu"] in md and "threads" in md

    # Per-op profile of the INT8 export: shares sum to 1 and the convolutions are QLinearConv.
    int8 = next(Path(a["path"]) for a in model["artifacts"] if a["key"] == "original/onnx-int8")
    assert ort_profile.main([str(int8), "--size", "16", "--runs", "1", "--out", str(tmp_path / "out"), "--stem", "p"]) == 0
    prof = json.loads((tmp_path / "out" / "p.json").read_text())["profiles"][0]
    ops = {o["op"]: o for o in prof["ops"]}
    assert ops["QLinearConv"]["nodes"] == 5  # head, 2 in the block, 2 in the tail
    assert math.isclose(sum(o["share"] for o in prof["ops"]), 1.0, abs_tol=1e-3)
