"""`sropt serve` refuses to start on a broken model: every failure named, a nonzero exit, never a half-working server."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.serve_load import running_server
from tests.serve.helpers import TINY_PB


def _fixed_8x8_onnx(path: Path) -> Path:
    """A valid ONNX graph that loads but only takes 8x8 inputs, so the 12x16 start-up probe fails in ORT."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 8, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 3])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "fixed8", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_refuses_to_start_listing_every_broken_model(artifact_files, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not onnx at all")
    probe_fails = _fixed_8x8_onnx(tmp_path / "fixed8.onnx")
    # running_server polls /healthz until the process exits: a server that answered even once would not raise.
    with pytest.raises(RuntimeError) as failed:
        with running_server([str(artifact_files[TINY_PB]), str(corrupt), str(probe_fails)], tmp_path / "cache", cwd=tmp_path):
            pass
    msg = str(failed.value)
    assert msg.startswith("sropt serve exited 4 before answering /healthz")  # 4: a runtime failed (the probe)
    assert "not serving: 2 of 3 artifacts failed to load or probe-run" in msg
    assert "  - corrupt: corrupt.onnx: not a readable ONNX model" in msg or f"  - corrupt: {corrupt}: not a readable ONNX model" in msg
    assert "  - fixed8: " in msg and "Got: 12 Expected: 8" in msg
    assert "Traceback" not in msg and TINY_PB not in msg.split("not serving")[1]  # the good one is not blamed


def test_a_missing_model_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError) as failed:
        with running_server([str(tmp_path / "nope.pb")], tmp_path / "cache", cwd=tmp_path):
            pass
    msg = str(failed.value)
    assert msg.startswith("sropt serve exited 2 before answering /healthz")
    assert "nope.pb: no such file. Check the path, or give a registry name" in msg and "Traceback" not in msg
