"""LiteRT (TFLite) runner: float or integer I/O, dynamic input size.

Integer input/output tensors are (de)quantized with each tensor's own
(scale, zero_point), read from the interpreter, so float and full-INT8
models go through the same contract.

Load options (``Runner.load(..., options=)``; defaults are LiteRT's own):

* ``op_resolver``: ``auto`` (default: builtin kernels plus the default
  XNNPACK delegate) | ``builtin`` | ``builtin_ref`` |
  ``builtin_without_default_delegates`` (no XNNPACK);
* ``xnnpack_latest_features``: bool, LiteRT's
  ``experimental_default_delegate_latest_features``.
"""

from __future__ import annotations

import numpy as np

from sropt.convert.tflite_tensors import dequantize_tensor, quantize_tensor
from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.errors import InputError
from sropt.validate.runners.base import Runner, register_runner


@register_runner("tflite")
class TFLiteRunner(Runner):
    """Runs a .tflite file with ai_edge_litert's Interpreter."""

    kinds = frozenset({ArtifactKind.TFLITE})
    runtime_modules = ('ai_edge_litert.interpreter',)
    option_help = {
        "op_resolver": "auto|builtin|builtin_ref|builtin_without_default_delegates (LiteRT default: auto, with XNNPACK)",
        "xnnpack_latest_features": "true|false: experimental_default_delegate_latest_features",
    }

    def _load(self, artifact: Artifact, threads: int | None) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        extra = {}
        if "op_resolver" in self.options:
            name = str(self.options["op_resolver"]).upper()
            if name not in OpResolverType.__members__:
                choices = ", ".join(m.lower() for m in OpResolverType.__members__)
                raise InputError(f"runtime 'tflite': op_resolver {self.options['op_resolver']!r}; choose one of {choices}.")
            extra["experimental_op_resolver_type"] = OpResolverType[name]
        if "xnnpack_latest_features" in self.options:
            extra["experimental_default_delegate_latest_features"] = bool(self.options["xnnpack_latest_features"])
        self._interp = Interpreter(model_path=str(artifact.path), num_threads=int(threads) if threads else None, **extra)
        self._interp.allocate_tensors()
        self._shape: tuple[int, ...] | None = None

    def _run(self, x_nhwc: np.ndarray) -> np.ndarray:
        interp = self._interp
        inp = interp.get_input_details()[0]
        if self._shape != x_nhwc.shape:
            # Models converted with [1,None,None,C] resize; XNNPACK re-plans on allocate.
            interp.resize_tensor_input(inp["index"], list(x_nhwc.shape), strict=False)
            interp.allocate_tensors()
            self._shape = x_nhwc.shape
            inp = interp.get_input_details()[0]
        interp.set_tensor(inp["index"], quantize_tensor(x_nhwc, inp))
        interp.invoke()
        out = interp.get_output_details()[0]
        return dequantize_tensor(interp.get_tensor(out["index"]), out)
