"""Runtime runners, one module per runtime, registered by ``@register_runner``.

Adding a runtime means writing one ``Runner`` subclass in a new module here
and listing the module in ``_RUNNER_MODULES``. Runners only execute the model:
every pre/post-processing step goes through ``Artifact.contract``, so one
model gives the same image in every runtime.
"""

from __future__ import annotations

import importlib

from sropt.core.errors import InputError
from sropt.core.layout import to_nhwc
from sropt.validate.runners.base import RUNNERS, Runner, register_runner

# Imported lazily by get_runner/available_runtimes so that listing runtimes
# does not import TensorFlow, onnxruntime or LiteRT.
_RUNNER_MODULES = {
    "tf": "sropt.validate.runners.tf",
    "opencv": "sropt.validate.runners.opencv",
    "ort": "sropt.validate.runners.ort",
    "tflite": "sropt.validate.runners.tflite",
}
#: Every runtime sropt ships, in its declared order (the reference first);
#: pipelines.yaml's ``runtimes`` values are generated from it.
BUILTIN_RUNTIMES = tuple(_RUNNER_MODULES)
DEFAULT_RUNTIMES = BUILTIN_RUNTIMES

__all__ = ["RUNNERS", "Runner", "register_runner", "to_nhwc", "get_runner", "runtime_names", "BUILTIN_RUNTIMES", "DEFAULT_RUNTIMES"]


def runtime_names() -> list[str]:
    """Names of every known runtime (registered or importable on demand)."""
    return sorted(set(_RUNNER_MODULES) | set(RUNNERS))


def get_runner(name: str, *, option: str = "--runtimes") -> type[Runner]:
    """The runner class registered as ``name``; InputError naming ``option`` and listing the choices otherwise."""
    if name not in RUNNERS and name in _RUNNER_MODULES:
        importlib.import_module(_RUNNER_MODULES[name])
    try:
        return RUNNERS[name]
    except KeyError:
        raise InputError(f"{option}: unknown runtime {name!r}; choose from {', '.join(runtime_names())}.") from None


def runner_ref(name: str) -> "str | type[Runner]":
    """What to send a spawned worker so it finds runtime ``name``.

    A built-in runtime travels by name (the worker imports its module, and
    the parent never imports TensorFlow or onnxruntime for it); a runner
    registered at run time (a plugin, a test's fake) exists only in this
    process's registry, so its class travels by reference instead.
    """
    return name if name in _RUNNER_MODULES else get_runner(name)


def resolve_runner(ref: "str | type[Runner]") -> type[Runner]:
    """The runner class of a ``runner_ref`` (in the worker)."""
    return get_runner(ref) if isinstance(ref, str) else ref
