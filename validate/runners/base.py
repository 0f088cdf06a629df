"""The runner interface and the runtime registry."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.errors import InputError, StageError

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


def to_nhwc(out: np.ndarray, in_shape: tuple[int, ...], scale: int | None, *, source: str = "model") -> np.ndarray:
    """Bring a model output to NHWC using the input shape: NHWC and NCHW are told apart by shape.

    Artifacts from the zoo end in a Transpose to NCHW, exporters may keep or
    drop it, so the layout is read from the shape rather than trusted from
    metadata. Test inputs use H != W so a swapped layout can't pass unnoticed.
    """
    out = np.asarray(out, dtype=np.float32)
    _, h, w, c = in_shape
    scales = [scale] if scale else [out.shape[1] // h if out.ndim == 4 and h else 0, out.shape[2] // h if out.ndim == 4 and h else 0]
    for s in scales:
        if not s:
            continue
        if out.shape == (1, s * h, s * w, c):
            return out
        if out.shape == (1, c, s * h, s * w):
            return np.ascontiguousarray(out.transpose(0, 2, 3, 1))
    raise StageError(
        f"{source}: output shape {tuple(out.shape)} does not match input {tuple(in_shape)} "
        f"upscaled x{scale or '?'} in NHWC or NCHW; is the artifact's scale right?"
    )
