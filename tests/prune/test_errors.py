"""Bad input gets one clear error naming the input and the remedy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sropt.cli import main
from sropt.convert import frozen_graph_from_def
from sropt.core.errors import InputError
from sropt.models.synth import build_edsr_graph
from sropt.prune import PruneConfig, prune_model


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5])
def test_ratio_outside_unit_interval(ratio: float) -> None:
    with pytest.raises(InputError, match=rf"--ratio {ratio}: must be in \[0, 1\)"):
        PruneConfig(ratio=ratio)


def test_bad_round_to_and_budget_are_collected_in_one_error() -> None:
    with pytest.raises(InputError) as err:
        PruneConfig(round_to=0, max_psnr_drop=-1, finetune_steps=-5)
    text = str(err.value)
    assert "--round-to 0" in text and "--max-psnr-drop -1" in text and "--finetune-steps -5" in text


def test_ratio_that_empties_a_group(shared_models: Path, tmp_path: Path) -> None:
    # FSRCNN-small's conv2.out has 5 channels: 5 * (1 - 0.95) = 0.25 rounds to 0 kept.
    with pytest.raises(InputError, match=r"ratio 0.95 would remove every channel of group 'conv2.out' \(5 channels\)"):
        prune_model(shared_models / "FSRCNN-small_x2.pb", PruneConfig(ratio=0.95, compensation="none"), tmp_path / "o.pb")
    assert not (tmp_path / "o.pb").exists()


def _edsr_with_unknown_op():
    import tensorflow as tf

    graph = build_edsr_graph(blocks=2, filters=16, scale=2, seed=0, quantize_weights=False)
    sq = graph.node.add(name="odd_square", op="Square", input=["Relu"])
    sq.attr["T"].type = tf.float32.as_datatype_enum
    for node in graph.node:
        if node.name == "Conv2D_2":
            node.input[0] = "odd_square"
    return frozen_graph_from_def(graph, Path("odd_edsr.pb"))


def test_unsupported_op_leaves_group_unpruned_with_a_note(tmp_path: Path) -> None:
    result = prune_model(_edsr_with_unknown_op(), PruneConfig(ratio=0.5, compensation="none"), tmp_path / "o.pb")
    assert result.notes == ["group block0.inner: left unpruned, the surgery does not understand odd_square (Square)"]
    kept = {g.name: (g.kept, g.status) for g in result.groups}
    assert kept["block0.inner"] == (16, "unsupported") and kept["block1.inner"] == (8, "pruned")


def test_unsupported_op_is_refused_when_strict(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot prune the requested group") as err:
        prune_model(_edsr_with_unknown_op(), PruneConfig(ratio=0.5, strict=True), tmp_path / "o.pb")
    assert "odd_square (Square)" in str(err.value)
    assert not (tmp_path / "o.pb").exists()


def test_no_prunable_group_in_scope(shared_models: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no prunable channel group in scope 'trunk'; prunable groups outside "
                                         r"scope 'trunk': conv1.out, conv2.out; try --scope all"):
        prune_model(shared_models / "ESPCN_x3.pb", PruneConfig(ratio=0.5, scope="trunk"), tmp_path / "o.pb")


def test_fixed_or_unknown_group_named_explicitly(shared_models: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no channel group named 'conv9.out'; the graph's groups are: input, conv1.out"):
        prune_model(shared_models / "ESPCN_x3.pb", PruneConfig(group_ratios={"conv9.out": 0.5}), tmp_path / "o.pb")
    with pytest.raises(InputError, match=r"group conv3.out: its channels are fixed \(feeds DepthToSpace DepthToSpace\)"):
        prune_model(shared_models / "ESPCN_x3.pb", PruneConfig(group_ratios={"conv3.out": 0.5}), tmp_path / "o.pb")


def test_output_must_not_overwrite_the_input(shared_models: Path, tmp_path: Path) -> None:
    src = tmp_path / "ESPCN_x3.pb"
    src.write_bytes((shared_models / "ESPCN_x3.pb").read_bytes())
    with pytest.raises(InputError, match="output would overwrite the input model"):
        prune_model(src, PruneConfig(ratio=0.25, compensation="none"), src)
    with pytest.raises(InputError, match="name the output \\*.pb"):
        prune_model(src, PruneConfig(ratio=0.25, compensation="none"), tmp_path / "o.onnx")


def test_cli_prints_json_and_inspect_sees_the_reduced_graph(shared_models: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "e.pb"
    assert main(["prune", str(shared_models / "ESPCN_x3.pb"), "--ratio", "0.5", "--compensation", "none",
                 "--json", "-o", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["schema_version"] == 1 and report["output"] == str(out)
    # conv1 5x5 1->32, conv2 3x3 32->16, conv3 3x3 16->9: written out from the kept counts.
    macs = 25 * 32 + 9 * 32 * 16 + 9 * 16 * 9
    assert report["after"]["macs_per_pixel"] == macs and report["before"]["macs_per_pixel"] == 22624
    assert main(["inspect", str(out), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["macs_per_pixel"] == macs and facts["params"] == macs + 32 + 16 + 9
    assert [layer["group"] for layer in facts["layers"]] == ["conv1.out", "conv2.out", "conv3.out"]


def test_cli_bad_input_exit_codes(shared_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = str(shared_models / "ESPCN_x3.pb")
    assert main(["prune", model, "--ratio", "1", "-o", str(tmp_path / "o.pb")]) == 2
    assert "--ratio 1.0: must be in [0, 1)" in capsys.readouterr().err
    assert main(["prune", model, "--ratio", "0.2", "--scope", "middle", "-o", str(tmp_path / "o.pb")]) == 2
    assert "'middle' is not one of 'inner', 'trunk', 'all'" in capsys.readouterr().err
    assert main(["prune", str(tmp_path / "missing.pb"), "--ratio", "0.2", "-o", str(tmp_path / "o.pb")]) == 2
    assert not (tmp_path / "o.pb").exists()
