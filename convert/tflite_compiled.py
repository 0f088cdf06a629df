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
    dtype = np.dtype(out["dtype"])
    return out_buffers[0].read(int(np.prod(out["shape"])), dtype).reshape(out["shape"])


PROBED = ("CPU", "GPU", "GPU|CPU", "NPU", "NPU|CPU")


def probe_accelerators(path: Path | str, sets: tuple[str, ...] = PROBED) -> list[AcceleratorProbe]:
    """Try to compile ``path`` for each accelerator set; a failure is recorded with its first error line."""
    probes = []
    for names in sets:
        try:
            model = compile_model(path, names)
        except Exception as exc:  # RuntimeError from the C++ layer, with a multi-line trace
            lines = [ln.strip("└ ").strip() for ln in str(exc).splitlines() if ln.strip()]
            reason = next((ln for ln in lines if not ln.startswith("ERROR: [")), lines[-1] if lines else type(exc).__name__)
            probes.append(AcceleratorProbe(names, False, None, reason))
            continue
        probes.append(AcceleratorProbe(names, True, bool(model.is_fully_accelerated())))
    return probes
