"""`sropt inspect` through the real CLI entry point: JSON keys, exit codes, messages."""

from __future__ import annotations

import json

import pytest

from sropt.cli import main

REQUIRED_KEYS = {
    "family", "scale", "inputs", "outputs", "input_channels", "params",
    "macs_per_pixel", "weight_storage", "dequantize_nodes", "layers",
}
LAYER_KEYS = {"name", "kernel", "in_channels", "out_channels", "macs_per_pixel", "group"}


@pytest.mark.shared
def test_inspect_json(shared_models, capsys):
    assert main(["inspect", str(shared_models / "FSRCNN_x3.pb"), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert REQUIRED_KEYS <= facts.keys()
    assert (facts["family"], facts["scale"], facts["params"], facts["macs_per_pixel"]) == ("fsrcnn", 3, 8777, 8432)
    assert [layer["kernel"] for layer in facts["layers"]][:2] == [[5, 5], [1, 1]]
    assert all(LAYER_KEYS <= layer.keys() for layer in facts["layers"])


def test_inspect_missing_file_exit_code_and_message(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope.pb")]) == 2
    err = capsys.readouterr().err
    assert "nope.pb: no such file" in err and "Traceback" not in err


def test_help_lists_inspect(capsys):
    assert main(["--help"]) == 0
    assert "inspect" in capsys.readouterr().out
