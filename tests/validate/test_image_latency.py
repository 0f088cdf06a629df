"""Per-image latency costs one full-set inference per repeat: timed only when asked, or when images are the latency input."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from sropt.core.errors import ConfigError
from sropt.validate.config import ValidationConfig
from sropt.validate.evaluate import _timed_outputs

IDENTITY = SimpleNamespace(preprocess=lambda lr: lr)


def _calls_per_image(cfg: ValidationConfig) -> tuple[list[int], list]:
    images = [SimpleNamespace(lr=np.full((4, 4, 3), i, np.uint8)) for i in range(3)]
    calls: list[int] = []

    def model(x: np.ndarray) -> np.ndarray:
        calls.append(int(x[0, 0, 0]))
        return x

    latencies: list = []
    outputs = list(_timed_outputs(model, IDENTITY, SimpleNamespace(images=images), cfg, latencies))
    assert [int(o[0, 0, 0]) for o in outputs] == [0, 1, 2]  # one scored output per image, in order
    return [calls.count(i) for i in range(3)], latencies


def test_a_synthetic_headline_input_means_one_run_per_image() -> None:
    counts, latencies = _calls_per_image(ValidationConfig(repeats=5, bench_size=16))
    assert counts == [1, 1, 1] and latencies == [None, None, None]


def test_image_repeats_times_each_image_after_its_scored_run() -> None:
    counts, latencies = _calls_per_image(ValidationConfig(repeats=5, bench_size=16, image_repeats=2, warmup=1))
    assert counts == [3, 3, 3]  # the scored run doubles as warm-up, then 2 timed
    assert [lat["repeats"] for lat in latencies] == [2, 2, 2]


def test_dataset_images_as_the_latency_input_use_repeats() -> None:
    counts, latencies = _calls_per_image(ValidationConfig(repeats=4, bench_size=0, warmup=2))
    assert counts == [6, 6, 6]  # scored run + 1 more warm-up + 4 timed
    assert [lat["repeats"] for lat in latencies] == [4, 4, 4]


@pytest.mark.parametrize("kwargs", [{"image_repeats": -1}, {"image_repeats": 0, "bench_size": 0}])
def test_image_repeats_that_would_measure_nothing_are_refused(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match=f"image_repeats {kwargs['image_repeats']}"):
        ValidationConfig(**kwargs)
