"""The failures tests/fuzz found, end to end: exit 2 naming the node, never a signal or a traceback.

OpenCV segfaulted (exit 139 with --no-isolate, exit 4 with isolation) on
FSRCNN_x3.pb with a DepthToSpace that lost its input or a data_format that
is no layout name; tf2onnx and the TFLite converter raised TensorFlow's
importer ValueError as a traceback. The CLI runs in the fuzz worker, so a
regression fails this test instead of killing pytest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.harness import CliWorker, run_and_judge

pytestmark = pytest.mark.shared


def _corrupt_fsrcnn(shared_models: Path, out: Path, corrupt) -> Path:
    from tensorflow.core.framework.graph_pb2 import GraphDef

    graph = GraphDef()
    graph.ParseFromString((shared_models / "FSRCNN_x3.pb").read_bytes())
    corrupt(graph)
    out.write_bytes(graph.SerializeToString(deterministic=True))
    return out


def _no_depth_to_space_input(graph) -> None:
    del next(n for n in graph.node if n.op == "DepthToSpace").input[:]


def _bad_data_format(graph) -> None:
    next(n for n in graph.node if n.name == "conv6").attr["data_format"].s = b"\xff\xfe"


CRASHED_OPENCV = {
    "DepthToSpace without input": (_no_depth_to_space_input, "node 'DepthToSpace' (DepthToSpace) has 0 data input(s); DepthToSpace takes 1"),
    "data_format no layout": (_bad_data_format, "node 'conv6' (Conv2D): data_format b'\\xff\\xfe' is not one of"),
}


@pytest.mark.parametrize("case", list(CRASHED_OPENCV))
@pytest.mark.parametrize("command", ["validate", "upscale"])
def test_graph_that_crashed_opencv_is_refused_before_opencv_sees_it(case, command, worker: CliWorker, shared_models: Path,
                                                                    image_set: Path, tmp_path: Path) -> None:
    corrupt, problem = CRASHED_OPENCV[case]
    model = _corrupt_fsrcnn(shared_models, tmp_path / "m.pb", corrupt)
    if command == "validate":
        argv = ["validate", str(model), "-d", str(image_set), "-r", "opencv", "--repeats", "1", "--bench-size", "0",
                "--no-isolate", "-o", str(tmp_path / "report")]
    else:
        argv = ["upscale", str(model), str(image_set / "a.png"), "--runtime", "opencv", "--no-isolate", "-o", str(tmp_path / "sr.png")]
    outcome, problems = run_and_judge(worker.run, argv, [model, image_set], [tmp_path])
    assert not problems, "\n".join(problems)
    assert outcome.code == 2, outcome.stderr
    err = " ".join(outcome.stderr.split())
    assert f"{model}: not a usable frozen graph" in err and problem in err
    assert not (tmp_path / "report").exists() and not (tmp_path / "sr.png").exists()


@pytest.mark.parametrize("to", ["onnx", "tflite"])
def test_graph_tensorflow_refuses_is_exit_2_in_export_not_a_traceback(to, worker: CliWorker, shared_models: Path, tmp_path: Path) -> None:
    def wrong_alpha_length(graph) -> None:  # passes the structural checks, fails TensorFlow's shape inference
        alpha = next(n for n in graph.node if n.op == "Const" and [d.size for d in n.attr["value"].tensor.tensor_shape.dim] == [56])
        alpha.attr["value"].tensor.tensor_shape.dim[0].size = 28
        alpha.attr["value"].tensor.tensor_content = alpha.attr["value"].tensor.tensor_content[: 28 * 4]

    model = _corrupt_fsrcnn(shared_models, tmp_path / "m.pb", wrong_alpha_length)
    out = tmp_path / "out" / f"x.{to}"
    outcome, problems = run_and_judge(worker.run, ["export", str(model), "--to", to, "-o", str(out)], [model], [tmp_path])
    assert not problems, "\n".join(problems)
    assert outcome.code == 2, outcome.stderr
    err = " ".join(outcome.stderr.split())
    assert f"{model}: TensorFlow cannot import this graph (Dimensions must be equal" in err
    assert "with input shapes: [28], [?,?,?,56]" in err  # alpha7, cut to 28 of its 56 channels
    assert not out.exists()


@pytest.mark.parametrize("command", ["inspect", "validate"])
def test_onnx_whose_initializer_dims_do_not_match_its_data_is_exit_2(command, worker: CliWorker, seed_exports, image_set: Path,
                                                                      tmp_path: Path) -> None:
    # One flipped bit in fsrcnn.onnx made a weight declare 0 x 8 x 1 x 1 elements while holding 8:
    # numpy_helper.to_array raised "cannot reshape array of size 8" as a traceback (found by test_inspect_mutated_exports).
    import onnx

    model = onnx.load_from_string(seed_exports["fsrcnn.onnx"])
    weight = next(t for t in model.graph.initializer if len(t.dims) == 4)
    weight.dims[0] = 0
    path = tmp_path / "bad.onnx"
    path.write_bytes(model.SerializeToString())
    argv = ["inspect", str(path)] if command == "inspect" else [
        "validate", str(path), "-d", str(image_set), "--repeats", "1", "--bench-size", "0", "--no-isolate", "-o", str(tmp_path / "r")]
    outcome, problems = run_and_judge(worker.run, argv, [path], [tmp_path])
    assert not problems, "\n".join(problems)
    assert outcome.code == 2, outcome.stderr
    assert f"{path}: not a readable ONNX model (ValidationError: TensorProto (tensor name: {weight.name}) is 0-element but contains data" \
        in " ".join(outcome.stderr.split())


def test_onnx_with_an_attribute_onnx_does_not_know_is_exit_2_not_a_runtime_failure(worker: CliWorker, seed_exports,
                                                                                    tmp_path: Path) -> None:
    # A flipped bit turned Conv's "group" into "grout": ONNX Runtime refused the graph (exit 4, "could not load it");
    # the file is corrupt input, exit 2 (found by benchmarks/fuzz.py's byte-edited .onnx files).
    data = seed_exports["fsrcnn.onnx"]
    assert data.count(b"group") >= 1
    path = tmp_path / "bad.onnx"
    path.write_bytes(data.replace(b"group", b"grout", 1))
    outcome, problems = run_and_judge(worker.run, ["inspect", str(path), "--json"], [path], [tmp_path])
    assert not problems, "\n".join(problems)
    assert outcome.code == 2, outcome.stderr
    assert f"{path}: not a readable ONNX model (ValidationError: Unrecognized attribute: grout for operator Conv" in " ".join(outcome.stderr.split())
