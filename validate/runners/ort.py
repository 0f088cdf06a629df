"""ONNX Runtime runner (CPUExecutionProvider).

Load options (``Runner.load(..., options=)``; defaults are ORT's own):

* ``graph_optimization_level``: ``disable`` | ``basic`` | ``extended`` |
  ``layout`` | ``all`` (ORT default ``all``: constant folding, Conv+bias/
  activation fusion, NCHWc layout transformation for x86 convolutions);
* ``enable_cpu_mem_arena``: bool (default True);
* ``allow_spinning``: bool, intra-op worker threads spin between ops
  (``session.intra_op.allow_spinning``, default True);
* ``optimized_model_filepath``: write the graph ORT actually runs (after its
  fusions) there, to inspect what was fused.
"""

from __future__ import annotations

import numpy as np

from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.errors import InputError
from sropt.validate.runners.base import Runner, register_runner

_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
           "layout": "ORT_ENABLE_LAYOUT", "all": "ORT_ENABLE_ALL"}


@register_runner("ort")
class ORTRunner(Runner):
    """Runs an .onnx file with onnxruntime on the CPU."""

    kinds = frozenset({ArtifactKind.ONNX})
    runtime_modules = ('onnxruntime',)
    option_help = {
        "graph_optimization_level": "disable|basic|extended|layout|all (ORT default: all)",
        "enable_cpu_mem_arena": "true|false (ORT default: true)",
        "allow_spinning": "true|false: intra-op threads spin between ops (ORT default: true)",
        "optimized_model_filepath": "path: save the graph ORT runs after its fusions",
    }

    def _load(self, artifact: Artifact, threads: int | None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        o = self.options
        if "graph_optimization_level" in o:
            level = str(o["graph_optimization_level"]).lower()
            if level not in _LEVELS:
                raise InputError(f"runtime 'ort': graph_optimization_level {level!r}; choose one of {', '.join(_LEVELS)}.")
            opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[level])
        if "enable_cpu_mem_arena" in o:
            opts.enable_cpu_mem_arena = bool(o["enable_cpu_mem_arena"])
        if "allow_spinning" in o:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if o["allow_spinning"] else "0")
        if o.get("optimized_model_filepath"):
            opts.optimized_model_filepath = str(o["optimized_model_filepath"])
        self._session = ort.InferenceSession(str(artifact.path), opts, providers=["CPUExecutionProvider"])
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        shape = list(inp.shape)
        channels = artifact.contract.input_channels
        self._nchw_input = len(shape) == 4 and shape[1] == channels and shape[3] != channels

    def _run(self, x_nhwc: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)) if self._nchw_input else x_nhwc
        return self._session.run(None, {self._input_name: x})[0]
