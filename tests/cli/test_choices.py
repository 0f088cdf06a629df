"""The CLI explains its options: choices are listed, booleans are flags, the output option is `--out` everywhere."""

from __future__ import annotations


import pytest
from typer.testing import CliRunner

from sropt.cli import app, expand_hidden_aliases, main
from tests.cli.test_help_examples import LEAVES


def _choices(command: str, option: str) -> list[str]:
    """The choices click enforces for ``option`` of ``command`` (from the built click command, not our source)."""
    (cmd,) = [c for path, c in LEAVES if " ".join(path) == command]
    (param,) = [p for p in cmd.params if option in p.opts]
    return list(param.type.choices)


def test_choices_match_the_libraries() -> None:
    """Each listed set of choices is the one the library accepts (spelled out in the CLI so --help imports nothing).

    Runtimes are an open registry (a test or plug-in registers more), so
    `--runtime`/`--runtimes` name them in their help text instead.
    """
    from sropt.convert.onnx_export import Layout

    assert _choices("export", "--layout") == [e.value for e in Layout]
    assert _choices("export", "--to") == ["onnx", "tflite"]
    assert _choices("sweep", "--engine") == ["local", "ray"]
    from sropt.core.cpu_targets import CpuTarget
    from sropt.prune.config import Scope, WeightStore
    from sropt.prune.importance import IMPORTANCE
    from sropt.quantize.config import WEIGHT_ROUNDINGS, IOType, Mode, Target

    assert _choices("prune", "--scope") == [e.value for e in Scope]
    assert _choices("prune", "--store") == [e.value for e in WeightStore]
    assert _choices("prune", "--importance") == list(IMPORTANCE)
    assert _choices("quantize", "--to") == [e.value for e in Target]
    assert _choices("quantize", "--mode") == [e.value for e in Mode]
    assert _choices("quantize", "--io") == [e.value for e in IOType]
    assert _choices("quantize", "--weight-rounding") == list(WEIGHT_ROUNDINGS)
    assert _choices("quantize", "--target") == [e.value for e in CpuTarget]


@pytest.mark.parametrize("path", [p for p, _ in LEAVES], ids=lambda p: " ".join(p))
def test_help_shows_no_bool_metavar_and_one_output_name(path: tuple[str, ...]) -> None:
    help_text = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"}).output
    assert "<bool>" not in help_text
    (cmd,) = [c for p, c in LEAVES if p == path]
    for param in cmd.params:
        assert "--output" not in param.opts, f"sropt {' '.join(path)}: the output option is --out (--output is a hidden alias)"
        if "-o" in param.opts:
            assert "--out" in param.opts


def test_enum_like_options_list_their_choices() -> None:
    help_text = CliRunner().invoke(app, ["export", "--help"], env={"COLUMNS": "200"}).output
    assert "<onnx|tflite>" in help_text and "<nchw|nhwc>" in help_text


def test_output_alias_is_expanded() -> None:
    assert expand_hidden_aliases(["export", "m.pb", "--output", "a.onnx"]) == ["export", "m.pb", "--out", "a.onnx"]
    assert expand_hidden_aliases(["export", "--output=a.onnx"]) == ["export", "--out=a.onnx"]
    # after `--` everything is an argument, even a file called --output
    assert expand_hidden_aliases(["upscale", "m.pb", "-o", "d", "--", "--output"]) == ["upscale", "m.pb", "-o", "d", "--", "--output"]


def test_output_alias_reaches_the_command(tmp_path, capsys) -> None:
    """`--output` is accepted: the command runs and fails on the missing model, not on an unknown option."""
    assert main(["export", str(tmp_path / "missing.pb"), "--to", "onnx", "--output", str(tmp_path / "a.onnx")]) == 2
    err = capsys.readouterr().err
    assert "missing.pb" in err and "No such option" not in err


def test_bad_choice_names_the_choices(capsys) -> None:
    assert main(["sweep", "--engine", "dask"]) == 2
    assert "'dask' is not one of 'local', 'ray'" in capsys.readouterr().err
