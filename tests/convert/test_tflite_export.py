"""Float32 TFLite export: TF parity, dynamic and fixed shapes, sidecar, converter errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sropt.core.errors import InputError, StageError

pytestmark = pytest.mark.shared

TOLERANCE = {3: 1e-3, 1: 1e-5}  # 0..255 scale for EDSR, 0..1 for Y models


@pytest.fixture(scope="module")
def tiny_edsr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sropt.models.synth import write_synthetic_edsr

    path = tmp_path_factory.mktemp("edsr") / "edsr_b2f16_x3.pb"
    write_synthetic_edsr(path, blocks=2, filters=16, scale=3, seed=1)
    return path


def _litert(path: Path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    inp = interp.get_input_details()[0]
    if list(inp["shape"]) != list(x.shape):
        interp.resize_tensor_input(inp["index"], list(x.shape), strict=False)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


@pytest.mark.parametrize("name", ["ESPCN_x3", "FSRCNN_x3", "FSRCNN-small_x3", "LapSRN_x2", "tiny-EDSR"])
def test_float32_tflite_matches_tf(name: str, shared_models: Path, tiny_edsr: Path, tmp_path: Path) -> None:
    from sropt.convert import load_frozen_graph
    from sropt.convert.tflite_export import export_tflite

    src = tiny_edsr if name == "tiny-EDSR" else shared_models / f"{name}.pb"
    artifact = export_tflite(src, tmp_path / "m.tflite")
    frozen = load_frozen_graph(src)
    c, s = frozen.info.input_channels, frozen.info.scale
    rng = np.random.default_rng(0)
    for h, w in [(12, 12), (10, 17)]:  # resized at run time; H != W catches a dim swap
        x = rng.random((1, h, w, c), dtype=np.float32)
        if c == 3:
            x = x * 255.0 - 114.0
        got = _litert(artifact.path, x)
        assert got.shape == (1, h * s, w * s, c)  # NHWC: the zoo's final Transpose is dropped
        assert np.abs(got - frozen.predict(x)).max() <= TOLERANCE[c]
    assert artifact.output_layout == "NHWC" and artifact.precision == "float32"


def test_fixed_shape_and_sidecar(tiny_edsr: Path, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from sropt.convert.tflite_export import export_tflite
    from sropt.core.artifacts import Artifact

    export_tflite(tiny_edsr, tmp_path / "m.tflite", fixed_shape=(8, 12))
    detail = Interpreter(model_path=str(tmp_path / "m.tflite")).get_input_details()[0]
    assert list(detail["shape_signature"]) == [1, 8, 12, 3]
    side = Artifact.from_sidecar(tmp_path / "m.tflite")
    assert side is not None and side.output_layout == "NHWC" and side.output_name == "sr_image"  # the file's name (issue 18)
    step = side.provenance[-1]
    assert step["mode"] == "float32" and step["fixed_shape"] == [8, 12]
    assert step["steps"] == [{"stage": "fold-dequantize", "nodes": 6}]


def test_dynamic_shape_signature(shared_models: Path, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from sropt.convert.tflite_export import export_tflite

    export_tflite(shared_models / "ESPCN_x3.pb", tmp_path / "m.tflite")
    detail = Interpreter(model_path=str(tmp_path / "m.tflite")).get_input_details()[0]
    assert list(detail["shape_signature"]) == [1, -1, -1, 1]


def test_parse_hw() -> None:
    from sropt.convert.tflite_export import parse_hw

    assert parse_hw("96x128") == (96, 128)
    assert parse_hw(None) is None
    for bad in ("96", "0x5", "axb", "-8x8", "8x-8", "1.5x8"):
        with pytest.raises(InputError, match="two positive integers HxW"):
            parse_hw(bad)
    with pytest.raises(InputError, match="^fixed_shape '0x0'"):
        parse_hw("0x0", option="fixed_shape")


def test_fixed_shape_checks_against_the_model(tiny_edsr: Path, tmp_path: Path) -> None:
    """Too large for memory and not a multiple of the model's downsampling: exit 2 before any conversion."""
    from sropt.convert import load_frozen_graph
    from sropt.convert.tflite_export import ARENA_FACTOR, activation_bytes, available_memory_bytes, check_fixed_shape, export_tflite

    info = load_frozen_graph(tiny_edsr).info
    # B2/F16 x3: the widest activation is the last conv's 3*3*3 = 27 channels at LR, beside
    # the F=16 trunk and the 3-channel x3 output (27 per LR pixel): 27 float32 values per pixel.
    assert activation_bytes(info, 10, 20) == ARENA_FACTOR * 4 * 10 * 20 * 27
    side = int((available_memory_bytes() / (ARENA_FACTOR * 4 * 27)) ** 0.5) + 100
    with pytest.raises(InputError, match=rf"--fixed-shape {side}x{side}: .* MiB available"):
        check_fixed_shape((side, side), info)
    with pytest.raises(InputError, match="two positive integers|HxW"):
        export_tflite(tiny_edsr, tmp_path / "m.tflite", fixed_shape=(0, 8))
    assert not list(tmp_path.iterdir())


def test_converter_failure_names_every_unsupported_op(tiny_edsr: Path, tmp_path: Path) -> None:
    from sropt.convert.graph import read_graph_def
    from sropt.convert.tflite_export import export_tflite

    gd = read_graph_def(tiny_edsr)
    d2s = next(n for n in gd.node if n.op == "DepthToSpace")
    lg = gd.node.add(name="odd/BesselI0e", op="BesselI0e", input=[d2s.input[0]])
    lg.attr["T"].type = 1
    dg = gd.node.add(name="odd/Digamma", op="Digamma", input=[lg.name])
    dg.attr["T"].type = 1
    d2s.input[0] = dg.name
    bad = tmp_path / "odd.pb"
    bad.write_bytes(gd.SerializeToString())
    with pytest.raises(StageError) as info:
        export_tflite(bad, tmp_path / "m.tflite")
    assert "unsupported op: Digamma" in str(info.value) and "unsupported op: BesselI0e" in str(info.value)
    assert not list(tmp_path.glob("*.tflite*")) and not list(tmp_path.glob(".m.tflite*"))


def test_fixed_shape_must_be_a_multiple_of_the_models_downsampling() -> None:
    """A conv whose output is at 1/2 of the input (a stride-2 layer) needs even H and W; the zoo needs none."""
    import dataclasses

    from sropt.convert.analysis import ConvLayer, GraphInfo
    from sropt.convert.tflite_export import check_fixed_shape, required_multiple
    from sropt.core.families import Family

    layer = ConvLayer("c", "w", (3, 3), 1, 8, 0, 1.0)
    info = GraphInfo(Family.ESPCN, 3, ["x"], ["y"], 1, 0, 0, "float32", 0, "y", [layer])
    assert required_multiple(info) == 1
    strided = dataclasses.replace(info, layers=[layer, dataclasses.replace(layer, resolution=0.5)])
    assert required_multiple(strided) == 2
    check_fixed_shape((64, 96), strided)
    with pytest.raises(InputError, match="--fixed-shape 63x96: .* multiples of 2; e.g. 62x96"):
        check_fixed_shape((63, 96), strided)
