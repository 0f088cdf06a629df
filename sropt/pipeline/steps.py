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

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sropt.core.artifacts import Artifact
from sropt.pipeline.context import Adapter, PlannedStep, StepContext, artifact_file_name
from sropt.pipeline.schema import OrtTarget, Pipeline, TFLiteTarget

__all__ = ["ADAPTERS", "Adapter", "PlannedStep", "StepContext", "artifact_file_name", "plan_steps"]


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
# 4: the weights search keeps ties with the best so far, measures 30 images, tries per-site neighbours (issue 15).
# 5: every .tflite names its I/O lr_image/sr_image and carries TFLite metadata (issue 18).
# 6: trimmed activation ranges when they measure better (sropt.quantize.ranges); QAT's learning rate per contract (issue 15).
# 7: QAT holds trimmed per-crop calibration ranges fixed instead of tfmot's EMA (qat.QatSettings.ranges, issue 15).
ADAPTER_VERSIONS["quantize.tflite"] = "7"
# 2: the ONNX export is written as <model>.export.onnx, not <model>.export.onnx.onnx (issue 19).
ADAPTER_VERSIONS["export.onnx"] = "2"
# 2: one validation run over every artifact; report.context.json holds the crops chosen where outputs differ most (issue 19).
ADAPTER_VERSIONS["validate"] = "2"
