"""GPTQ weight rounding: exact patches, the converter's own grid, and less output error than nearest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def _layer(ksize, strides=(1, 1), dilations=(1, 1), padding="SAME"):
    from sropt.quantize.rounding import RoundingLayer

    return RoundingLayer("conv", "x", "w", ksize, strides, dilations, padding)


@pytest.mark.parametrize(
    "ksize,strides,dilations,padding,hw",
    [
        ((3, 3), (1, 1), (1, 1), "SAME", (9, 11)),
        ((5, 5), (1, 1), (1, 1), "SAME", (8, 8)),
        ((1, 1), (1, 1), (1, 1), "SAME", (4, 5)),
        ((3, 3), (2, 2), (1, 1), "SAME", (9, 10)),
        ((4, 4), (3, 3), (1, 1), "SAME", (10, 11)),
        ((3, 2), (1, 1), (2, 2), "SAME", (9, 10)),
        ((3, 3), (2, 1), (1, 1), "VALID", (9, 10)),
    ],
)
def test_patches_times_filter_is_the_conv(ksize, strides, dilations, padding, hw) -> None:
    """The rows GPTQ's H is built from are exactly what TensorFlow's conv multiplies."""
    import tensorflow as tf

    from sropt.quantize.rounding import patches

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, *hw, 3)).astype(np.float32)
    w = rng.normal(size=(*ksize, 3, 4)).astype(np.float32)
    ref = tf.nn.conv2d(x, w, [1, *strides, 1], padding, dilations=[1, *dilations, 1]).numpy()
    got = patches(x, _layer(ksize, strides, dilations, padding)) @ w.reshape(-1, 4)
    np.testing.assert_allclose(got.reshape(ref.shape), ref, rtol=0, atol=1e-5)


def _weights(seed: int = 0, shape=(3, 3, 4, 6)) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.1, shape).astype(np.float32)


def test_gptq_lands_on_the_converters_grid_with_the_same_scales() -> None:
    from sropt.quantize.rounding import int8_weight_scales, gptq_round

    w = _weights()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4000, 36))
    x[:, 1:] += 0.9 * x[:, :1]  # strongly correlated inputs: GPTQ moves weights a lot
    q = gptq_round(w, x.T @ x / len(x))
    scale = int8_weight_scales(w)
    np.testing.assert_array_equal(int8_weight_scales(q), scale)  # the converter recomputes the same scales...
    k = q.reshape(-1, 6) / scale
    np.testing.assert_allclose(k, np.rint(k), rtol=0, atol=1e-4)  # ...and finds integers on them
    assert np.abs(np.rint(k)).max() == 127
    assert not np.array_equal(np.rint(k), np.rint(w.reshape(-1, 6) / scale))  # not plain nearest


def test_gptq_with_uncorrelated_inputs_is_nearest_rounding() -> None:
    """H diagonal: no error can be moved onto other weights, so GPTQ must equal round-to-nearest."""
    from sropt.quantize.rounding import int8_weight_scales, gptq_round

    w = _weights()
    scale = int8_weight_scales(w)
    nearest = np.rint(w / scale) * scale
    q = gptq_round(w, np.diag(np.linspace(0.5, 2.0, 36)))
    np.testing.assert_allclose(q, nearest, rtol=0, atol=1e-7)


def test_gptq_output_error_is_below_nearest_on_correlated_inputs() -> None:
    from sropt.quantize.rounding import int8_weight_scales, gptq_round

    w = _weights(2)
    rng = np.random.default_rng(3)
    smooth = rng.normal(size=(20000, 1)) + 0.3 * rng.normal(size=(20000, 36))  # like a smooth image's patches
    h = smooth.T @ smooth / len(smooth)
    scale = int8_weight_scales(w)
    err = lambda q: float(np.mean(((smooth @ (w - q).reshape(36, 6)) ** 2)))  # noqa: E731
    nearest, gptq = err(np.rint(w / scale) * scale), err(gptq_round(w, h))
    assert gptq < 0.5 * nearest  # measured: 0.06x


def test_tflite_int8_filters_are_gptqs_integers(tmp_path: Path) -> None:
    """After conversion, every conv's int8 filter and per-channel scale are the ones GPTQ chose."""
    import dataclasses

    from sropt.convert.graph_index import GraphIndex
    from sropt.models.synth import write_synthetic_edsr
    from sropt.quantize.calibration import CalibrationSet
    from sropt.quantize.config import IOType, Mode, QuantizeConfig
    from sropt.quantize.rounding import int8_weight_scales, find_layers, round_weights
    from sropt.quantize.tflite_quantize import convert_mode, prepare_for_mode

    prepared = prepare_for_mode(write_synthetic_edsr(tmp_path / "e.pb", blocks=2, filters=8, scale=2, seed=0).path,
                                QuantizeConfig("tflite", "int8"))
    rng = np.random.default_rng(0)
    crops = [rng.uniform(0, 255, (1, 16, 16, 3)).astype(np.float32) - 110 for _ in range(4)]
    graph_def, record = round_weights(prepared.graph_def, prepared.input_name, crops)
    layers = find_layers(prepared.graph_def)
    assert record["layers"] == [layer.conv for layer in layers] and len(layers) == 7  # head, 2x2 block convs, body, upsampler, tail
    calib = CalibrationSet([], [], tmp_path, ["x"] * 4, 16, 0, inputs=crops)
    data = convert_mode(dataclasses.replace(prepared, graph_def=graph_def), Mode.INT8, calib, IOType.FLOAT)

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # Without XNNPACK, which repacks constant filters and frees the originals.
    interp = Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    filters = [d for d in interp.get_tensor_details() if d["dtype"] == np.int8 and len(d["shape"]) == 4]
    found = {}
    for d in filters:
        q = interp.get_tensor(d["index"]).astype(np.int64)  # OHWI
        found.setdefault(tuple(d["shape"]), []).append((q, d["quantization_parameters"]["scales"]))
    index = GraphIndex(graph_def)
    for layer in layers:
        w = index.const_value(layer.weight)  # HWIO, GPTQ-rounded
        scale = int8_weight_scales(w)
        expected = np.rint(np.transpose(w, (3, 0, 1, 2)) / scale[:, None, None, None]).astype(np.int64)
        matches = [s for q, s in found[tuple(expected.shape)] if np.array_equal(q, expected)]
        assert matches, f"{layer.conv}: the converter changed GPTQ's integers"
        # Same scales up to one factor per layer: the converter folds EDSR's residual Mul 0.1 into the filter.
        ratio = matches[0] / scale
        assert ratio.min() in (pytest.approx(1.0, rel=1e-5), pytest.approx(0.1, rel=1e-5))
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)


def test_weight_rounding_option_is_validated() -> None:
    from sropt.core.errors import InputError
    from sropt.quantize.config import QuantizeConfig

    assert QuantizeConfig("tflite", "int16x8", weight_rounding="GPTQ").weight_rounding == "gptq"
    with pytest.raises(InputError, match="choose auto"):
        QuantizeConfig("tflite", "int8", weight_rounding="stochastic")
    with pytest.raises(InputError, match="int8 or int16x8 only"):
        QuantizeConfig("tflite", "dynamic", weight_rounding="gptq")
    with pytest.raises(InputError, match="int8 or int16x8 only"):
        QuantizeConfig("onnx", "int8", weight_rounding="nearest")


def test_moments_of_an_equalized_graph_are_derived_exactly(tmp_path: Path) -> None:
    """The search measures GPTQ's moments once; D H D must equal measuring them on the equalized graph."""
    from types import SimpleNamespace

    from sropt.models.synth import write_synthetic_edsr
    from sropt.quantize.config import QuantizeConfig
    from sropt.quantize.equalize import channel_ranges, equalize_graph, find_sites
    from sropt.quantize.rounding import find_layers, input_moments
    from sropt.quantize.tflite_quantize import prepare_for_mode
    from sropt.quantize.weights import _Search

    prepared = prepare_for_mode(write_synthetic_edsr(tmp_path / "e.pb", blocks=2, filters=8, scale=2, seed=0).path,
                                QuantizeConfig("tflite", "int8"))
    rng = np.random.default_rng(0)
    crops = [rng.uniform(0, 255, (1, 12, 14, 3)).astype(np.float32) - 110 for _ in range(3)]
    sites = find_sites(prepared.graph_def)
    ranges = channel_ranges(prepared.graph_def, prepared.input_name, sites, crops)
    scales: list = []
    equalized = equalize_graph(prepared.graph_def, sites, ranges, [0.75, None], scales=scales)
    assert scales[0] is not None and scales[1] is None and not np.allclose(scales[0], 1.0)

    search = object.__new__(_Search)
    search.prepared, search.sites, search.calib = prepared, sites, SimpleNamespace(inputs=crops)
    search._layers = search.measured_moments = None
    derived = search.moments(scales)
    measured = input_moments(equalized, prepared.input_name, find_layers(equalized), crops)
    assert len(derived) == len(measured) == 7
    for d, m in zip(derived, measured):
        np.testing.assert_allclose(d, m, rtol=1e-4, atol=1e-6 * np.abs(m).max())
    changed = [not np.allclose(d, b) for d, b in zip(derived, search.moments([None, None]))]
    assert changed.count(True) == 1  # only block0's second conv reads the equalized channels


@pytest.mark.parametrize(
    "settings,rounding,alpha",
    [({}, "nearest", None), ({"weight_rounding": "gptq"}, "gptq", None), ({"equalize": "0.75"}, "nearest", 0.75)],
)
def test_models_too_big_to_measure_keep_given_settings_only(
    settings: dict, rounding: str, alpha, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above AUTO_MAX_MACS_PER_PIXEL nothing is measured: an auto setting falls back to plain, a given one applies."""
    from sropt.models.synth import write_synthetic_edsr
    from sropt.quantize import weights
    from sropt.quantize.calibration import CalibrationSet
    from sropt.quantize.config import QuantizeConfig
    from sropt.quantize.tflite_quantize import prepare_for_mode

    config = QuantizeConfig("tflite", "int8", **settings)
    prepared = prepare_for_mode(write_synthetic_edsr(tmp_path / "e.pb", blocks=2, filters=8, scale=2, seed=0).path, config)
    monkeypatch.setattr(weights, "AUTO_MAX_MACS_PER_PIXEL", 0)
    rng = np.random.default_rng(0)
    calib = CalibrationSet([], [], tmp_path, ["x"], 12, 0, inputs=[rng.uniform(0, 255, (1, 12, 12, 3)).astype(np.float32) - 110])

    def no_measuring(*args, **kwargs):
        raise AssertionError("a candidate was measured")

    monkeypatch.setattr(weights._Search, "measure", no_measuring)
    outcome = weights.prepare_weights(prepared, calib, config)
    record = outcome.record
    assert record["chosen_by"] == "fallback" and outcome.converted is None
    assert record["chosen"]["weight_rounding"] == rounding and record["chosen"]["equalize"] == alpha
    assert ("rounding" in record) == (rounding == "gptq")
    assert any("not measured" in note for note in record["notes"])
    same = outcome.prepared.graph_def.SerializeToString() == prepared.graph_def.SerializeToString()
    assert same == (not settings)
