"""The run report: gates grouped per artifact, the model that actually ran, crops named by step, bad input stated in place."""

from __future__ import annotations

import html as html_lib
import json
from pathlib import Path

from sropt.pipeline.reports import run_context, run_markdown, write_run_reports
from sropt.validate.report_html import render_html


def _row(stage: str, runtime: str, dataset: str, psnr: float, ms: float, size: int, kind: str = "onnx") -> dict:
    return {"artifact": f"artifacts/m.{stage}.{kind}" if stage != "source" else "artifacts/m.pb", "stage": stage, "runtime": runtime,
            "dataset": dataset, "scale": 3, "degradation": "matlab-bicubic", "psnr_y": psnr, "ssim_y": 0.9, "kind": kind,
            "precision": "int8", "size_bytes": size, "latency_ms": {"median": ms}, "latency_input": "synthetic [1, 64, 64, 3] NHWC",
            "scope": "full", "images": [], "errors": [], "notes": []}


def _gate(gate: str, metric: str, kind: str, bound: float, stage: str, runtime: str, dataset: str, status: str, message: str) -> dict:
    return {"gate": gate, "metric": metric, "kind": kind, "bound": bound, "status": status, "message": message,
            "stage": stage, "runtime": runtime, "dataset": dataset}


def _report(**pipeline) -> dict:
    results = [
        {"artifact": "bicubic", "runtime": "bicubic", "dataset": d, "scale": 3, "degradation": "matlab-bicubic", "psnr_y": 30.0,
         "ssim_y": 0.86, "images": [{"name": "a.png"}], "errors": [], "notes": []} for d in ("Set5", "Set14")
    ]
    for d in ("Set5", "Set14"):
        results += [_row("source", "opencv", d, 33.0, 20.0, 1000, "pb"), _row("quantize.onnx.int8", "ort", d, 32.8, 4.0, 250)]
    size = [_gate("size_bytes max_ratio 0.9 vs source", "size_bytes", "max_ratio", 0.9, "quantize.onnx.int8", rt, d, "pass",
                  "ratio 0.250 (value 250 B, source 1,000 B); allowed 0.9") for rt in ("ort", "opencv") for d in ("Set5", "Set14")]
    drop = [_gate("psnr_y max_drop 0.1 vs source", "psnr_y", "max_drop", 0.1, "quantize.onnx.int8", "ort", d, "fail",
                  f"drop +0.200 (value 32.80 dB, source 33.00 dB, {d}); allowed 0.1") for d in ("Set5", "Set14")]
    p = {"name": "demo", "model": "EDSR_x3", "source": "artifacts/m.pb", "model_sha256": "ab" * 32, "sropt_version": "0",
         "artifacts": {"source": "artifacts/m.pb", "quantize.onnx.int8": "artifacts/m.quantize.onnx.int8.onnx"},
         "summary": [{"step": "source", "status": "ran", "seconds": 1.0, "artifact": "m.pb", "size_bytes": 1000},
                     {"step": "quantize.onnx.int8", "status": "ran", "seconds": 2.0, "artifact": "m.quantize.onnx.int8.onnx", "size_bytes": 250}],
         "steps": [], "gate_results": size + drop, **pipeline}
    return {"schema_version": "1.0", "environment": {"cpu": "Test CPU", "cpu_flags": ["avx2", "avx512_vnni", "sse2"], "cores": 2, "threads": 2},
            "config": {"scale": 3, "repeats": 3}, "results": results, "pipeline": p}


def test_gates_are_one_line_per_gate_per_artifact() -> None:
    v = run_context(_report())
    (group,) = [g for g in v["gates"]["groups"] if g["artifact"] == "quantize.onnx.int8"]
    assert group["count"] == "1 of 2" and group["ok"] is False
    size, drop = group["lines"]
    # Four runtime x dataset results of one size gate: one line, one message, every place it checked.
    assert size == {"status": "pass", "rule": "size at most 0.9x the source", "gate": "size_bytes max_ratio 0.9 vs source",
                    "covered": "ONNX Runtime, OpenCV on Set5, Set14", "result": "ratio 0.250 (value 250 B, source 1,000 B); allowed 0.9"}
    assert drop["status"] == "fail" and drop["rule"] == "PSNR-Y at most 0.1 dB below the source"
    assert drop["result"] == ("Set5 [ONNX Runtime]: drop +0.200 (value 32.80 dB, source 33.00 dB, Set5); allowed 0.1; "
                              "Set14 [ONNX Runtime]: drop +0.200 (value 32.80 dB, source 33.00 dB, Set14); allowed 0.1")
    assert (v["gates"]["passed"], v["gates"]["failed"], v["gates"]["total"]) == (False, 1, 2)  # 1 of 2 gates, 2 of 6 checks
    assert "FAILED (1 of 2 gates)" in render_html(v, "run.html") and "**Gates: FAILED (1 of 2 gates)**" in run_markdown(v)
    (row,) = [r for r in v["summary"]["rows"] if r["name"] == "quantize.onnx.int8"]
    assert row["gates"]["text"] == "1 of 2" and row["speedup"] == "5.00x" and row["size_ratio"] == "0.25x"
    assert row["latency"] == "4.0 ms" and [c["d_src"] for c in row["scores"]] == ["-0.20", "-0.20"]
    assert [c["d_bic"] for c in row["scores"]] == ["+2.80", "+2.80"]


def test_the_model_named_is_the_file_that_ran() -> None:
    """--model X.pb: the page names X.pb and its checksum; the config's label only as what it replaced."""
    report = _report(source="artifacts/X.pb", model_given="/data/X.pb")
    v = run_context(report)
    page, md = render_html(v, "run.html"), run_markdown(v)
    assert "<code>X.pb</code> (sha256 abababababababab)" in page
    assert "given with --model /data/X.pb; the pipeline names EDSR_x3" in page
    assert "`X.pb` (sha256 abababababababab)" in md and "`EDSR_x3" not in md


def test_missing_or_corrupt_validation_pictures_are_stated(tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "report.context.json").write_text("{not json", encoding="utf-8")
    write_run_reports(_report(), tmp_path, validate_dir=tmp_path / "v")
    page, md = html_lib.unescape((tmp_path / "report.html").read_text()), (tmp_path / "report.md").read_text()
    assert "The crops could not be read from" in page and "JSONDecodeError" in page and "rerun with --force" in page
    assert "<b>quantize.onnx.int8</b>" in page and "Traceback" not in page
    assert "| **quantize.onnx.int8**" in md


def test_stored_crops_are_named_by_step(tmp_path: Path) -> None:
    crop = {"heading": "Set5 x3", "why": "Chosen where the outputs differ most from m.pb [opencv] (...)", "size": 8,
            "panels": [{"title": "m.pb [opencv]", "src": None, "psnr": ""},
                       {"title": "m.quantize.onnx.int8.onnx [ort]", "src": None, "psnr": "30.00 dB"}],
            "heat": [None, {"title": "m.quantize.onnx.int8.onnx [ort]", "src": None}]}
    (tmp_path / "report.context.json").write_text(json.dumps({"pictures": {"crops": [crop]}}), encoding="utf-8")
    (stored,) = run_context(_report(), tmp_path)["pictures"]["crops"]
    assert [p["title"] for p in stored["panels"]] == ["source [OpenCV]", "quantize.onnx.int8 [ONNX Runtime]"]
    assert stored["heat"][1]["title"] == "quantize.onnx.int8 [ONNX Runtime]"
    assert stored["why"].startswith("Chosen where the outputs differ most from source [OpenCV]")
