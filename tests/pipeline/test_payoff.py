"""Saying when INT8 does not pay (issue 15, item 5): hand-made sizes and latencies, and skip_if_not_smaller."""

from __future__ import annotations

import json

from sropt.pipeline.config import load_pipelines
from sropt.pipeline.payoff import judge, payoffs, precision_label, skip_note
from sropt.pipeline.reports import run_context, run_markdown
from sropt.validate.report_html import render_html
from sropt.pipeline.runner import run_pipeline


def test_larger_and_slower_int8_says_both_ratios_and_what_to_keep():
    # FSRCNN_x3's measured case, rounded to exact ratios: 30 000 vs 20 000 bytes, 48 vs 32 ms.
    p = judge("quantize.onnx.int8", "export.onnx", "onnx", 30_000, 20_000, 48.0, 32.0, "ort")
    assert p.size_ratio == 1.5 and p.latency_ratio == 1.5 and not p.pays
    assert p.note == ("INT8 is 1.5x larger and 1.5x slower in ort than the float ONNX it came from "
                      "(export.onnx): keep the float one")


def test_smaller_and_faster_int8_has_no_note():
    p = judge("quantize.onnx.int8", "export.onnx", "onnx", 10_000, 40_000, 20.0, 40.0, "ort")
    assert (p.size_ratio, p.latency_ratio, p.note, p.pays) == (0.25, 0.5, None, True)


def test_latency_within_noise_is_not_called_slower_and_small_ratios_keep_two_decimals():
    # 1.03x is inside the 5% margin: only the size loses; 1.02x prints as 1.02x, not 1.0x.
    p = judge("quantize.tflite.int8", "prune", "pb", 10_200, 10_000, 30.9, 30.0, "tflite")
    assert p.note == "INT8 is 1.02x larger than the float graph (.pb) it came from (prune): keep the float one"
    assert judge("quantize.tflite.fp16", "source", "pb", 9_000, 10_000, 33.0, 30.0, "tflite").note == (
        "FP16 is 1.1x slower in tflite than the float graph (.pb) it came from (source): keep the float one")


def test_precision_label_names_the_mode_and_skips_non_quantizations():
    assert precision_label("quantize.onnx.int8-arm64") == "INT8"
    assert precision_label("quantize.tflite.int16x8-iouint8") == "INT16X8"
    assert precision_label("quantize.tflite.float32") is None
    assert precision_label("export.onnx") is None


SUMMARY = [
    {"step": "source", "artifact": "m.source.pb", "size_bytes": 40_000},
    {"step": "export.onnx", "artifact": "m.export.onnx", "size_bytes": 20_000},
    {"step": "quantize.tflite.int8", "artifact": "m.quantize.tflite.int8.tflite", "size_bytes": 12_000},
    {"step": "quantize.onnx.int8", "artifact": "m.quantize.onnx.int8.onnx", "size_bytes": 31_000},
    {"step": "validate", "artifact": None, "size_bytes": None},
]
ROWS = [  # latency rows as validation writes them (the same median on every dataset row)
    {"stage": "source", "runtime": "opencv", "dataset": "Set5", "latency_ms": {"median": 14.0}},
    {"stage": "export.onnx", "runtime": "opencv", "dataset": "Set5", "latency_ms": {"median": 21.0}},
    {"stage": "export.onnx", "runtime": "ort", "dataset": "Set5", "latency_ms": {"median": 32.0}},
    {"stage": "quantize.tflite.int8", "runtime": "tflite", "dataset": "Set5", "latency_ms": {"median": 50.0}},
    {"stage": "quantize.onnx.int8", "runtime": "opencv", "dataset": "Set5", "latency_ms": {"median": 10.0}},
    {"stage": "quantize.onnx.int8", "runtime": "ort", "dataset": "Set5", "latency_ms": {"median": 48.0}},
]
PARENTS = {"quantize.tflite.int8": "source", "quantize.onnx.int8": "export.onnx"}


def test_payoffs_compare_size_always_and_latency_only_in_the_artifacts_own_runtime():
    found = payoffs(SUMMARY, ROWS, PARENTS)
    assert set(found) == {"quantize.tflite.int8", "quantize.onnx.int8"}
    tfl = found["quantize.tflite.int8"]
    # The .pb parent never ran in LiteRT: size only (0.3x), no latency claim against OpenCV's 14 ms.
    assert (tfl.size_ratio, tfl.latency_ratio, tfl.runtime, tfl.note) == (0.3, None, None, None)
    ort = found["quantize.onnx.int8"]
    # ORT rows (48 vs 32 ms), not the faster OpenCV rows (10 vs 21 ms).
    assert ort.size_ratio == 31 / 20 and ort.latency_ratio == 1.5 and ort.runtime == "ort"
    assert ort.note == ("INT8 is 1.6x larger and 1.5x slower in ort than the float ONNX it came from "
                        "(export.onnx): keep the float one")


def test_report_markdown_carries_the_note_under_the_pipeline_table():
    summary = [dict(s, status="ran", seconds=1.0, psnr_y={}, psnr_delta={}, runtime=None) for s in SUMMARY]
    for item, p in payoffs(SUMMARY, ROWS, PARENTS).items():
        next(s for s in summary if s["step"] == item)["payoff"] = p.to_json()
    report = {"results": [], "pipeline": {"name": "p", "model": "m", "sropt_version": "0", "summary": summary, "steps": []}}
    context = run_context(report)
    md = run_markdown(context)
    assert ("- **quantize.onnx.int8**: INT8 is 1.6x larger and 1.5x slower in ort than the float ONNX it came from "
            "(export.onnx): keep the float one") in md
    assert "quantize.tflite.int8**" not in md
    html = render_html(context, "run.html")
    assert ("<li><b>quantize.onnx.int8</b>: INT8 is 1.6x larger and 1.5x slower in ort than the float ONNX "
            "it came from (export.onnx): keep the float one</li>") in html


def test_skip_note_only_when_asked_and_not_smaller():
    assert skip_note("q", False, 30, "e", 20) is None
    assert skip_note("q", True, 19, "e", 20) is None
    assert skip_note("q", True, 20, "e", 20).startswith("skipped (skip_if_not_smaller): 20 bytes is not smaller than e's 20")


def test_pipeline_skips_a_larger_ort_int8_when_asked(pipeline_file, fake_stages, monkeypatch):
    original = fake_stages.quantize_onnx

    def bloated(ctx):  # an INT8 file larger than the export it came from
        art = original(ctx)
        art.path.write_text("x" * 500)
        return art

    monkeypatch.setattr(fake_stages, "quantize_onnx", bloated)
    from sropt.pipeline import steps as steps_mod

    monkeypatch.setattr(steps_mod, "ADAPTERS", fake_stages.table())
    text = pipeline_file.read_text().replace("onnx: [{mode: int8, calib_count: 4}]",
                                             "onnx: [{mode: int8, calib_count: 4, skip_if_not_smaller: true}]")
    text = text.replace("artifacts: [prune, export.onnx, quantize.onnx.int8]", "artifacts: [prune, export.onnx]")
    pipeline_file.write_text(text)
    result = run_pipeline(load_pipelines(pipeline_file), "small")
    assert result.passed
    stages = {r.get("stage") for r in result.report["results"]}
    assert "quantize.onnx.int8" not in stages and "quantize.tflite.int8" in stages  # not validated
    assert "quantize.onnx.int8" not in result.report["pipeline"]["artifacts"]
    assert not list((result.out_dir / "artifacts").glob("*quantize.onnx.int8*"))  # not copied
    row = next(s for s in result.report["pipeline"]["summary"] if s["step"] == "quantize.onnx.int8")
    export_size = next(s for s in result.report["pipeline"]["summary"] if s["step"] == "export.onnx")["size_bytes"]
    assert row["payoff"]["size_ratio"] == round(500 / export_size, 3)
    md = (result.out_dir / "report.md").read_text()
    assert f"skipped (skip_if_not_smaller): 500 bytes is not smaller than export.onnx's {export_size}" in md
    saved = json.loads((result.out_dir / "report.json").read_text())
    assert saved["pipeline"]["summary"] == result.report["pipeline"]["summary"]


def test_quantize_command_prints_the_size_comparison_and_the_note(tmp_path):
    from sropt.commands.quantize import size_comparison

    model = tmp_path / "fsrcnn.onnx"
    model.write_bytes(b"\0" * 20_000)
    assert size_comparison(str(model), 30_000, "int8") == (
        "size: 30,000 bytes, 1.50x the 20,000 bytes of fsrcnn.onnx\n"
        "note: INT8 is 1.5x larger than the float ONNX it came from (fsrcnn.onnx): keep the float one "
        "(`sropt validate` both files to compare latency)")
    assert size_comparison(str(model), 5_000, "int8") == "size: 5,000 bytes, 0.25x the 20,000 bytes of fsrcnn.onnx"
    # A float32 .tflite is a format change, not a quantization: no "keep the float one".
    assert "\n" not in size_comparison(str(model), 21_000, "float32")
