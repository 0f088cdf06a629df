"""Checks before work (issue 20, items 2 and 10): `sropt run` preflight, `sropt check` and `sropt baseline update`.

Every case is exit 2 with the input named, and nothing runs or is written.
Unwritable folders are made by putting a file where a folder is needed:
tests run as root in CI containers, where permission bits stop nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from sropt.cli import main
from tests.pipeline.test_gates import _report, _write


def _err(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


def test_empty_calibration_folder_is_refused_before_any_stage(pipeline_file, fake_stages, workdir, capsys):
    (workdir / "calib-empty").mkdir()
    pipeline_file.write_text(pipeline_file.read_text().replace("prune: {ratio: 0.25, scope: inner}", "prune: {ratio: 0.25, scope: inner, calib: ./calib-empty}"))
    assert main(["run", str(pipeline_file), "-p", "small"]) == 2
    err = _err(capsys)
    assert f"{pipeline_file}:10: pipeline 'small', field 'prune.calib': dataset '{workdir / 'calib-empty'}'" in err
    assert "holds no images" in err
    assert fake_stages.calls == []


def test_unwritable_run_folder_is_refused_before_any_stage(pipeline_file, fake_stages, workdir, capsys):
    (workdir / "afile").write_text("x")
    assert main(["run", str(pipeline_file), "-p", "small", "--out", "afile/run"]) == 2
    assert "cannot write the run folder: afile is a file, not a folder" in _err(capsys)
    assert fake_stages.calls == []


def test_check_on_a_folder_says_it_is_a_folder(tmp_path, capsys):
    _write(tmp_path / "report.json", _report([{"metric": "psnr_y", "min": 1}]))
    assert main(["check", str(tmp_path)]) == 2
    err = _err(capsys)
    assert f"{tmp_path}: is a folder, not a report file" in err
    assert f"Did you mean {tmp_path / 'report.json'}?" in err


def test_check_on_a_report_without_rows_is_exit_2_not_a_gate_failure(tmp_path, capsys):
    rep = _report([{"metric": "psnr_y", "min": 1}])
    rep["results"] = []
    path = _write(tmp_path / "report.json", rep)
    assert main(["check", str(path)]) == 2
    assert f"{path}: the report has no result rows: nothing was measured" in _err(capsys)
    assert main(["baseline", "update", str(path), "--to", str(tmp_path / "b.json")]) == 2
    assert not (tmp_path / "b.json").exists()


def test_check_outputs_are_checked_before_gates_and_name_the_report(tmp_path, capsys):
    rep = _write(tmp_path / "report.json", _report([{"metric": "psnr_y", "min": 1}]))
    before = rep.read_bytes()
    (tmp_path / "afile").write_text("x")
    assert main(["check", str(rep), "--junit", str(tmp_path / "afile" / "gates.xml")]) == 2
    assert "cannot write the JUnit XML: " + str(tmp_path / "afile") + " is a file, not a folder" in _err(capsys)
    assert main(["check", str(rep), "--summary", str(rep)]) == 2
    assert f"{rep}: output would overwrite the input report {rep}" in _err(capsys)
    assert rep.read_bytes() == before


def test_baseline_update_to_an_unwritable_or_input_path_is_exit_2(tmp_path, capsys):
    gates = [{"metric": "psnr_y", "against": "baseline", "max_drop": 0.2}]
    rep = _write(tmp_path / "report.json", _report(gates))
    before = rep.read_bytes()
    (tmp_path / "afile").write_text("x")
    assert main(["baseline", "update", str(rep), "--to", str(tmp_path / "afile" / "b.json")]) == 2
    assert "cannot write the baseline: " + str(tmp_path / "afile") + " is a file, not a folder" in _err(capsys)
    assert main(["baseline", "update", str(rep), "--to", str(rep)]) == 2
    assert f"output would overwrite the input report {rep}" in _err(capsys)
    assert json.loads(rep.read_bytes()) == json.loads(before)
