"""`sropt models list / fetch / synth`: output, exit codes, messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sropt.cli import main


@pytest.mark.shared
def test_list_json_reports_cache_and_mirror_presence(
    shared_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SROPT_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["models", "fetch", "FSRCNN_x2", "--mirror", str(shared_models)]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--json", "--mirror", str(shared_models)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert len(rows) == 16
    assert rows["FSRCNN_x2"]["cache"]["status"] == "verified"
    assert rows["FSRCNN_x3"]["cache"]["status"] == "absent"
    assert rows["EDSR-T91-b8f64_x3"]["in_mirror"] is True
    assert rows["EDSR_x3"]["in_mirror"] is False
    assert (rows["LapSRN_x8"]["family"], rows["LapSRN_x8"]["scale"], rows["LapSRN_x8"]["size"]) == ("lapsrn", 8, 4069183)


@pytest.mark.shared
def test_fetch_from_mirror_then_cached(
    shared_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SROPT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SROPT_MODEL_MIRROR", str(shared_models))
    assert main(["models", "fetch", "espcn_x4", "LapSRN_x2.pb"]) == 0
    out = capsys.readouterr().out
    cached = tmp_path / "cache" / "models"
    assert f"ESPCN_x4: {cached / 'ESPCN_x4.pb'} (100,323 bytes; verified size, sha256, git blob id)" in out
    assert f"LapSRN_x2: {cached / 'LapSRN_x2.pb'} (1,356,253 bytes; verified size, sha256, git blob id)" in out
    assert main(["models", "fetch", "ESPCN_x4"]) == 0
    assert "ESPCN_x4: already cached and verified" in capsys.readouterr().out


def test_fetch_unknown_name_is_exit_2_and_fetches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SROPT_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["models", "fetch", "ESPCN_x3", "FSRCNN_x9"]) == 2
    err = capsys.readouterr().err
    assert "unknown model name(s); nothing was fetched" in err
    assert "FSRCNN_x9: unknown model name. Did you mean: FSRCNN_x4, FSRCNN_x3, FSRCNN_x2?" in err
    assert not (tmp_path / "cache").exists()


def test_fetch_failure_is_exit_3_with_the_remedy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SROPT_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    assert main(["models", "fetch", "EDSR_x3", "--mirror", str(tmp_path / "empty")]) == 3
    err = capsys.readouterr().err
    assert "1 of 1 model(s) could not be fetched" in err
    assert "EDSR_x3.pb is not in the model mirror folder" in err
    assert "sropt models synth edsr" in err


def test_synth_writes_graph_and_prints_sidecar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tiny.pb"
    assert main(["models", "synth", "edsr", "-B", "2", "-F", "16", "-s", "2", "--seed", "3", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out} ({out.stat().st_size:,} bytes): EDSR layout B=2 F=16 x2, RANDOM weights (seed 3)" in text
    sidecar = json.loads(text.split(".sropt.json:\n", 1)[1])
    assert sidecar["provenance"][0]["weights"] == "random"
    assert sidecar["scale"] == 2


def test_synth_bad_options_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "synth", "edsr", "--blocks", "0", "--scale", "8", "-o", str(tmp_path / "x.pb")]) == 2
    err = capsys.readouterr().err
    assert "--blocks 0: must be an integer >= 1" in err and "--scale 8" in err
    assert main(["models", "synth", "espcn", "-o", str(tmp_path / "x.pb")]) == 2
    assert list(tmp_path.iterdir()) == []
