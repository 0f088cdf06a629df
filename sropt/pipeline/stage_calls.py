"""Calls into the stage libraries, one function per step kind.

This is the only module of the runner that knows the stage libraries'
signatures. Each function turns the step's typed config into the stage's
own config object, calls the stage's public function with an output path
inside the step's cache folder, and returns the written Artifact.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from sropt.core.artifacts import Artifact
from sropt.core.errors import StageError
from sropt.pipeline.config import resolve_dataset
from sropt.pipeline.steps import StepContext, artifact_file_name


def _require(module: str, attr: str) -> Any:
    """``module.attr``, or a StageError saying the stage is not in this build."""
    try:
        mod = importlib.import_module(module)
        return getattr(mod, attr)
    except (ImportError, AttributeError):
        raise StageError(
            f"{module}.{attr} is not available in this sropt build, so this step cannot run. "
            "Remove the stage from the pipeline or update sropt."
        ) from None


def _out(ctx: StepContext, suffix: str) -> Path:
    return ctx.out_dir / artifact_file_name(ctx.stem, ctx.step.name, suffix)


def prune(ctx: StepContext) -> Artifact:
    """Run sropt.prune.prune_model on the source graph."""
    prune_model = _require("sropt.prune", "prune_model")
    config_cls = _require("sropt.prune", "PruneConfig")
    cfg = ctx.config
    options = cfg.model_dump(mode="json")
    options["calib"] = str(resolve_dataset(cfg.calib))
    return prune_model(ctx.only_input(), config_cls(**options), _out(ctx, ".pb"))


def export_onnx(ctx: StepContext) -> Artifact:
    """Export the (pruned) graph to ONNX with sropt.convert's exporter."""
    export = _require("sropt.convert.onnx_export", "export_onnx")
    cfg = ctx.config
    return export(ctx.only_input(), _out(ctx, ".onnx"), opset=cfg.opset, layout=cfg.layout.value)


def quantize_tflite(ctx: StepContext) -> Artifact:
    """Convert the (pruned) graph to TFLite in the configured mode."""
    convert = _require("sropt.quantize", "quantize_tflite")
    cfg = ctx.config
    return convert(
        ctx.only_input(), _out(ctx, ".tflite"), mode=cfg.mode.value, io=cfg.io.value,
        calib=resolve_dataset(cfg.calib), calib_count=cfg.calib_count, max_psnr_drop=cfg.max_psnr_drop,
    )


def quantize_onnx(ctx: StepContext) -> Artifact:
    """Quantize the exported ONNX model for ONNX Runtime."""
    quantize = _require("sropt.quantize", "quantize_onnx")
    cfg = ctx.config
    return quantize(ctx.only_input(), _out(ctx, ".onnx"), mode=cfg.mode.value, calib=resolve_dataset(cfg.calib), calib_count=cfg.calib_count)


def validate(ctx: StepContext) -> Path:
    """Validate every input artifact; write report.json (+ md/html) into the step folder."""
    validate_artifacts = _require("sropt.validate", "validate_artifacts")
    write_report = _require("sropt.validate", "write_report")
    cfg = ctx.config
    report = validate_artifacts(
        list(ctx.inputs.values()),
        datasets=[resolve_dataset(d) for d in cfg.datasets],
        runtimes=[r.value for r in cfg.runtimes],
        degradation=cfg.degradation.value,
        repeats=cfg.repeats,
        threads=cfg.threads,
    )
    write_report(report, ctx.out_dir)
    return ctx.out_dir / "report.json"
