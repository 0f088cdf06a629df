"""The step plan of a pipeline and the adapter table that runs each kind of step.

A *step* is one cacheable unit: ``source``, ``prune``, ``export.onnx``,
``quantize.tflite.<mode>``, ``quantize.onnx.<mode>``, ``validate``. The plan
fixes each step's inputs (upstream steps) and the config that goes into its
cache key. The adapters (``ADAPTERS``) translate a step into a call of the
stage library (sropt.prune, sropt.quantize, sropt.convert, sropt.validate);
each stage library is imported only when its step actually runs, so a fully
cached run never imports TensorFlow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sropt.core.artifacts import Artifact
from sropt.pipeline.schema import OrtTarget, Pipeline, TFLiteTarget


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


def _dump(model: BaseModel | None) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True) if model is not None else {}


def plan_steps(pipeline: Pipeline) -> list[PlannedStep]:
    """The ordered steps of ``pipeline`` (prune -> export -> quantize -> validate)."""
    steps = [PlannedStep("source", "source", (), None, {})]
    graph = "source"
    if pipeline.prune:
        steps.append(PlannedStep("prune", "prune", ("source",), pipeline.prune, _dump(pipeline.prune)))
        graph = "prune"
    if pipeline.export and pipeline.export.onnx:
        steps.append(PlannedStep("export.onnx", "export.onnx", (graph,), pipeline.export.onnx, _dump(pipeline.export.onnx)))
    if pipeline.quantize:
        for t in pipeline.quantize.tflite:
            steps.append(PlannedStep(t.step_name, "quantize.tflite", (graph,), t, _dump(t)))
        for o in pipeline.quantize.onnx:
            steps.append(PlannedStep(o.step_name, "quantize.onnx", ("export.onnx",), o, _dump(o)))
    if pipeline.validate_:
        producers = [s.name for s in steps if s.name != "source" or pipeline.validate_.include_source]
        steps.append(PlannedStep("validate", "validate", tuple(producers), pipeline.validate_, _dump(pipeline.validate_)))
    return steps


def artifact_file_name(stem: str, step: str, suffix: str) -> str:
    """The file name of a step's artifact, e.g. ``FSRCNN_x3.quantize.tflite.int8.tflite``."""
    return f"{stem}{suffix}" if step == "source" else f"{stem}.{step}{suffix}"


# --------------------------------------------------------------------------- adapters


def run_source(ctx: StepContext) -> Artifact:
    """Describe the source model (family, scale, I/O) and store a copy of it."""
    import shutil

    from sropt.convert import load_frozen_graph

    assert ctx.source_path is not None
    dest = ctx.out_dir / artifact_file_name(ctx.stem, "source", ctx.source_path.suffix)
    shutil.copyfile(ctx.source_path, dest)
    artifact = load_frozen_graph(dest).artifact
    return artifact


def run_prune(ctx: StepContext) -> Artifact:
    """L1 channel pruning through sropt.prune."""
    from sropt.pipeline import stage_calls

    return stage_calls.prune(ctx)


def run_export_onnx(ctx: StepContext) -> Artifact:
    """ONNX export through sropt.convert's exporter."""
    from sropt.pipeline import stage_calls

    return stage_calls.export_onnx(ctx)


def run_quantize_tflite(ctx: StepContext) -> Artifact:
    """TFLite conversion/quantization through sropt.quantize."""
    from sropt.pipeline import stage_calls

    assert isinstance(ctx.config, TFLiteTarget)
    return stage_calls.quantize_tflite(ctx)


def run_quantize_onnx(ctx: StepContext) -> Artifact:
    """ONNX Runtime quantization through sropt.quantize."""
    from sropt.pipeline import stage_calls

    assert isinstance(ctx.config, OrtTarget)
    return stage_calls.quantize_onnx(ctx)


def run_validate(ctx: StepContext) -> Path:
    """Validation of every input artifact through sropt.validate; returns report.json."""
    from sropt.pipeline import stage_calls

    return stage_calls.validate(ctx)


ADAPTERS: dict[str, Adapter] = {
    "source": run_source,
    "prune": run_prune,
    "export.onnx": run_export_onnx,
    "quantize.tflite": run_quantize_tflite,
    "quantize.onnx": run_quantize_onnx,
    "validate": run_validate,
}

#: The adapters as shipped. Only these can run in a spawned stage process
#: (a replacement installed at run time, e.g. by a test, exists only here).
BUILTIN_ADAPTERS: dict[str, Adapter] = dict(ADAPTERS)

#: Bumped when an adapter's output changes so old cache entries stop matching.
ADAPTER_VERSIONS: dict[str, str] = {kind: "1" for kind in ADAPTERS}
# 2: --equalize auto refines the strength per layer pair (other INT8 weights).
# 3: int8/int16x8 weights GPTQ-rounded when it measures better (sropt.quantize.weights).
ADAPTER_VERSIONS["quantize.tflite"] = "3"
