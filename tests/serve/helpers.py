"""Helpers of the `sropt serve` tests: the served names, images, and the `sropt upscale` reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np

TINY_PB, TINY_ONNX, DEMO = "edsr_b2f16_x3", "edsr_b2f16_x3_onnx", "EDSR-T91-b8f64_x3"
# B=2 EDSR: receptive field 1 (head) + 2*2 (blocks) + 1 (tail) + 1 (last conv) = 7 LR px, the least overlap allowed.
TINY_MARGIN = 7


def png(img: np.ndarray) -> bytes:
    """PNG bytes of an array as OpenCV writes it (uint8/uint16, 1, 3 or 4 channels)."""
    import cv2

    return cv2.imencode(".png", img)[1].tobytes()


def decoded(body: bytes) -> np.ndarray:
    """The array of an encoded response body."""
    import cv2

    return cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_UNCHANGED)


def random_image(h: int, w: int, seed: int, channels: int = 3, dtype=np.uint8) -> np.ndarray:
    """Uniform random pixels over the dtype's range; ``channels`` 1 gives a 2-D (gray) image."""
    top = np.iinfo(dtype).max + 1
    shape = (h, w) if channels == 1 else (h, w, channels)
    return np.random.default_rng(seed).integers(0, top, shape, dtype=dtype)


def sropt_upscale(model: Path, image: Path, out: Path, tile: int | None = None, overlap: int | None = None) -> bytes:
    """The bytes `sropt upscale MODEL IMAGE -o OUT [--tile --overlap]` writes (its library call, in-process)."""
    from sropt.validate.upscale import upscale_files

    return upscale_files(model, [image], out, tile=tile, overlap=overlap, isolate=False)[0].read_bytes()


class WatchedRunner:
    """A loaded runner that counts its model calls and, while ``gate`` is clear, holds each call (a busy model)."""

    def __init__(self, inner) -> None:
        import threading

        self.inner, self.calls, self.gate = inner, 0, threading.Event()
        self.gate.set()

    @property
    def artifact(self):
        return self.inner.artifact

    def predict(self, x):
        self.calls += 1
        assert self.gate.wait(60), "the test never released the model"
        return self.inner.predict(x)


def watched(models: dict, name: str) -> tuple[dict, WatchedRunner]:
    """``{name: models[name]}`` with its runner wrapped in a WatchedRunner (the shared model is not touched)."""
    import dataclasses
    import threading

    runner = WatchedRunner(models[name].runner)
    return {name: dataclasses.replace(models[name], runner=runner, lock=threading.Lock())}, runner


def metric_samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, parsed by prometheus_client's own text parser."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}
