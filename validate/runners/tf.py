"""TensorFlow runner for frozen graphs (.pb), via sropt.convert's session helpers."""

from __future__ import annotations

import numpy as np

from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.validate.runners.base import Runner, register_runner


@register_runner("tf")
class TFRunner(Runner):
    """Runs a frozen graph in a TF1 CPU session (the reference the others are compared to)."""

    kinds = frozenset({ArtifactKind.FROZEN_GRAPH})
    runtime_modules = ('tensorflow',)

    def _load(self, artifact: Artifact, threads: int | None) -> None:
        from sropt.convert.graph import make_session, read_graph_def

        self._session = make_session(read_graph_def(artifact.path), threads)

    def _run(self, x_nhwc: np.ndarray) -> np.ndarray:
        from sropt.convert.graph import run_session

        assert self.artifact is not None
        return run_session(self._session, {self.artifact.input_name: x_nhwc}, [self.artifact.output_name])[0]
