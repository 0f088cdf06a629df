"""Calls into the stage libraries, one function per step kind.

This is the only module of the runner that knows the stage libraries'
signatures. Each function turns the step's typed config into the stage's
own config object, calls the stage's public function with an output path
inside the step's cache folder, and returns the written Artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sropt.core.artifacts import Artifact
from sropt.core.errors import StageError
from sropt.pipeline.config import resolve_dataset
from sropt.pipeline.context import StepContext, artifact_file_name
from sropt.pipeline.schema import artifact_suffix

#: File in a step's cache folder holding what the stage measured (its --json object).
DETAILS = "details.json"


def _out(ctx: StepContext) -> Path:
    """Where the step writes its artifact: the name the schema's gate check expects, from the step name alone."""
    return ctx.out_dir / artifact_file_name(ctx.stem, ctx.step.name, artifact_suffix(ctx.step.name))


def _details(ctx: StepContext, result: Any) -> None:
    """Keep what the stage measured (costs, calibration PSNR, float layers) next to its artifact."""
    import json

    (ctx.out_dir / DETAILS).write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n")


def prune(ctx: StepContext) -> Artifact:
    """Run sropt.prune.prune_model on the source graph."""
    from sropt.prune.config import PruneConfig
    from sropt.prune.stage import prune_model

    cfg = ctx.config
    config = PruneConfig(
        ratio=cfg.ratio, scope=cfg.scope.value, round_to=cfg.round_to or 1,
        importance=cfg.importance, compensation=cfg.compensation.value,
        calib_dir=resolve_dataset(cfg.calib), calib_count=cfg.calib_count,
        sensitivity=cfg.sensitivity, max_psnr_drop=cfg.max_psnr_drop, finetune_steps=cfg.finetune_steps,
        store=cfg.store.value,
    )
    result = prune_model(ctx.only_input().path, config, _out(ctx), progress=ctx.say)
    _details(ctx, result)
    return result.artifact


def export_onnx(ctx: StepContext) -> Artifact:
    """Export the (pruned) graph to ONNX with sropt.convert's exporter."""
    from sropt.convert.onnx_export import export_onnx

    cfg = ctx.config
    return export_onnx(ctx.only_input().path, _out(ctx), opset=cfg.opset, layout=cfg.layout.value)


def _quantize_config(cfg: Any, target: str) -> Any:
    from sropt.quantize.config import CalibrationConfig, QuantizeConfig

    options: dict[str, Any] = dict(
        target=target, mode=cfg.mode.value,
        calibration=CalibrationConfig(folder=resolve_dataset(cfg.calib), calib_count=cfg.calib_count),
    )
    if target == "tflite":
        from sropt.convert.tflite_export import parse_hw

        options.update(io=cfg.io.value, max_psnr_drop=cfg.max_psnr_drop, equalize=cfg.equalize,
                       weight_rounding=cfg.weight_rounding, qat_steps=cfg.qat,
                       fixed_shape=parse_hw(cfg.fixed_shape, option="fixed_shape"), depth_to_space=cfg.depth_to_space.value)
    elif cfg.mode.value == "int8":
        options.update(cpu_target=cfg.target.value)
    return QuantizeConfig(**options)


def quantize_tflite(ctx: StepContext) -> Artifact:
    """Convert the (pruned) graph to TFLite in the configured mode (sropt.quantize)."""
    from sropt.quantize.tflite_quantize import quantize_tflite as convert

    result = convert(ctx.only_input().path, _out(ctx), _quantize_config(ctx.config, "tflite"), progress=ctx.say)
    _details(ctx, result)
    return result.artifact


def quantize_onnx(ctx: StepContext) -> Artifact:
    """Quantize the exported ONNX model for ONNX Runtime (sropt.quantize)."""
    from sropt.quantize.onnx_quantize import quantize_onnx as convert

    result = convert(ctx.only_input().path, _out(ctx), _quantize_config(ctx.config, "onnx"))
    _details(ctx, result)
    return result.artifact


def validate(ctx: StepContext) -> Path:
    """Validate every input artifact in the configured runtimes that can load it.

    One run over every artifact: each is measured on the full sets in the
    configured runtime its file is made for and on the parity crops in the
    other configured runtimes that load it (``skip_incompatible``: a runtime
    that loads none of an artifact's kind is simply not used for it), so the
    report's crops compare every artifact with the source in one place.
    """
    from sropt.validate import ValidationConfig, validate_artifacts, write_report
    from sropt.validate.evaluate import validation_failure
    from sropt.validate.runners import get_runner

    cfg = ctx.config
    paths = []
    for artifact in ctx.inputs.values():
        if any(artifact.kind in get_runner(r.value).kinds for r in cfg.runtimes):
            paths.append(artifact.path)
        else:
            ctx.log.warning("%s: none of the runtimes %s loads .%s files; not validated", artifact.path.name, [r.value for r in cfg.runtimes], artifact.kind.value)
    if not paths:
        raise StageError("no artifact can run in the configured validate.runtimes; add a runtime that loads them")
    options = dict(
        datasets=[resolve_dataset(d) for d in cfg.datasets], degradations=[cfg.degradation.value],
        runtimes=[r.value for r in cfg.runtimes], skip_incompatible=True, repeats=cfg.repeats, rgb_psnr=cfg.rgb,
        bench_size=cfg.bench_size,
    )
    if cfg.threads:
        options["threads"] = cfg.threads
    report = validate_artifacts(paths, ValidationConfig(**options), progress=ctx.say)
    write_report(report, ctx.out_dir)
    # The same verdict as `sropt validate`: a runtime that crashed, or nothing measured at all, fails
    # the step (exit 4, or 2 when no row could even start) after the report is on disk, so a pipeline
    # never passes on rows that were never measured.
    failure = validation_failure(report)
    if failure is not None:
        raise failure
    return ctx.out_dir / "report.json"

