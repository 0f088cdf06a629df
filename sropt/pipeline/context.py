"""What a pipeline step is and what its adapter receives (shared by the step plan and the stage calls)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sropt.core.artifacts import Artifact
from sropt.pipeline.schema import Pipeline, artifact_file_name

__all__ = ["Adapter", "PlannedStep", "StepContext", "artifact_file_name"]


@dataclass(frozen=True)
class PlannedStep:
    """One step of a run: what it is, what it reads, what configures it."""

    name: str
    kind: str  # key into ADAPTERS
    inputs: tuple[str, ...]
    config: BaseModel | None
    key_config: dict[str, Any]  # the JSON that enters the cache key


@dataclass
class StepContext:
    """What an adapter gets: its config, its input artifacts and a folder to write into."""

    step: PlannedStep
    inputs: dict[str, Artifact]
    out_dir: Path
    pipeline: Pipeline
    stem: str  # base file name of the source model, e.g. "FSRCNN_x3"
    source_path: Path | None = None  # only for the source step
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("sropt.pipeline"))
    progress: Callable[[str], None] | None = None

    def say(self, message: str) -> None:
        """Report stage progress: to run.log and to the progress display."""
        self.log.info("%s: %s", self.step.name, message)
        if self.progress is not None:
            self.progress(message)

    @property
    def config(self) -> Any:
        """The step's typed config."""
        return self.step.config

    def only_input(self) -> Artifact:
        """The single input artifact of a one-input step."""
        (artifact,) = self.inputs.values()
        return artifact


#: A step adapter returns the Artifact it wrote into ``ctx.out_dir`` (artifact
#: steps) or the path of the report.json it wrote there (validate).
Adapter = Callable[[StepContext], "Artifact | Path"]
