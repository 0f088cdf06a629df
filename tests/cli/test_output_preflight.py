"""Checks run before the work (issue 20, item 2): prune, export and quantize refuse an unwritable
or input output path, and prune an unknown --eval set, with exit 2 before any conversion.

The work each command would do first is replaced by a function that fails
the test, so exit 2 proves the refusal came before it. Unwritable means a
file where a folder is needed (root, which CI containers use, ignores
permission bits; tests/core/test_atomic.py covers a 0500 folder as non-root).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sropt.cli import main
from sropt.models.synth import write_synthetic_edsr


@pytest.fixture(scope="module")
def tiny_pb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "edsr_b2f16.pb"
    write_synthetic_edsr(out, blocks=2, filters=16, scale=3, seed=0, quantize_weights=False)
    return out


def _no_work(*_args, **_kwargs):
    raise AssertionError("the work started before the output was checked")


@pytest.mark.parametrize(
    "patch, argv",
    [
        ("sropt.prune.stage.fold_dequantize", ["prune", "{pb}", "--ratio", "0.25", "-o", "{blocked}/p.pb"]),
        ("sropt.convert.onnx_export.convert_to_onnx", ["export", "{pb}", "--to", "onnx", "-o", "{blocked}/x.onnx"]),
        ("sropt.convert.tflite_export.make_converter", ["export", "{pb}", "--to", "tflite", "-o", "{blocked}/x.tflite"]),
        ("sropt.quantize.calibration.load_calibration_inputs", ["quantize", "{pb}", "--to", "tflite", "--mode", "int8", "-o", "{blocked}/q.tflite"]),
    ],
)
def test_unwritable_output_is_exit_2_before_the_work(patch, argv, tiny_pb, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(patch, _no_work)
    blocked = tmp_path / "afile"
    blocked.write_text("x")
    code = main([a.format(pb=tiny_pb, blocked=blocked) for a in argv])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    assert f"{blocked} is a file, not a folder" in err


def test_output_over_the_input_is_refused_before_the_work(tiny_pb, tmp_path, monkeypatch, capsys):
    src = tmp_path / "m.pb"
    src.write_bytes(tiny_pb.read_bytes())
    monkeypatch.setattr("sropt.convert.tflite_export.make_converter", _no_work)
    assert main(["export", str(src), "--to", "tflite", "-o", str(src)]) == 2
    assert f"{src}: output would overwrite the input model {src}" in " ".join(capsys.readouterr().err.split())
    # quantize --to onnx refuses -o INPUT before it even reads the model (a 60 s INT8 conversion used to come first).
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"not read")
    assert main(["quantize", str(onnx), "--to", "onnx", "--mode", "int8", "-o", str(onnx)]) == 2
    assert f"{onnx}: output would overwrite the input model {onnx}" in " ".join(capsys.readouterr().err.split())
    assert src.read_bytes() == tiny_pb.read_bytes() and onnx.read_bytes() == b"not read"


def test_prune_unknown_eval_set_is_refused_before_calibration_and_search(tiny_pb, tmp_path, monkeypatch, capsys):
    # The eval set used to be read after the sensitivity scan and budget search.
    monkeypatch.setattr("sropt.prune.stage.fold_dequantize", _no_work)
    code = main(["prune", str(tiny_pb), "--ratio", "0.25", "--max-psnr-drop", "0.3", "--eval", "Set99", "-o", str(tmp_path / "p.pb")])
    assert code == 2
    assert "--eval Set99: no such folder" in " ".join(capsys.readouterr().err.split())


def test_models_synth_unwritable_output_is_exit_2_before_the_build(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sropt.models.synth.build_edsr_graph", _no_work)
    (tmp_path / "afile").write_text("x")
    assert main(["models", "synth", "edsr", "-B", "2", "-F", "16", "-o", str(tmp_path / "afile" / "m.pb")]) == 2
    assert f"{tmp_path / 'afile'} is a file, not a folder" in " ".join(capsys.readouterr().err.split())
