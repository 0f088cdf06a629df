"""Trimmed activation ranges (sropt.quantize.ranges): the converter's model when nothing is trimmed, and
each hidden tensor's int8 range from TFLite's own calibrator run on one crop at a time."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest


def _prepared_and_crops(tmp_path: Path, count: int):
    from sropt.models.synth import write_synthetic_edsr
    from sropt.quantize.config import QuantizeConfig
    from sropt.quantize.tflite_quantize import prepare_for_mode
    from sropt.validate.calibration import CalibrationSet

    prepared = prepare_for_mode(write_synthetic_edsr(tmp_path / "e.pb", blocks=2, filters=8, scale=2, seed=0).path,
                                QuantizeConfig("tflite", "int8"))
    rng = np.random.default_rng(1)
    # Crops of different contrast, so the per-crop extremes differ and trimming moves the ranges.
    crops = [(rng.uniform(0, 255, (1, 16, 16, 3)) * rng.uniform(0.2, 1.0) - 110).astype(np.float32)
             for _ in range(count)]
    return prepared, CalibrationSet([], [], tmp_path, ["x"] * count, 16, 0, inputs=crops)


def _int8_converter(prepared, calib):
    from sropt.convert.tflite_export import make_converter
    from sropt.quantize.config import IOType, Mode
    from sropt.quantize.tflite_modes import CONFIGURERS

    converter = make_converter(prepared)
    CONFIGURERS[Mode.INT8](converter, calib, IOType.FLOAT)
    return converter


def _run(data: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data)
    index = interp.get_input_details()[0]["index"]
    interp.resize_tensor_input(index, x.shape)
    interp.allocate_tensors()
    interp.set_tensor(index, x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def _scales(data: bytes) -> dict[bytes, float]:
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(data)
    return {t.name: float(t.quantization.scale[0]) for t in model.subgraphs[0].tensors
            if t.type == 9 and t.quantization is not None and t.quantization.scale is not None
            and len(t.quantization.scale) == 1}  # 9: TensorType.INT8, per-tensor (activations)


def test_fewer_than_16_crops_trim_nothing_and_give_the_converters_model(tmp_path: Path) -> None:
    from sropt.quantize.config import IOType, Mode
    from sropt.quantize.ranges import convert_trimmed, trim_count
    from sropt.quantize.tflite_modes import convert_mode

    prepared, calib = _prepared_and_crops(tmp_path, 8)
    assert trim_count(8) == 0 and trim_count(15) == 0 and trim_count(16) == 1 and trim_count(64) == 4
    own = convert_mode(prepared, Mode.INT8, calib, IOType.FLOAT)
    trimmed, record = convert_trimmed(_int8_converter(prepared, calib), calib, "e.pb")
    assert record["ignored_crops_per_end"] == 0
    x = np.random.default_rng(2).uniform(-110, 145, (1, 13, 17, 3)).astype(np.float32)  # H != W
    np.testing.assert_array_equal(_run(trimmed, x), _run(own, x))
    assert _scales(trimmed) == pytest.approx(_scales(own), rel=1e-6)


def test_hidden_ranges_ignore_the_most_extreme_crop_as_tflites_calibrator_measures_it(tmp_path: Path) -> None:
    """16 crops: each hidden tensor's int8 scale is (2nd largest max - 2nd smallest min) / 255 over the crops,
    the per-crop values coming from TFLite's calibrator run on each crop alone; image-valued tensors keep min/max."""
    from tensorflow.lite.tools import flatbuffer_utils

    from sropt.quantize.config import IOType, Mode
    from sropt.quantize.ranges import convert_trimmed, image_valued_tensors
    from sropt.quantize.tflite_modes import convert_mode

    prepared, calib = _prepared_and_crops(tmp_path, 16)
    per_crop = []
    for x in calib.inputs:
        one = dataclasses.replace(calib, inputs=[x])
        converter = _int8_converter(prepared, one)
        converter._experimental_calibrate_only = True
        model = flatbuffer_utils.convert_bytearray_to_object(converter.convert())
        per_crop.append({t.name: (float(t.quantization.min[0]), float(t.quantization.max[0]))
                         for t in model.subgraphs[0].tensors
                         if t.quantization is not None and t.quantization.min is not None and len(t.quantization.min) == 1})
    full = set(image_valued_tensors(model))
    names = [t.name for t in model.subgraphs[0].tensors]
    image_names = {names[i] for i in full}

    trimmed, record = convert_trimmed(_int8_converter(prepared, calib), calib, "e.pb")
    own = _scales(convert_mode(prepared, Mode.INT8, calib, IOType.FLOAT))
    got = _scales(trimmed)
    trimmed_names = {n.encode() for n in record["trimmed"]}
    # head conv, the two block convs before ReLU, the trunk Adds; not a block's residual branch,
    # to which the calibrator gives the Add output's range
    assert record["ignored_crops_per_end"] == 1 and len(trimmed_names) >= 5
    assert not trimmed_names & image_names
    for name in image_names & set(got):
        assert got[name] == pytest.approx(own[name], rel=1e-6), name
    for name in trimmed_names:
        lows = sorted(c[name][0] for c in per_crop)
        highs = sorted(c[name][1] for c in per_crop)
        expected = (max(highs[-2], 0.0) - min(lows[1], 0.0)) / 255
        assert got[name] == pytest.approx(expected, rel=1e-4), name
        assert got[name] < own[name]  # narrower than min/max: the extreme crop was ignored


@pytest.mark.parametrize(("options", "crops", "why"), [
    ({"io": "uint8"}, 16, "integer I/O or a fixed shape: not measured"),
    ({}, 15, "fewer than 16 calibration crops"),
])
def test_ranges_stay_min_max_where_they_are_not_measured(tmp_path: Path, options, crops, why) -> None:
    from sropt.quantize.config import QuantizeConfig
    from sropt.quantize.ranges import choose_ranges

    prepared, calib = _prepared_and_crops(tmp_path, crops)
    minmax = b"the converter's own model"  # returned as it is: nothing converted, nothing measured
    data, record = choose_ranges(prepared, calib, QuantizeConfig("tflite", "int8", **options), minmax)
    assert data is minmax and record == {"method": "min/max", "why": why}
