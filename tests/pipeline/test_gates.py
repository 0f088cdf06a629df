"""Gates on hand-made report.json files; `sropt check` exit codes, JUnit XML and summary."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sropt.cli import main
from sropt.pipeline.gates import GateStatus, evaluate_gates
from sropt.pipeline.schema import Gate


def _row(stage: str, runtime: str, psnr: float, ssim: float = 0.87, size: int = 1000, latency: float = 10.0, dataset: str = "Set5") -> dict:
    return {
        "artifact": f"artifacts/m.{stage}", "stage": stage, "runtime": runtime, "dataset": dataset, "scale": 3,
        "degradation": "matlab-bicubic", "psnr_y": psnr, "ssim_y": ssim, "size_bytes": size,
        "latency_ms": {"median": latency, "p90": latency * 1.1, "min": latency * 0.9}, "images": [],
    }


def _report(gates: list[dict] | None = None) -> dict:
    rows = [
        {"artifact": "bicubic", "runtime": "bicubic", "dataset": "Set5", "scale": 3, "degradation": "matlab-bicubic",
         "psnr_y": 30.40, "ssim_y": 0.869, "latency_ms": None, "size_bytes": None, "images": []},
        _row("source", "opencv", 30.59, 0.8715, size=40_000, latency=10.0),
        _row("prune", "opencv", 30.31, 0.8680, size=30_000, latency=7.0),
        _row("quantize.tflite.int8", "tflite", 29.05, 0.8590, size=12_000, latency=12.0),
        _row("quantize.onnx.int8", "ort", 30.40, 0.8700, size=13_000, latency=6.0),
    ]
    rep = {"schema_version": "1.0", "environment": {"cpu": "hand", "threads": 2}, "config": {"scale": 3}, "results": rows}
    if gates is not None:
        rep["pipeline"] = {"name": "hand", "model_sha256": "ab" * 32, "gates": gates}
    return rep


def _write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_absolute_and_relative_gates_hand_computed():
    gates = [
        Gate(metric="psnr_y", min=30.0),
        Gate(metric="psnr_y", max_drop=0.5, artifacts=["prune", "quantize.*"]),
        Gate(metric="size_bytes", max=35_000),
        Gate(metric="latency_ms", max_ratio=1.0, artifacts=["quantize.*"]),
    ]
    res = evaluate_gates(gates, _report())
    got = [(r.gate, r.stage, r.status.value) for r in res]
    assert got == [
        ("psnr_y min 30", "source", "pass"),
        ("psnr_y min 30", "prune", "pass"),
        ("psnr_y min 30", "quantize.tflite.int8", "fail"),
        ("psnr_y min 30", "quantize.onnx.int8", "pass"),
        ("psnr_y max_drop 0.5 vs source", "prune", "pass"),
        ("psnr_y max_drop 0.5 vs source", "quantize.tflite.int8", "fail"),
        ("psnr_y max_drop 0.5 vs source", "quantize.onnx.int8", "pass"),
        ("size_bytes max 35000", "source", "fail"),
        ("size_bytes max 35000", "prune", "pass"),
        ("size_bytes max 35000", "quantize.tflite.int8", "pass"),
        ("size_bytes max 35000", "quantize.onnx.int8", "pass"),
        ("latency_ms max_ratio 1 vs source", "quantize.tflite.int8", "fail"),
        ("latency_ms max_ratio 1 vs source", "quantize.onnx.int8", "pass"),
    ]
    drop = next(r for r in res if r.kind == "max_drop" and r.stage == "quantize.tflite.int8")
    # 30.59 - 29.05 = 1.54 dB; the tflite row has no source row in tflite, so OpenCV's is the reference.
    assert drop.reference == pytest.approx(30.59) and drop.value == pytest.approx(29.05)
    assert drop.message == "drop +1.540 (value 29.05 dB, source 30.59 dB); allowed 0.5"
    ratio = next(r for r in res if r.kind == "max_ratio" and r.stage == "quantize.tflite.int8")
    assert ratio.message == "ratio 1.200 (value 12.00 ms, source 10.00 ms); allowed 1"


def test_gate_matching_nothing_or_missing_reference_is_an_error():
    rep = _report()
    res = evaluate_gates([Gate(metric="psnr_y", min=1, artifacts=["export.*"])], rep)
    assert [(r.status, r.message) for r in res] == [(GateStatus.ERROR, "matched no report rows (artifacts ['export.*']); check the patterns")]
    rep["results"] = [r for r in rep["results"] if r.get("stage") != "source"]
    res = evaluate_gates([Gate(metric="psnr_y", max_drop=1, artifacts=["prune"])], rep)
    assert res[0].status is GateStatus.ERROR and res[0].message == "no source-model row for dataset Set5 (runtime opencv or opencv)"


def test_baseline_relative_gate():
    from sropt.pipeline.baseline import baseline_from_report

    gate = Gate(metric="psnr_y", max_drop=0.1, against="baseline")
    base = baseline_from_report(_report(), [gate], where="test")
    cur = _report()
    for r in cur["results"]:
        if r.get("stage") == "prune":
            r["psnr_y"] = 30.11  # 0.20 dB below the baseline's 30.31
        if r.get("stage") == "quantize.onnx.int8":
            r["psnr_y"] = 30.45  # better than baseline
    cur["results"].append(_row("export.onnx", "ort", 30.59))  # new artifact: not in baseline
    res = {r.stage: r for r in evaluate_gates([gate], cur, baseline=base)}
    assert res["prune"].status is GateStatus.FAIL and res["prune"].message == "drop +0.200 (value 30.11 dB, baseline 30.31 dB); allowed 0.1"
    assert res["quantize.onnx.int8"].status is GateStatus.PASS
    # A row the baseline lacks is an error, never a silent pass.
    assert res["export.onnx"].status is GateStatus.ERROR and "export.onnx/ort/Set5 is not in the baseline" in res["export.onnx"].message
    assert res["source"].status is GateStatus.PASS
    # Without a baseline the gate is skipped, and says so.
    (only,) = evaluate_gates([gate], cur, baseline=None)
    assert only.status is GateStatus.SKIP


def test_baseline_file_is_compact_sorted_and_stores_latency_as_ratio():
    from sropt.pipeline.baseline import baseline_from_report, baseline_json

    gates = [
        Gate(metric="psnr_y", max_drop=0.1, against="baseline", artifacts=["prune", "quantize.*"]),
        Gate(metric="latency_ms", max_ratio=1.2, against="baseline", artifacts=["quantize.*"]),
        Gate(metric="ssim_y", min=0.5),  # not a baseline gate: not stored
    ]
    base = baseline_from_report(_report([]), gates, where="test")
    assert base["pipeline"] == "hand" and base["model_sha256"] == "ab" * 32 and base["scale"] == 3
    # Hand-computed: latency ratios to the source's 10.0 ms; rows sorted by (step, runtime, dataset).
    assert base["rows"] == [
        {"stage": "prune", "runtime": "opencv", "dataset": "Set5", "psnr_y": 30.31},
        {"stage": "quantize.onnx.int8", "runtime": "ort", "dataset": "Set5", "psnr_y": 30.4, "latency_ratio": 0.6},
        {"stage": "quantize.tflite.int8", "runtime": "tflite", "dataset": "Set5", "psnr_y": 29.05, "latency_ratio": 1.2},
    ]
    text = baseline_json(base)
    assert text == baseline_json(json.loads(text))  # stable: rewriting changes nothing


def test_latency_against_baseline_compares_speedups_not_milliseconds():
    """Another machine runs everything 3x slower: ratios to the source are unchanged, so the gate passes."""
    from sropt.pipeline.baseline import baseline_from_report

    gate = Gate(metric="latency_ms", max_ratio=1.1, against="baseline", artifacts=["quantize.onnx.int8"])
    base = baseline_from_report(_report(), [gate], where="test")
    slow = _report()
    for r in slow["results"]:
        if r.get("latency_ms"):
            r["latency_ms"]["median"] *= 3
    (res,) = evaluate_gates([gate], slow, baseline=base)
    assert res.status is GateStatus.PASS and res.message == "latency vs source 0.600x, baseline 0.600x: ratio 1.000; allowed 1.1"
    for r in slow["results"]:
        if r.get("stage") == "quantize.onnx.int8":
            r["latency_ms"]["median"] = 30.0 * 0.6 * 1.25  # now 0.75x the source instead of 0.6x
    (res,) = evaluate_gates([gate], slow, baseline=base)
    assert res.status is GateStatus.FAIL and "ratio 1.250" in res.message


def test_against_bicubic_min_gain():
    gate = Gate(metric="psnr_y", min_gain=0.0, against="bicubic", artifacts=["prune", "quantize.*"])
    res = {r.stage: r for r in evaluate_gates([gate], _report())}
    # bicubic 30.40: prune 30.31 and TFLite 29.05 lose to it, ORT 30.40 ties (gain 0 passes min_gain 0).
    assert res["prune"].status is GateStatus.FAIL and res["prune"].message == "gain -0.090 (value 30.31 dB, bicubic 30.40 dB); required +0"
    assert res["quantize.tflite.int8"].status is GateStatus.FAIL
    assert res["quantize.onnx.int8"].status is GateStatus.PASS
    strict = Gate(metric="psnr_y", min_gain=0.05, against="bicubic", artifacts=["quantize.onnx.int8"])
    assert evaluate_gates([strict], _report())[0].status is GateStatus.FAIL


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"metric": "size_bytes", "min_gain": 0.1, "against": "bicubic"}, "min_gain applies to quality metrics"),
        ({"metric": "latency_ms", "max_ratio": 1.0, "against": "bicubic"}, "bicubic has no latency_ms"),
        ({"metric": "psnr_y", "min_gain": 0.1, "max_drop": 0.2}, "give exactly one of min, max, max_drop, max_ratio, min_gain"),
    ],
)
def test_bad_bicubic_gates_are_refused(fields, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        Gate.model_validate(fields)


def test_check_cli_pass_fail_and_junit(tmp_path, capsys):
    gates = [{"metric": "psnr_y", "max_drop": 2.0}, {"metric": "ssim_y", "min": 0.85}]
    rep = _write(tmp_path / "report.json", _report(gates))
    junit, summary = tmp_path / "gates.xml", tmp_path / "summary.md"
    assert main(["check", str(rep), "--junit", str(junit), "--summary", str(summary)]) == 0
    assert "all 7 gate check(s) passed" in capsys.readouterr().err
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "7" and suite.get("failures") == "0"
    assert summary.read_text().startswith("## Quality gates: hand: passed")

    gates[0]["max_drop"] = 1.0
    _write(rep, _report(gates))
    assert main(["check", str(rep), "--junit", str(junit), "--summary", str(summary)]) == 1
    err = capsys.readouterr().err
    assert "of 7 checks over runtimes x datasets" in err
    suite = ET.parse(junit).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("7", "1", "0")
    failed = [tc for tc in suite.findall("testcase") if tc.find("failure") is not None]
    assert [tc.get("name") for tc in failed] == ["psnr_y max_drop 1 vs source [quantize.tflite.int8 / tflite / Set5]"]
    assert failed[0].find("failure").get("message") == "drop +1.540 (value 29.05 dB, source 30.59 dB); allowed 1"
    md = summary.read_text()
    assert md.startswith("## Quality gates: hand: FAILED")
    assert "| ❌ | psnr_y max_drop 1 vs source | quantize.tflite.int8 | tflite | Set5 | drop +1.540" in md


def test_check_cli_baseline_and_update(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    gates = [{"metric": "psnr_y", "max_drop": 0.05, "against": "baseline"}]
    old = _write(tmp_path / "old.json", _report(gates))
    assert main(["baseline", "update", str(old), "--to", "base/baseline.json"]) == 0
    stored = json.loads((tmp_path / "base/baseline.json").read_text())
    assert [(r["stage"], r["psnr_y"]) for r in stored["rows"]] == [
        ("prune", 30.31), ("quantize.onnx.int8", 30.4), ("quantize.tflite.int8", 29.05), ("source", 30.59),
    ]
    new = _report(gates)
    new["results"][2]["psnr_y"] = 30.20  # prune regressed by 0.11 dB
    cur = _write(tmp_path / "new.json", new)
    assert main(["check", str(cur), "--baseline", "base/baseline.json"]) == 1
    assert main(["check", str(old), "--baseline", "base/baseline.json"]) == 0
    # Accept the new numbers as the baseline: the same check passes.
    assert main(["baseline", "update", str(cur), "--to", "base/baseline.json"]) == 0
    assert main(["check", str(cur), "--baseline", "base/baseline.json"]) == 0


def test_tampered_baseline_fails_naming_every_gate(tmp_path, capsys):
    """Issue 14: a baseline 3 dB better than the run must fail the check, not pass it."""
    gates = [{"metric": "psnr_y", "max_drop": 0.2, "against": "baseline"}, {"metric": "ssim_y", "min": 0.5}]
    rep = _write(tmp_path / "report.json", _report(gates))
    base_path = tmp_path / "base.json"
    assert main(["baseline", "update", str(rep), "--to", str(base_path)]) == 0
    base = json.loads(base_path.read_text())
    for row in base["rows"]:
        row["psnr_y"] += 3.0
    base_path.write_text(json.dumps(base))
    capsys.readouterr()
    assert main(["check", str(rep), "--baseline", str(base_path)]) == 1
    err = capsys.readouterr().err
    assert "4 of 8 gate(s) failed (4 of 8 checks over runtimes x datasets" in err  # 4 baseline + 4 ssim rows, one set
    for stage in ("source", "prune", "quantize.tflite.int8", "quantize.onnx.int8"):
        assert f"{stage}: psnr_y max_drop 0.2 vs baseline [" in err  # one problem line per gate and artifact


@pytest.mark.parametrize(
    "gates, edit, message",
    [
        ([{"metric": "psnr_y", "min": 1}], None, "no gate in effect compares against a baseline"),
        (None, lambda b: b.update(pipeline="other"), "pipeline: baseline 'other', report 'hand'"),
        (None, lambda b: b.update(model_sha256="cd" * 32), "model_sha256: baseline"),
        (None, lambda b: b.update(scale=4), "scale: baseline 4, report 3"),
        (None, lambda b: b["rows"].pop(0), "the baseline lacks 1 row(s) that baseline gates need"),
        (None, lambda b: b["rows"][0].update(psnr_y="high"), "rows[0].psnr_y is not a number"),
        (None, lambda b: b.pop("schema"), "field 'schema' must be 'sropt.baseline/1'"),
    ],
)
def test_check_cli_unusable_baseline_exits_2(tmp_path, capsys, gates, edit, message):
    baseline_gates = [{"metric": "psnr_y", "max_drop": 0.2, "against": "baseline"}]
    rep = _write(tmp_path / "report.json", _report(baseline_gates))
    base_path = tmp_path / "base.json"
    assert main(["baseline", "update", str(rep), "--to", str(base_path)]) == 0
    if edit is not None:
        base = json.loads(base_path.read_text())
        edit(base)
        base_path.write_text(json.dumps(base))
    if gates is not None:
        rep = _write(tmp_path / "report.json", _report(gates))
    capsys.readouterr()
    assert main(["check", str(rep), "--baseline", str(base_path)]) == 2
    assert message in capsys.readouterr().err


def test_truncated_baseline_and_report_as_baseline_exit_2(tmp_path, capsys):
    rep = _write(tmp_path / "report.json", _report([{"metric": "psnr_y", "max_drop": 0.2, "against": "baseline"}]))
    (tmp_path / "cut.json").write_text('{"schema": "sropt.baseline/1", "rows": [')
    assert main(["check", str(rep), "--baseline", str(tmp_path / "cut.json")]) == 2
    assert "cut.json: baseline is not valid JSON" in capsys.readouterr().err
    assert main(["check", str(rep), "--baseline", str(rep)]) == 2
    assert "is a validation report, not a baseline" in capsys.readouterr().err


def test_baseline_update_without_baseline_gates_exits_2(tmp_path, capsys):
    rep = _write(tmp_path / "report.json", _report([{"metric": "psnr_y", "min": 1}]))
    assert main(["baseline", "update", str(rep), "--to", str(tmp_path / "b.json")]) == 2
    assert "no gate compares against a baseline" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_check_cli_gates_from_pipelines_file(tmp_path):
    rep = _write(tmp_path / "report.json", _report())
    pfile = tmp_path / "p.yaml"
    pfile.write_text(
        "pipelines:\n  ci:\n    model: FSRCNN_x3\n    validate: {}\n    gates:\n"
        "      - {metric: psnr_y, min: 29.0}\n"
    )
    assert main(["check", str(rep), "--gates", str(pfile), "--pipeline", "ci"]) == 0
    pfile.write_text(pfile.read_text().replace("min: 29.0", "min: 29.5"))
    assert main(["check", str(rep), "--gates", str(pfile), "--pipeline", "ci"]) == 1


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: None, "report.json: report not found"),
        (lambda d: (d / "report.json").write_text("{not json"), "report.json: report is not valid JSON"),
        (lambda d: (d / "report.json").write_text('{"results": 3}'), "not a sropt validation report"),
        (lambda d: _write(d / "report.json", _report()), "the report records no gates (it was not written by `sropt run`). Give them with --gates pipelines.yaml --pipeline NAME."),
    ],
)
def test_check_cli_input_errors_exit_2(tmp_path, capsys, setup, message):
    setup(tmp_path)
    assert main(["check", str(tmp_path / "report.json")]) == 2
    assert message in capsys.readouterr().err


def test_check_cli_missing_baseline_file_exits_2(tmp_path, capsys):
    rep = _write(tmp_path / "report.json", _report([{"metric": "psnr_y", "min": 1}]))
    assert main(["check", str(rep), "--baseline", str(tmp_path / "nope.json")]) == 2
    assert "nope.json: baseline not found" in capsys.readouterr().err


def test_check_cli_usage_error_exits_2():
    assert main(["check"]) == 2


def test_check_plain_validate_report_with_source_option(tmp_path):
    """A `sropt validate` report has no stage fields: globs match file names, --source names the reference."""
    rep = _report()
    for r in rep["results"]:
        r.pop("stage", None)
    rep["results"][1]["artifact"] = "/models/FSRCNN_x3.pb"
    rep["results"][3]["artifact"] = "/out/FSRCNN_x3_int8.tflite"
    path = _write(tmp_path / "report.json", rep)
    pfile = tmp_path / "p.yaml"
    pfile.write_text(
        "pipelines:\n  ci:\n    model: FSRCNN_x3\n    quantize: {tflite: [{mode: int8}]}\n    validate: {}\n    gates:\n"
        "      - {metric: psnr_y, max_drop: 1.6, artifacts: [quantize.tflite.int8, '*.tflite']}\n"
    )
    args = ["check", str(path), "--gates", str(pfile), "--pipeline", "ci", "--source", "FSRCNN_x3.pb", "--json"]
    assert main(args) == 0
    pfile.write_text(pfile.read_text().replace("1.6", "1.5"))
    assert main(args) == 1  # 30.59 - 29.05 = 1.54 dB


def test_parity_only_rows_are_not_gated_and_a_gate_on_them_says_why():
    from sropt.pipeline.gates import evaluate_gate

    report = _report()
    parity = {**_row("quantize.onnx.int8", "opencv", 0.0), "psnr_y": None, "latency_ms": None, "scope": "parity",
              "parity": {"reference": "artifacts/m.quantize.onnx.int8 [ort]", "within_1_level": 0.41, "identical": 0.2, "max_abs_diff": 60}}
    report["results"].append(parity)
    # A gate over every runtime gates the full rows only: the parity row has no full-set PSNR to bound.
    res = evaluate_gate(Gate(metric="psnr_y", min=29.0, artifacts=["quantize.*"]), report)
    assert [(r.runtime, r.status) for r in res] == [("tflite", GateStatus.PASS), ("ort", GateStatus.PASS)]
    [only] = evaluate_gate(Gate(metric="psnr_y", min=29.0, artifacts=["quantize.onnx.int8"], runtimes=["opencv"]), report)
    assert only.status is GateStatus.ERROR
    assert only.message.startswith("matched only parity-crop rows (quantize.onnx.int8 [opencv]): validation measures")
    [none] = evaluate_gate(Gate(metric="psnr_y", min=29.0, artifacts=["nothing*"]), report)
    assert none.message == "matched no report rows (artifacts ['nothing*']); check the patterns"


def test_latency_against_a_baseline_from_another_cpu_class_is_skipped_with_the_reason():
    """Speed-ups move with the INT8 extensions (AMX, VNNI): a baseline from an AMX Xeon cannot bound an AMD EPYC
    run's INT8 speed-up, so the gate says why and is skipped; PSNR gates and same-class machines are unaffected."""
    from sropt.pipeline.baseline import baseline_from_report

    latency = Gate(metric="latency_ms", max_ratio=1.1, against="baseline", artifacts=["quantize.onnx.int8"])
    psnr = Gate(metric="psnr_y", max_drop=0.1, against="baseline", artifacts=["quantize.onnx.int8"])
    xeon = _report()
    xeon["environment"].update(cpu="Intel(R) Xeon(R) Processor", cpu_flags=["avx2", "avx512f", "avx512_vnni", "amx_int8", "fma"])
    base = baseline_from_report(xeon, [latency, psnr], where="test")
    epyc = _report()
    epyc["environment"].update(cpu="AMD EPYC", cpu_flags=["avx2", "avx512f", "avx512_vnni", "sse4_2"])
    for r in epyc["results"]:
        if r.get("stage") == "quantize.onnx.int8":
            r["latency_ms"]["median"] = 10.0 * 0.66  # 0.66x the source instead of 0.6x: no AMX
    lat, q = evaluate_gates([latency, psnr], epyc, baseline=base)
    assert lat.status is GateStatus.SKIP and q.status is GateStatus.PASS
    assert lat.message.startswith("not comparable: the baseline's speed-ups were measured on Intel(R) Xeon(R) "
                                  "Processor (avx2, avx512f, avx512_vnni, amx_int8), this run on AMD EPYC "
                                  "(avx2, avx512f, avx512_vnni)")
    # Flags that do not pick kernels (fma, sse4_2) do not matter; the same extensions are compared as before.
    epyc["environment"]["cpu_flags"] = ["avx2", "avx512f", "avx512_vnni", "amx_int8"]
    (lat,) = evaluate_gates([latency], epyc, baseline=base)
    assert lat.status is GateStatus.PASS and lat.message == "latency vs source 0.660x, baseline 0.600x: ratio 1.100; allowed 1.1"
