"""The runner interface and the runtime registry."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.errors import InputError, StageError
from sropt.core.layout import to_nhwc

RUNNERS: dict[str, type["Runner"]] = {}


def register_runner(name: str) -> Callable[[type["Runner"]], type["Runner"]]:
    """Class decorator: register a Runner subclass under runtime ``name``."""

    def wrap(cls: type[Runner]) -> type[Runner]:
        cls.name = name
        RUNNERS[name] = cls
        return cls

    return wrap


class Runner(abc.ABC):
    """Executes one artifact in one runtime: NHWC float32 in, NHWC float32 out."""

    name: ClassVar[str] = ""
    kinds: ClassVar[frozenset[ArtifactKind]] = frozenset()
    #: Runtime-specific load options (``load(..., options=)``): name -> what it does.
    #: Empty options mean the runtime's defaults, which is what validation uses;
    #: benchmarks/ sets them to compare session/backend settings (issue 7).
    option_help: ClassVar[dict[str, str]] = {}
    #: The library imports that are this runtime's start-up cost in a fresh process
    #: (a worker imports them ahead, while the parent prepares the sets).
    runtime_modules: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def import_runtime(cls) -> None:
        """Import the runtime's libraries now, so the first ``load`` pays only for the model."""
        import importlib

        for module in cls.runtime_modules:
            importlib.import_module(module)

    def __init__(self) -> None:
        self.artifact: Artifact | None = None
        self.threads: int | None = None
        self.options: dict[str, Any] = {}

    @classmethod
    def check_supported(cls, artifact: Artifact) -> None:
        """InputError when this runtime cannot load ``artifact``'s file type."""
        if artifact.kind not in cls.kinds:
            kinds = ", ".join(f".{k.value}" for k in sorted(cls.kinds, key=lambda k: k.value))
            raise InputError(
                f"{artifact.path}: runtime '{cls.name}' cannot load .{artifact.kind.value} files "
                f"(it loads {kinds}); drop it from --runtimes for this artifact."
            )

    def load(self, artifact: Artifact, threads: int | None, options: Mapping[str, Any] | None = None) -> "Runner":
        """Load ``artifact`` with ``threads`` CPU threads (None: the runtime's default, all cores).

        ``options`` are runtime settings from ``option_help`` (e.g. ORT's
        graph optimization level); unknown names are an InputError.
        """
        self.check_supported(artifact)
        unknown = sorted(set(options or {}) - set(self.option_help))
        if unknown:
            known = ", ".join(f"{k} ({v})" for k, v in self.option_help.items()) or "none"
            raise InputError(f"runtime '{self.name}': unknown option(s) {', '.join(unknown)}; it accepts: {known}.")
        self.artifact, self.threads, self.options = artifact, threads, dict(options or {})
        try:
            self._load(artifact, threads)
        except (InputError, StageError):
            raise
        except Exception as exc:  # each runtime raises its own exception types
            raise StageError(f"{artifact.path}: runtime '{self.name}' could not load it: {exc}") from exc
        return self

    def predict(self, x_nhwc: np.ndarray) -> np.ndarray:
        """Run the model on one [1,H,W,C] float32 input; return [1,sH,sW,C] float32."""
        assert self.artifact is not None, "load() first"
        x = np.ascontiguousarray(x_nhwc, dtype=np.float32)
        try:
            raw = self._run(x)
        except (InputError, StageError):
            raise
        except Exception as exc:
            raise StageError(f"{self.artifact.path}: runtime '{self.name}' failed on input {x.shape}: {exc}") from exc
        return to_nhwc(raw, x.shape, self.artifact.scale, source=f"{self.artifact.path} ({self.name})")

    @abc.abstractmethod
    def _load(self, artifact: Artifact, threads: int | None) -> None:
        """Runtime-specific loading."""

    @abc.abstractmethod
    def _run(self, x_nhwc: np.ndarray) -> np.ndarray:
        """Runtime-specific execution, returning the output in whatever layout the model has."""
