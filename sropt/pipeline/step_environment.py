"""The software (and, for measurements, the machine) behind a step's output.

A stage cache key must change whenever something that produced or measured
the cached output changes, or a warm run after an upgrade reuses artifacts
and latencies made by the old libraries (issue 14, item 5). Each step kind
lists the libraries its output depends on; their installed versions are read
from the distribution metadata (``importlib.metadata``: no heavy imports, so
a fully cached run still never imports TensorFlow) and go into the key and
into the entry's manifest, where ``sropt cache info`` shows them.

Validation also records the CPU: it measures latency, which depends on the
CPU model, its SIMD extensions and the core count (the default thread
count). ONNX Runtime quantization records the SIMD extensions: its
settings follow the configured target CPU (sropt.core.cpu_targets), but its
PSNR check, and with it a full-range target's reduce_range fallback and the
notes in the artifact's provenance, run in this CPU's kernels. The other
steps compute the same bytes on any CPU.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from sropt.core.machine import machine, parse_cpuinfo

#: A library and the distributions that can provide it, in order of preference
#: (the first one installed is recorded, with its name: contrib and plain
#: OpenCV builds differ, and only contrib has dnn_superres).
LIBRARIES: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "tf-keras": ("tf-keras",),
    "tf2onnx": ("tf2onnx",),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "opencv": ("opencv-contrib-python-headless", "opencv-contrib-python", "opencv-python-headless", "opencv-python"),
    "litert": ("ai-edge-litert",),
}

#: What each step kind's output depends on. Calibration images are PNGs
#: (lossless decode) shrunk by the numpy MATLAB-bicubic, so OpenCV does not
#: shape prune/quantize outputs; export's onnxruntime/OpenCV smoke run only
#: checks the written file and changes no byte of it.
STEP_LIBRARIES: dict[str, tuple[str, ...]] = {
    # The sidecar's family/scale/IO come from parsing the GraphDef with TF's protobuf classes.
    "source": ("tensorflow",),
    # Importance, calibration PSNR and fine-tuning run in TF (tf-keras optimizers).
    "prune": ("tensorflow", "tf-keras", "numpy"),
    # tf2onnx drives TF's graph optimizer before emitting ONNX through the onnx package.
    "export.onnx": ("tensorflow", "tf2onnx", "onnx", "numpy"),
    # The converter is TF's; the float-layer budget measures PSNR in the LiteRT interpreter.
    "quantize.tflite": ("tensorflow", "litert", "numpy"),
    "quantize.onnx": ("onnxruntime", "onnx", "numpy"),
    # Every runtime it may measure in, plus the image decode/resize of the datasets.
    "validate": ("opencv", "onnxruntime", "litert", "tensorflow", "numpy"),
}

#: Step kinds whose output depends on this machine, and the fields of ``machine()`` that matter.
MACHINE_FIELDS: dict[str, tuple[str, ...]] = {
    "validate": ("cpu", "machine", "isa", "cores"),  # latency
    # The target (a config field) sets activation type and reduce_range; the
    # check that may re-quantize, and its recorded numbers, run on this CPU.
    "quantize.onnx": ("machine", "isa"),
}

def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, None when it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def library_versions(libraries: tuple[str, ...]) -> dict[str, str | None]:
    """Distribution name -> installed version for each library (its first candidate when none is installed)."""
    out: dict[str, str | None] = {}
    for library in libraries:
        candidates = LIBRARIES[library]
        found = next(((d, v) for d in candidates if (v := installed_version(d)) is not None), (candidates[0], None))
        out[found[0]] = found[1]
    return out


def step_environment(kind: str) -> dict[str, Any]:
    """What goes into a ``kind`` step's cache key besides its config and inputs.

    An unknown kind (a test's or a plugin's adapter) depends on no library.
    """
    env: dict[str, Any] = {"libraries": library_versions(STEP_LIBRARIES.get(kind, ()))}
    if kind in MACHINE_FIELDS:
        env["machine"] = {name: machine()[name] for name in MACHINE_FIELDS[kind]}
    return env


__all__ = ["LIBRARIES", "MACHINE_FIELDS", "STEP_LIBRARIES", "installed_version", "library_versions", "machine", "parse_cpuinfo", "step_environment"]
