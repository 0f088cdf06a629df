"""OpenCV DNN runner: frozen graphs the way cv2.dnn_superres loads them, and ONNX files.

For a .pb, creating a ``DnnSuperResImpl`` first registers dnn_superres's
DepthToSpace layer (plain ``readNetFromTensorflow`` fails on it otherwise,
FACTS.md §3); the TF importer then takes NCHW blobs. For .onnx the net
keeps the ONNX model's own input layout (NHWC for tf2onnx exports of the
zoo). Pre/post-processing is the artifact's contract, which reproduces
``DnnSuperResImpl::upsample`` (checked in tests/validate/test_runners.py).

Load options (``Runner.load(..., options=)``; defaults are OpenCV's own):

* ``engine``: ``auto`` | ``classic`` | ``new`` (OpenCV 5's DNN engines;
  default auto: the new engine, falling back to classic);
* ``backend``: ``default`` | ``opencv``; ``target``: ``cpu`` | ``cpu_fp16``.
"""

from __future__ import annotations

import numpy as np

from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.errors import InputError
from sropt.validate.runners.base import Runner, register_runner

_ENGINES = {"auto": "ENGINE_AUTO", "classic": "ENGINE_CLASSIC", "new": "ENGINE_NEW"}
_BACKENDS = {"default": "DNN_BACKEND_DEFAULT", "opencv": "DNN_BACKEND_OPENCV"}
_TARGETS = {"cpu": "DNN_TARGET_CPU", "cpu_fp16": "DNN_TARGET_CPU_FP16"}


def _cv_constant(cv2_dnn, table: dict[str, str], option: str, value: object) -> int:
    key = str(value).lower()
    if key not in table or not hasattr(cv2_dnn, table[key]):
        raise InputError(f"runtime 'opencv': {option} {value!r}; choose one of {', '.join(table)}.")
    return int(getattr(cv2_dnn, table[key]))


@register_runner("opencv")
class OpenCVRunner(Runner):
    """cv2.dnn for .pb (dnn_superres's importer path) and .onnx."""

    kinds = frozenset({ArtifactKind.FROZEN_GRAPH, ArtifactKind.ONNX})
    runtime_modules = ('cv2',)
    option_help = {
        "engine": "auto|classic|new (OpenCV default: auto)",
        "backend": "default|opencv",
        "target": "cpu|cpu_fp16",
    }

    def _load(self, artifact: Artifact, threads: int | None) -> None:
        import cv2

        if threads:
            cv2.setNumThreads(int(threads))
        o = self.options
        engine = () if "engine" not in o else (_cv_constant(cv2.dnn, _ENGINES, "engine", o["engine"]),)
        if artifact.kind is ArtifactKind.FROZEN_GRAPH:
            if not hasattr(cv2.dnn, "readNetFromTensorflow"):
                # OpenCV 5 dropped the TensorFlow importer; pyproject pins <5.
                raise InputError(
                    f"{artifact.path}: OpenCV {cv2.__version__} cannot read TensorFlow .pb graphs "
                    "(its TensorFlow importer was removed in 5.0); install "
                    "'opencv-contrib-python-headless>=4.9,<5' or validate the ONNX export instead."
                )
            cv2.dnn_superres.DnnSuperResImpl_create()  # registers DepthToSpace
            self._net = cv2.dnn.readNetFromTensorflow(str(artifact.path), "", *engine)
            self._nchw_input = True
        else:
            self._net = cv2.dnn.readNetFromONNX(str(artifact.path), *engine)
            self._nchw_input = _onnx_input_is_nchw(artifact)
        if "backend" in o:
            self._net.setPreferableBackend(_cv_constant(cv2.dnn, _BACKENDS, "backend", o["backend"]))
        if "target" in o:
            self._net.setPreferableTarget(_cv_constant(cv2.dnn, _TARGETS, "target", o["target"]))

    def _run(self, x_nhwc: np.ndarray) -> np.ndarray:
        blob = np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)) if self._nchw_input else x_nhwc
        self._net.setInput(blob)
        return np.asarray(self._net.forward())


def _onnx_input_is_nchw(artifact: Artifact) -> bool:
    """True when the ONNX graph input is [N,C,H,W] (C fixed, H/W dynamic or larger)."""
    import onnx

    model = onnx.load(str(artifact.path), load_external_data=False)
    dims = [d.dim_value if d.HasField("dim_value") else None for d in model.graph.input[0].type.tensor_type.shape.dim]
    channels = artifact.contract.input_channels
    return len(dims) == 4 and dims[1] == channels and dims[3] != channels
