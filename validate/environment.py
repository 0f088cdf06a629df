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


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads,
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": package_versions(),
    }
