"""What machine and software a report's numbers were measured on."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

_PACKAGES = (
    "sropt",
    "numpy",
    "opencv-contrib-python-headless",
    "tensorflow",
    "onnxruntime",
    "onnx",
    "tf2onnx",
    "ai-edge-litert",
)


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that decide the numbers (None if absent)."""
    out: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def describe_environment(threads: int) -> dict[str, Any]:
    """The ``environment`` object of report.json."""
    from sropt.core.machine import machine

    return {
        "cpu": machine()["cpu"],
        # INT8 speed, and with some kernels INT8 quality, depend on these (VNNI, AMX).
        "cpu_flags": machine()["isa"],
        "cores": os.cpu_count(),
        "threads": threads,
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": package_versions(),
    }
