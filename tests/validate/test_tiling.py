"""Tiled inference: spans, the receptive-field overlap rule, and tiled == whole-image output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sropt.core.errors import InputError
from sropt.validate.inference import upscale_image
from sropt.validate.resolve import open_artifact
from sropt.validate.runners import get_runner
from sropt.validate.tiling import Span, check_tiling, predict_tiled, tile_spans
from tests.graphs_tiny import TINY_GRAPHS, build_tiny_graph


def test_tile_spans_hand_computed() -> None:
    # Windows of 40 keep all but 8 px on each side with a neighbour; the last is moved back to end at 100.
    assert tile_spans(100, 40, 8) == [Span(0, 40, 0, 32), Span(24, 64, 32, 56), Span(48, 88, 56, 80), Span(60, 100, 80, 100)]
    assert tile_spans(30, 40, 8) == [Span(0, 30, 0, 30)]


@pytest.mark.parametrize("length,tile,overlap", [(257, 64, 16), (53, 20, 7), (41, 9, 4), (100, 17, 0), (65, 64, 6)])
def test_tile_spans_keep_a_partition_with_the_overlap_inside(length: int, tile: int, overlap: int) -> None:
    spans = tile_spans(length, tile, overlap)
    kept = [i for s in spans for i in range(s.keep_start, s.keep_stop)]
    assert kept == list(range(length))  # every pixel written exactly once, in order
    for s in spans:
        assert s.stop - s.start == min(tile, length)
        assert s.start == 0 or s.keep_start - s.start >= overlap
        assert s.stop == length or s.stop - s.keep_stop >= overlap


def test_check_tiling_defaults_to_the_margin_and_refuses_less() -> None:
    assert check_tiling(64, None, 19) == 19
    assert check_tiling(64, 24, 19) == 24
    with pytest.raises(InputError, match=r"--overlap 4: below the model's receptive field of 6 LR pixels.*use --overlap 6 or more"):
        check_tiling(48, 4, 6)
    with pytest.raises(InputError, match=r"--overlap -1: must be >= 0"):
        check_tiling(48, -1, 0)
    with pytest.raises(InputError, match=r"--tile 36: must be larger than twice the overlap \(18 LR pixels\); use --tile 72"):
        check_tiling(36, None, 18)


def _tf_predict(graph_def):
    from sropt.convert.graph import make_session, run_session

    sess = make_session(graph_def, 1)
    return sess, lambda x: run_session(sess, {"lr": x}, ["sr"])[0]


@pytest.mark.parametrize("name", sorted(TINY_GRAPHS))
def test_tiled_equals_whole_at_the_hand_margin_and_not_below(name: str) -> None:
    graph_def, scale, margin = build_tiny_graph(name)
    channels = TINY_GRAPHS[name][1]
    x = np.random.default_rng(1).normal(size=(1, 37, 53, channels)).astype(np.float32)  # H != W
    sess, predict = _tf_predict(graph_def)
    with sess:
        whole = predict(x)
        # Tile 2m+5: both axes tiled (core 5 px); tile 40: 37 < 40 < 53, so windows are 37x40 (non-square).
        for tile in (2 * margin + 5, 40):
            tiled = predict_tiled(predict, x, scale, tile, margin)
            assert tiled.shape == whole.shape
            assert np.abs(tiled - whole).max() <= 1e-4, (name, tile)
        # One pixel less keeps pixels that saw a tile edge's zero padding: the hand margin is also the minimum.
        short = predict_tiled(predict, x, scale, 2 * margin + 5, margin - 1)
        assert np.abs(short - whole).max() > 1e-3


def test_pointwise_model_needs_no_overlap() -> None:
    def model(x: np.ndarray) -> np.ndarray:  # nearest-neighbour x2 of 2x+1: no spatial context
        return np.repeat(np.repeat(2 * x + 1, 2, axis=1), 2, axis=2)

    x = np.random.default_rng(0).random((1, 37, 53, 3), dtype=np.float32)
    assert np.array_equal(predict_tiled(model, x, 2, 16, 0), model(x))


# Max |tiled - whole| in uint8 levels at the default overlap (the receptive field). A level can
# differ where float rounding puts a value near .5 (the runtimes' conv algorithms depend on the
# input size, and cv2.resize's chroma coordinates are float32 in the image frame).
@pytest.mark.shared
@pytest.mark.parametrize("model", ["FSRCNN_x3", "ESPCN_x3", "LapSRN_x4", "EDSR-T91-b8f64_x3"])
def test_zoo_tiled_matches_whole_within_one_level(shared_models: Path, datasets: Path, model: str) -> None:
    import cv2

    lr = np.ascontiguousarray(cv2.imread(str(datasets / "Set5" / "butterfly.png"))[::3, ::3][:, :80])  # 86x80
    runner = get_runner("opencv")().load(open_artifact(shared_models / f"{model}.pb").artifact, 2)
    whole = upscale_image(runner, lr)
    for tile in (48, 64):  # both axes tiled: 86x80 LR in windows of 48x48 or 64x64
        tiled = upscale_image(runner, lr, tile=tile)
        assert tiled.shape == whole.shape
        assert np.abs(tiled.astype(np.int16) - whole).max() <= 1, (model, tile)


@pytest.mark.shared
@pytest.mark.parametrize("runtime,kind", [("tflite", "tflite"), ("ort", "onnx")])
def test_exported_fsrcnn_tiled_matches_whole(exported: dict, lr_image: np.ndarray, runtime: str, kind: str) -> None:
    runner = get_runner(runtime)().load(open_artifact(exported["FSRCNN_x3"][kind]).artifact, 2)
    whole = upscale_image(runner, lr_image)
    tiled = upscale_image(runner, lr_image, tile=20)  # 40x57: 3x3 tiles of 20 with overlap 6
    assert tiled.shape == whole.shape == (120, 171, 3)
    assert np.abs(tiled.astype(np.int16) - whole).max() <= 1


@pytest.mark.shared
def test_overlap_below_the_receptive_field_is_refused(shared_models: Path, lr_image: np.ndarray) -> None:
    runner = get_runner("opencv")().load(open_artifact(shared_models / "FSRCNN_x3.pb").artifact, 1)
    with pytest.raises(InputError, match=r"--overlap 0: below the model's receptive field of 6 LR pixels.*--overlap 6"):
        upscale_image(runner, lr_image, tile=24, overlap=0)


@pytest.mark.shared
def test_validate_refuses_a_low_overlap_before_running_anything(shared_models: Path) -> None:
    from sropt.validate.config import ValidationConfig
    from sropt.validate.evaluate import validate_artifacts

    cfg = ValidationConfig(runtimes=["opencv"], tile=48, overlap=2, isolate=False, repeats=1, bench_size=0)
    report = validate_artifacts([shared_models / "ESPCN_x3.pb"], cfg)
    assert [r.runtime for r in report.results] == ["-"]  # no runtime row ran
    assert "--overlap 2: below the model's receptive field of 4 LR pixels" in report.results[0].errors[0]
