"""Every .tflite sropt writes: lr_image/sr_image names and signature, TFLite metadata, contract in the sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sropt.core.contracts import DIV2K_MEAN_BGR


@pytest.fixture(scope="module")
def tiny_edsr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sropt.models.synth import write_synthetic_edsr

    path = tmp_path_factory.mktemp("edsr") / "edsr_b2f16_x3.pb"
    write_synthetic_edsr(path, blocks=2, filters=16, scale=3, seed=1)
    return path


def _raw_metadata(path: Path) -> dict[str, bytes]:
    """Name -> buffer bytes of the model's metadata entries, read with LiteRT's TFLite schema (not our reader)."""
    from ai_edge_litert import schema_py_generated as fb

    data = path.read_bytes()
    model = fb.Model.GetRootAs(data, 0)
    entries = {}
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        entries[entry.Name().decode()] = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    return entries


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.resize_tensor_input(0, list(x.shape), strict=False)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def test_names_signature_and_metadata_of_an_export(tiny_edsr: Path, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from sropt.convert.tflite_export import export_tflite
    from sropt.convert.tflite_metadata import read_metadata

    out = tmp_path / "edsr_x3.tflite"
    export_tflite(tiny_edsr, out)
    interp = Interpreter(model_path=str(out))
    assert interp.get_signature_list() == {"serving_default": {"inputs": ["lr_image"], "outputs": ["sr_image"]}}
    assert (interp.get_input_details()[0]["name"], interp.get_output_details()[0]["name"]) == ("lr_image", "sr_image")

    # Independent of our reader: LiteRT's schema finds a TFLITE_METADATA buffer with the
    # metadata schema's file identifier, next to the converter's own entries.
    raw = _raw_metadata(out)
    assert {"TFLITE_METADATA", "min_runtime_version", "CONVERSION_METADATA"} <= raw.keys()
    assert raw["TFLITE_METADATA"][4:8] == b"M001" and b"sropt_contract" in raw["TFLITE_METADATA"]

    meta = read_metadata(out.read_bytes())
    assert (meta["name"], meta["author"], meta["min_parser_version"]) == ("edsr_x3", "sropt", "1.5.0")
    assert meta["license"].startswith("Apache-2.0") and meta["version"].startswith("sropt ")
    lr = meta["tensors"]["lr_image"]
    # EDSR takes B,G,R minus the DIV2K mean: the schema has no BGR, so no colour space is claimed.
    assert lr["color_space"] == "UNKNOWN" and lr["std"] == [1.0, 1.0, 1.0]
    assert np.allclose(lr["mean"], DIV2K_MEAN_BGR, atol=1e-5)  # stored as float32
    contract = meta["contract"]
    assert (contract["name"], contract["scale"], contract["chroma"]) == ("bgr-div2k-mean", 3, None)
    assert contract["mean"] == list(DIV2K_MEAN_BGR)
    assert contract["io"]["input"] == {"name": "lr_image", "dtype": "float32", "shape": [1, -1, -1, 3]}


def test_names_and_metadata_leave_the_outputs_unchanged(tiny_edsr: Path, tmp_path: Path) -> None:
    from sropt.convert.tflite_export import make_converter, prepare_graph, run_converter

    prepared = prepare_graph(tiny_edsr)
    (tmp_path / "raw.tflite").write_bytes(run_converter(make_converter(prepared), tiny_edsr))
    from sropt.convert.tflite_export import export_tflite

    export_tflite(tiny_edsr, tmp_path / "named.tflite")
    x = np.random.default_rng(0).random((1, 10, 17, 3), dtype=np.float32) * 255.0 - 114.0
    raw, named = _run(tmp_path / "raw.tflite", x), _run(tmp_path / "named.tflite", x)
    assert named.shape == (1, 30, 51, 3) and np.array_equal(raw, named)  # same ops, same buffers: bit-identical


@pytest.mark.shared
def test_y_model_metadata_and_sidecar_contract(shared_models: Path, tmp_path: Path) -> None:
    from sropt.convert.tflite_export import export_tflite
    from sropt.convert.tflite_metadata import read_metadata

    out = tmp_path / "fsrcnn.tflite"
    export_tflite(shared_models / "FSRCNN_x3.pb", out, fixed_shape=(24, 32))
    meta = read_metadata(out.read_bytes())
    lr = meta["tensors"]["lr_image"]
    assert (lr["color_space"], lr["mean"], lr["std"]) == ("GRAYSCALE", [0.0], [255.0])  # Y / 255
    assert "YCrCb" in meta["contract"]["chroma"] and meta["contract"]["scale"] == 3
    side = json.loads((tmp_path / "fsrcnn.tflite.sropt.json").read_text())
    assert side["input_name"] == "lr_image" and side["output_name"] == "sr_image"
    assert side["contract"]["io"]["input"]["shape"] == [1, 24, 32, 1]
    assert side["contract"]["io"]["output"]["shape"] == [1, 72, 96, 1]
    assert side["contract"]["std"] == [255.0] and side["contract"] == {**meta["contract"]}


@pytest.mark.shared
def test_int8_uint8_io_metadata_states_scale_and_zero_point(tiny_edsr: Path, datasets: Path, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from sropt.convert.tflite_metadata import read_metadata
    from sropt.quantize.config import CalibrationConfig, QuantizeConfig
    from sropt.quantize.tflite_quantize import quantize_tflite

    config = QuantizeConfig("tflite", "int8", io="uint8", calibration=CalibrationConfig(datasets / "T91", calib_count=4),
                            equalize="off", weight_rounding="nearest")
    out = tmp_path / "q.tflite"
    quantize_tflite(tiny_edsr, out, config)
    interp = Interpreter(model_path=str(out))
    detail = interp.get_input_details()[0]
    io = read_metadata(out.read_bytes())["contract"]["io"]["input"]
    assert io["dtype"] == "uint8" and detail["name"] == "lr_image"
    assert (io["scale"], io["zero_point"]) == (pytest.approx(float(detail["quantization"][0])), int(detail["quantization"][1]))
    assert "zero point" in read_metadata(out.read_bytes())["tensors"]["lr_image"]["description"]
