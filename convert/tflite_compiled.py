"""LiteRT's ``CompiledModel`` API (ai-edge-litert 2.x): run a .tflite and ask which accelerators take it.

``CompiledModel.from_file(path, hardware_accel=HardwareAccelerator.X)`` compiles a model for
CPU (XNNPACK), GPU (LiteRT's ML Drift GPU accelerator; on Linux the WebGPU backend over
Vulkan) or NPU (a vendor dispatch library), or a set of them OR-ed together with CPU as the
fallback. What it did on this project's build machine (Intel Xeon, no GPU, ai-edge-litert 2.3):

* CPU: compiles every sropt artifact, ``is_fully_accelerated()`` true, outputs bit-identical
  to the ``Interpreter``'s (float and INT8, FSRCNN_x3 / ESPCN_x3 / the trained EDSR layout);
* GPU, GPU|CPU: fail to compile ("Failed to initialize WebGPU environment: No adapters found";
  with Mesa's lavapipe installed, Dawn still refused it for a missing Vulkan feature);
* NPU: fails (no vendor plugin: the bundled OpenVINO plugin needs libopenvino); NPU|CPU
  compiles and runs on the CPU.

``probe_accelerators`` records those outcomes per model, so a report says what could and
could not be exercised here instead of assuming.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SIGNATURE = 0  # every sropt .tflite has one signature (serving_default)


@dataclass(frozen=True)
class AcceleratorProbe:
    """Whether ``CompiledModel`` compiled the model for one accelerator set, and what it said."""

    accelerators: str  # e.g. "GPU|CPU"
    compiled: bool
    fully_accelerated: bool | None = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"accelerators": self.accelerators, "compiled": self.compiled,
                "fully_accelerated": self.fully_accelerated, "error": self.error}


def _accelerator(names: str):
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator

    flag = HardwareAccelerator(0)
    for name in names.split("|"):
        flag |= HardwareAccelerator[name]
    return flag


def compile_model(path: Path | str, accelerators: str = "CPU"):
    """``CompiledModel`` for ``path`` on ``accelerators`` (``"CPU"``, ``"GPU|CPU"``, ...)."""
    from ai_edge_litert.compiled_model import CompiledModel

    return CompiledModel.from_file(str(path), hardware_accel=_accelerator(accelerators))


def run_compiled(path: Path | str, x: np.ndarray, accelerators: str = "CPU") -> np.ndarray:
    """One run of ``path`` through ``CompiledModel`` on input ``x`` (already in the model's input dtype)."""
    model = compile_model(path, accelerators)
    key = next(iter(model.get_signature_list()))
    detail = next(iter(model.get_input_tensor_details(key).values()))
    if list(detail["shape"]) != list(x.shape):
        model.resize_input_tensor(0, list(x.shape), SIGNATURE, strict=False)
    in_buffers, out_buffers = model.create_input_buffers(SIGNATURE), model.create_output_buffers(SIGNATURE)
    in_buffers[0].write(np.ascontiguousarray(x))
    model.run_by_index(SIGNATURE, in_buffers, out_buffers)
    out = next(iter(model.get_output_tensor_details(key).values()))
    y = out_buffers[0].read(int(np.prod(out["shape"])), np.dtype(out["dtype"])).reshape(out["shape"])
    # Free the native model, buffers and environment now: their destructors log, and at interpreter
    # exit that would reach the terminal after sropt's capture of native output has ended.
    del in_buffers, out_buffers, model
    gc.collect()
    return y


PROBED = ("CPU", "GPU", "GPU|CPU", "NPU", "NPU|CPU")


def probe_accelerators(path: Path | str, sets: tuple[str, ...] = PROBED) -> list[AcceleratorProbe]:
    """Try to compile ``path`` for each accelerator set; a failure is recorded with its first error line."""
    probes = []
    for names in sets:
        try:
            model = compile_model(path, names)
        except Exception as exc:  # RuntimeError from the C++ layer, with a multi-line trace
            lines = [ln.strip("└ ").strip() for ln in str(exc).splitlines() if ln.strip()]
            reason = next((ln for ln in lines if not ln.startswith("ERROR: [")), None)
            if reason is None:  # only source locations: the reason is in LiteRT's log (sropt -v shows it)
                reason = f"did not compile ({lines[-1] if lines else type(exc).__name__}; LiteRT's log, shown by sropt -v, says why)"
            probes.append(AcceleratorProbe(names, False, None, reason))
            continue
        probes.append(AcceleratorProbe(names, True, bool(model.is_fully_accelerated())))
        del model
    gc.collect()
    return probes


def compare_with_interpreter(path: Path | str, size: tuple[int, int] = (13, 17)) -> dict[str, Any]:
    """Run ``path`` through ``CompiledModel`` (CPU) and the ``Interpreter`` on one seeded input; their max |diff|.

    The input is the model's fixed shape, else ``size`` (H != W, so a swapped
    dimension shows), in the input's own dtype.
    """
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    detail = interp.get_input_details()[0]
    shape = [int(v) for v in detail["shape_signature"]]
    if any(v < 0 for v in shape):
        shape = [1, *size, shape[3]]
        interp.resize_tensor_input(detail["index"], shape, strict=False)
    interp.allocate_tensors()
    dtype = np.dtype(detail["dtype"])
    rng = np.random.default_rng(0)
    if dtype.kind == "f":
        x = rng.random(shape, dtype=np.float32).astype(dtype)
    else:
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, shape, endpoint=True, dtype=dtype)
    interp.set_tensor(detail["index"], x)
    interp.invoke()
    want = interp.get_tensor(interp.get_output_details()[0]["index"])
    got = run_compiled(path, x, "CPU")
    diff = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max())
    return {"input_shape": shape, "max_abs_diff": diff, "identical": diff == 0.0}
