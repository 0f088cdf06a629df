"""Report notes on the deployment CPU an ONNX Runtime INT8 artifact was quantized for.

The target's settings (activation type, reduce_range) and their reason are
in the artifact's provenance (``sropt.quantize.onnx_quantize``); each report
row of that artifact repeats them. ORT's INT8 numbers depend on the CPU that
runs them (int16 saturation without VNNI, FACTS.md §5), so when this machine
is not of the artifact's target class the row says that it measured this
CPU, not the target.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sropt.core.cpu_targets import CpuTarget, host_cpu, measures_other_class


def cpu_target_notes(provenance: Iterable[Any], host: tuple[str, CpuTarget | None] | None = None) -> list[str]:
    """Notes for the quantize steps in ``provenance`` that name a CPU target (``host``: this CPU by default)."""
    notes: list[str] = []
    for step in provenance:
        if not isinstance(step, dict) or "cpu_target" not in step:
            continue
        target = step["cpu_target"]
        kernel = step.get("kernel_choice", {})
        notes.append(
            f"ORT INT8 built for target {target}: activations {step.get('activation_type')}, "
            f"reduce_range={step.get('reduce_range')} ({kernel.get('reason', 'no reason recorded')})"
        )
        if "deviation" in kernel:
            notes.append(f"quantize: {kernel['deviation']['note']}")
        model, host_class = host if host is not None else host_cpu()
        if measures_other_class(target, host_class):
            this = host_class.value if host_class is not None else "no named target"
            notes.append(
                f"measured on {model} ({this}), not an {target} CPU: these numbers are what this CPU's "
                f"ORT kernels do with the model, not what the target's will"
            )
    return notes
