"""ONNX Runtime runner (CPUExecutionProvider)."""

from __future__ import annotations

import numpy as np

from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.validate.runners.base import Runner, register_runner


@register_runner("ort")
class ORTRunner(Runner):
    """Runs an .onnx file with onnxruntime on the CPU."""

    kinds = frozenset({ArtifactKind.ONNX})

    def _load(self, artifact: Artifact, threads: int | None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(artifact.path), opts, providers=["CPUExecutionProvider"])
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        shape = list(inp.shape)
        channels = artifact.contract.input_channels
        self._nchw_input = len(shape) == 4 and shape[1] == channels and shape[3] != channels

    def _run(self, x_nhwc: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)) if self._nchw_input else x_nhwc
        return self._session.run(None, {self._input_name: x})[0]
