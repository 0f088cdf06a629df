"""The typed model of ``pipelines.yaml`` (pydantic v2).

A pipeline names a model and the stages to apply to it, in the fixed order
prune -> export -> quantize -> validate, plus the quality gates the result
must pass. Every option mirrors the option of the stage's own command
(``sropt prune``, ``sropt export``, ``sropt quantize``, ``sropt validate``),
so what works on the command line works in the file.

Checks that look across stages (a gate on a metric no stage produces, an
ONNX Runtime quantization without an ONNX export) live in
``cross_check_pipeline`` so the loader can point each problem at its own
YAML line; ``Pipeline``'s validator runs the same function for pipelines
built in Python.
"""

from __future__ import annotations

import enum
import fnmatch
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from sropt.convert.onnx_export import Layout
from sropt.convert.tflite_depth_to_space import DepthToSpaceForm
from sropt.prune.config import Compensation, Scope, WeightStore
from sropt.core.cpu_targets import DEFAULT_CPU_TARGET, CpuTarget
from sropt.core.errors import InputError
from sropt.quantize.config import IOType, Mode, parse_equalize, parse_weight_rounding
from sropt.validate.degradation import DEGRADATIONS
from sropt.validate.runners import BUILTIN_RUNTIMES


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False, validate_default=True)


def _registry_enum(name: str, values: list[str], doc: str) -> type[enum.Enum]:
    """A str Enum whose members are a registry's names (``opencv-cubic`` -> ``OPENCV_CUBIC``)."""
    made = enum.Enum(name, {v.upper().replace("-", "_"): v for v in values}, type=str, module=__name__)
    made.__doc__ = doc
    return made


# Generated from the validate registries (a new runtime or degradation is a
# pipelines.yaml value the moment it is registered, never a second list to
# keep in step), in their declared order. Neither module imports TF/cv2/onnxruntime.
Runtime = _registry_enum("Runtime", list(BUILTIN_RUNTIMES), "A runtime the validation stage can run an artifact in.")
Degradation = _registry_enum("Degradation", list(DEGRADATIONS), "How validation makes LR images from HR (FACTS.md §4).")


# The stage libraries own these enums; the schema reuses them (one source of
# truth for the values a stage accepts). Their modules import no TF/cv2.
PruneScope = Scope
TFLiteMode = Mode

# TFLite target fields parsed by the CLI's own parser, with the option its messages name.
CLI_PARSERS = {"equalize": (parse_equalize, "--equalize"), "weight_rounding": (parse_weight_rounding, "--weight-rounding")}
TFLiteIO = IOType
DepthToSpace = DepthToSpaceForm
OnnxLayout = Layout


class OrtMode(str, enum.Enum):
    """ONNX Runtime quantization modes (``sropt quantize --to onnx --mode``)."""

    INT8 = "int8"
    FP16 = "fp16"


class Metric(str, enum.Enum):
    """A number a validation report carries per artifact x runtime x dataset."""

    PSNR_Y = "psnr_y"
    SSIM_Y = "ssim_y"
    PSNR_RGB = "psnr_rgb"
    SIZE_BYTES = "size_bytes"
    LATENCY_MS = "latency_ms"


#: Metrics where larger is better (a "drop" is reference - value).
QUALITY_METRICS = frozenset({Metric.PSNR_Y, Metric.SSIM_Y, Metric.PSNR_RGB})


class Reference(str, enum.Enum):
    """What a relative gate compares against."""

    SOURCE = "source"
    BASELINE = "baseline"
    # The bicubic row of the same dataset: a model that does not beat plain
    # interpolation is not worth shipping, whatever it lost against its source.
    BICUBIC = "bicubic"


# --------------------------------------------------------------------------- stages


class PruneStage(StrictModel):
    """L1-norm structured channel pruning (``sropt prune``)."""

    ratio: float = Field(ge=0.0, lt=1.0, description="Fraction of channels removed per group, in [0, 1).")
    scope: PruneScope = Field(PruneScope.INNER, description="Channel groups to prune: inner block channels, the residual trunk, or all.")
    round_to: int | None = Field(None, ge=1, description="Round kept channel counts to a multiple of this (e.g. 8 for SIMD).")
    importance: str = Field("l1", description="Channel importance: l1 (filter L1 norm, the default) or activation (data-aware; FSRCNN and ESPCN need it).")
    compensation: Compensation = Field(Compensation.LSTSQ, description="How removed channels are made up for, from calibration data: lstsq (ridge regression from kept channels into the next conv's weights and bias), mean (removed channels' mean activation into its bias) or none.")
    # Deprecated spelling (it read as if it switched the bias kind only, but false
    # turned off lstsq too): false is compensation: none, true changes nothing.
    # Excluded from dumps, so the cache key and resolved.yaml see only compensation.
    bias_compensation: bool | None = Field(None, exclude=True, json_schema_extra={"deprecated": True}, description="Deprecated: use compensation (false is compensation: none; true changes nothing).")
    sensitivity: bool = Field(False, description="Measure per-group PSNR sensitivity on calibration crops.")
    max_psnr_drop: float | None = Field(None, gt=0.0, description="Choose per-group ratios removing the most MACs within this calibration PSNR drop (dB); overrides ratio.")
    finetune_steps: int = Field(0, ge=0, description="Distillation steps against the unpruned model after surgery (0 = none).")
    calib: str = Field("T91", description="Calibration image folder (name under SROPT_DATASETS_DIR, or a path). Never the evaluation set.")
    calib_count: int = Field(32, ge=1, description="Number of calibration crops.")
    store: WeightStore = Field(WeightStore.FLOAT32, description="Weight storage of the pruned graph: float32, or quint8 (the released EDSR's quantize_weights form, comparable in size).")

    @field_validator("importance")
    @classmethod
    def _known_importance(cls, value: str) -> str:
        from sropt.prune.importance import IMPORTANCE  # light: numpy only

        if value not in IMPORTANCE:
            raise ValueError(f"unknown importance {value!r}; choose one of {', '.join(IMPORTANCE)}")
        return value

    @model_validator(mode="after")
    def _bias_compensation_alias(self) -> "PruneStage":
        if self.bias_compensation is False:
            if "compensation" in self.model_fields_set and self.compensation is not Compensation.NONE:
                raise ValueError(f"bias_compensation: false contradicts compensation: {self.compensation.value}; "
                                 "keep compensation only (none switches compensation off)")
            self.compensation = Compensation.NONE
        self.bias_compensation = None
        return self


class TFLiteTarget(StrictModel):
    """One TFLite conversion of the (pruned) frozen graph (``sropt quantize --to tflite``)."""

    mode: TFLiteMode = Field(description="Numeric form of the TFLite model.")
    io: TFLiteIO = Field(TFLiteIO.FLOAT, description="Input/output tensor dtype.")
    calib: str = Field("T91", description="Calibration image folder for int8/int16x8 (name under SROPT_DATASETS_DIR, or a path).")
    calib_count: int = Field(32, ge=1, description="Number of calibration crops.")
    max_psnr_drop: float | None = Field(None, gt=0.0, description="Keep the most sensitive layers in float until the calibration drop fits (int8 only).")
    equalize: str = Field("auto", description="int8 only: cross-layer equalization: auto (measure off and 3 strengths on calibration images, keep the best, then refine it per layer pair), off, or a strength 0..1.")
    weight_rounding: str = Field("auto", description="int8/int16x8 only: how conv weights reach the int8 grid: auto (measure GPTQ against nearest on calibration images, keep the better), nearest or gptq.")
    skip_if_not_smaller: bool = Field(False, description="Keep this artifact out of the run (not validated, gated or copied; the summary says why) when its file is not smaller than the float file it came from.")
    qat: int = Field(0, ge=0, description="int8 only: quantization-aware training steps (tensorflow-model-optimization, the float model as teacher on calib LR crops) instead of the post-training equalization/rounding search; 0 = post-training INT8 (sropt quantize --qat-steps).")
    fixed_shape: str | None = Field(None, description="Fixed input HxW, e.g. 128x128 (sropt quantize --fixed-shape): GPU and NNAPI delegates compile the graph for one shape and again on every resize. Default: dynamic H/W. Part of the step name.")
    depth_to_space: DepthToSpace = Field(DepthToSpace.NATIVE, description="native: TFLite DEPTH_TO_SPACE; transpose_conv: a fixed 0/1 TRANSPOSE_CONV, the form LiteRT's EDSR GPU sample uses, bit-identical outputs (needs fixed_shape; sropt quantize --depth-to-space).")

    @field_validator("fixed_shape", mode="before")
    @classmethod
    def _hw(cls, value: object) -> str | None:
        """``128x128``: two positive integers, as ``--fixed-shape`` takes them; kept as ``HxW``."""
        from sropt.convert.tflite_export import parse_hw

        if isinstance(value, (int, float)) and not isinstance(value, bool):  # YAML reads 0x8 as the hex number 8
            raise ValueError(f"fixed_shape {value!r} is a number; give HxW as text, e.g. 128x128 (quote values "
                             "such as '0x8', which YAML reads as hex)")
        try:
            hw = parse_hw(None if value is None else str(value), option="fixed_shape")
        except InputError as exc:
            raise ValueError(str(exc)) from exc
        return None if hw is None else f"{hw[0]}x{hw[1]}"

    @field_validator("equalize", "weight_rounding", mode="before")
    @classmethod
    def _cli_value(cls, value: object, info: ValidationInfo) -> str:
        """Parse as the CLI option does; its message names the YAML field instead of the option."""
        parse, option = CLI_PARSERS[info.field_name]
        try:
            return parse(value)
        except InputError as exc:
            raise ValueError(str(exc).replace(option, info.field_name)) from exc

    @model_validator(mode="after")
    def _io_needs_integer_mode(self) -> "TFLiteTarget":
        if self.io is not TFLiteIO.FLOAT and self.mode is not TFLiteMode.INT8:
            raise ValueError(f"io '{self.io.value}' needs mode int8, not '{self.mode.value}'; use io: float")
        if self.max_psnr_drop is not None and self.mode is not TFLiteMode.INT8:
            raise ValueError(f"max_psnr_drop applies to mode int8 only, not '{self.mode.value}'")
        if self.equalize != "auto" and self.mode is not TFLiteMode.INT8:
            raise ValueError(f"equalize applies to mode int8 only, not '{self.mode.value}'")
        if self.weight_rounding != "auto" and self.mode not in (TFLiteMode.INT8, TFLiteMode.INT16X8):
            raise ValueError(f"weight_rounding applies to modes int8 and int16x8 only, not '{self.mode.value}'")
        if self.qat:
            clashes = [f for f, used in (("mode " + self.mode.value, self.mode is not TFLiteMode.INT8),
                                         ("io " + self.io.value, self.io is not TFLiteIO.FLOAT),
                                         ("max_psnr_drop", self.max_psnr_drop is not None),
                                         ("equalize", self.equalize != "auto"),
                                         ("weight_rounding", self.weight_rounding != "auto")) if used]
            if clashes:
                raise ValueError(f"qat needs mode int8 with io float and no {'/'.join(clashes)}: "
                                 "QAT trains the weights and ranges itself")
        if self.fixed_shape and (self.qat or self.max_psnr_drop is not None):
            raise ValueError("fixed_shape cannot be combined with qat or max_psnr_drop (they measure on whole images)")
        if self.depth_to_space is DepthToSpace.TRANSPOSE_CONV and not self.fixed_shape:
            raise ValueError("depth_to_space: transpose_conv needs fixed_shape (TRANSPOSE_CONV takes a constant output shape); "
                             "add e.g. fixed_shape: 128x128")
        return self

    @property
    def step_name(self) -> str:
        """The name of the step (and artifact) this target produces."""
        suffix = "" if self.io is TFLiteIO.FLOAT else f"-io{self.io.value}"
        if self.qat:  # a QAT and a post-training target of the same mode are two steps
            suffix += f"-qat{self.qat}"
        if self.fixed_shape:  # likewise a fixed-shape target beside the dynamic one
            suffix += f"-{self.fixed_shape}"
        if self.depth_to_space is not DepthToSpace.NATIVE:
            suffix += "-d2s-tconv"
        return f"quantize.tflite.{self.mode.value}{suffix}"


class OrtTarget(StrictModel):
    """One ONNX Runtime quantization of the exported ONNX model (``sropt quantize --to onnx``)."""

    mode: OrtMode = Field(description="int8: static QDQ, per-channel weights; fp16: float16 weights.")
    calib: str = Field("T91", description="Calibration image folder for int8.")
    calib_count: int = Field(32, ge=1, description="Number of calibration crops.")
    target: CpuTarget = Field(DEFAULT_CPU_TARGET, description="int8 only: the CPU the model will run on; sets ORT's activation type and reduce_range (portable: safe on every CPU; the build machine never decides).")
    skip_if_not_smaller: bool = Field(False, description="Keep this artifact out of the run (not validated, gated or copied; the summary says why) when its file is not smaller than the float file it came from.")

    @model_validator(mode="after")
    def _target_needs_int8(self) -> "OrtTarget":
        if self.target is not DEFAULT_CPU_TARGET and self.mode is not OrtMode.INT8:
            raise ValueError(f"target applies to mode int8 only (fp16 runs the same on every CPU), not '{self.mode.value}'")
        return self

    @property
    def step_name(self) -> str:
        """The name of the step (and artifact) this target produces; a named CPU target is part of it."""
        suffix = "" if self.target is DEFAULT_CPU_TARGET else f"-{self.target.value}"
        return f"quantize.onnx.{self.mode.value}{suffix}"


class QuantizeStage(StrictModel):
    """Quantized artifacts to make: TFLite from the frozen graph, ONNX Runtime from the ONNX export."""

    tflite: list[TFLiteTarget] = Field(default_factory=list, description="TFLite conversions.")
    onnx: list[OrtTarget] = Field(default_factory=list, description="ONNX Runtime quantizations (need export.onnx).")

    @field_validator("tflite", "onnx")
    @classmethod
    def _unique_targets(cls, targets: list[Any]) -> list[Any]:
        names = [t.step_name for t in targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"the same target is listed twice: {', '.join(dupes)}; keep one")
        return targets


class OnnxExport(StrictModel):
    """tf2onnx export of the (pruned) frozen graph (``sropt export --to onnx``)."""

    # DepthToSpace with mode=DCR (TF's semantics) and the Resize-free graphs
    # tf2onnx emits need opset 11; older opsets cannot express every family.
    opset: int = Field(17, ge=11, description="ONNX opset (>= 11, DepthToSpace DCR).")
    # NCHW is sropt export's default: every Transpose cancels, the fastest graph for ORT and OpenCV.
    layout: OnnxLayout = Field(OnnxLayout.NCHW, description="Input layout of the ONNX model (nchw: no Transposes left).")


class ExportStage(StrictModel):
    """Format exports of the (pruned) frozen graph."""

    onnx: OnnxExport | None = Field(None, description="Export to ONNX with tf2onnx.")


class ValidateStage(StrictModel):
    """Quality/latency/size validation of every artifact (``sropt validate``)."""

    datasets: list[str] = Field(default_factory=lambda: ["Set5"], min_length=1, description="Evaluation sets: names under SROPT_DATASETS_DIR, or paths.")
    runtimes: list[Runtime] = Field(default_factory=lambda: [Runtime.OPENCV, Runtime.ORT, Runtime.TFLITE], min_length=1, description="Runtimes; each artifact runs in those that can load it.")
    degradation: Degradation = Field(Degradation.MATLAB_BICUBIC, description="How LR images are made from HR.")
    repeats: int = Field(3, ge=1, description="Timed repeats for latency (median/p90/min).")
    bench_size: int = Field(128, ge=0, description="LR side of the synthetic input the headline latency is measured on (0: the dataset images).")
    threads: int | None = Field(None, ge=1, description="Runtime threads (default: all cores).")
    include_source: bool = Field(True, description="Also validate the source model, the reference of relative gates and deltas.")
    rgb: bool = Field(False, description="Also report RGB PSNR (psnr_rgb).")

    @field_validator("runtimes", "datasets")
    @classmethod
    def _no_duplicates(cls, values: list[Any]) -> list[Any]:
        seen = [getattr(v, "value", v) for v in values]
        dupes = sorted({v for v in seen if seen.count(v) > 1})
        if dupes:
            raise ValueError(f"listed twice: {', '.join(dupes)}")
        return values


BOUND_KINDS = ("min", "max", "max_drop", "max_ratio", "min_gain", "gpu_compatible")


class Gate(StrictModel):
    """One quality gate: a bound on one metric of the matching report rows.

    Exactly one of ``min``, ``max`` (absolute) or ``max_drop``, ``max_ratio``,
    ``min_gain`` (relative to ``against``) is given, with a ``metric``; or
    ``gpu_compatible: true`` alone, which needs every matched .tflite's ops
    GPU-delegate compatible (report rows' gpu_delegate: LiteRT's analyzer, or sropt's port of its rules).
    """

    name: str | None = Field(None, description="Name shown in JUnit/summary (default: derived).")
    metric: Metric | None = Field(None, description="The report metric the gate bounds (every gate but gpu_compatible).")
    min: float | None = Field(None, description="Absolute lower bound (e.g. PSNR dB).")
    max: float | None = Field(None, description="Absolute upper bound (e.g. size in bytes, latency ms).")
    max_drop: float | None = Field(None, ge=0.0, description="Max decrease vs the reference (quality metrics).")
    max_ratio: float | None = Field(None, gt=0.0, description="Max value / reference value (latency, size).")
    min_gain: float | None = Field(None, description="Min increase over the reference (quality metrics; e.g. 0.0 against bicubic: must beat it).")
    against: Reference = Field(Reference.SOURCE, description="Reference of max_drop/max_ratio/min_gain: the source model's row, a baseline, or bicubic interpolation of the same dataset.")
    reference_runtime: Runtime = Field(Runtime.OPENCV, description="Source runtime used when the source has no row in the artifact's runtime.")
    artifacts: list[str] = Field(default_factory=lambda: ["*"], min_length=1, description="Glob patterns on step names (prune, quantize.tflite.int8, ...) or artifact file names.")
    runtimes: list[Runtime] | None = Field(None, description="Runtimes the gate applies to (default all).")
    datasets: list[str] | None = Field(None, description="Datasets the gate applies to (default all).")
    gpu_compatible: bool | None = Field(None, description="true: every matched .tflite must have all its ops GPU-delegate compatible (LiteRT's model analyzer where its per-op check works, else sropt's port of gpu_compatibility.cc); a failure names the ops. Takes no metric.")

    @model_validator(mode="after")
    def _one_bound(self) -> "Gate":
        given = [k for k in BOUND_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of min, max, max_drop, max_ratio, min_gain"
                + (f" (got {', '.join(given)})" if given else "") + "; or gpu_compatible: true alone"
            )
        if self.gpu_compatible is not None:
            if self.gpu_compatible is not True:
                raise ValueError("gpu_compatible: false checks nothing; set true or remove the gate")
            if self.metric is not None:
                raise ValueError(f"gpu_compatible takes no metric (got metric: {self.metric.value}); remove metric")
            return self
        if self.metric is None:
            raise ValueError("give the metric the gate bounds: " + ", ".join(m.value for m in Metric))
        if self.max_drop is not None and self.metric not in QUALITY_METRICS:
            raise ValueError(f"max_drop applies to quality metrics (psnr_y, ssim_y, psnr_rgb), not {self.metric.value}; use max_ratio")
        if self.max_ratio is not None and self.metric in QUALITY_METRICS:
            raise ValueError(f"max_ratio applies to latency_ms/size_bytes, not {self.metric.value}; use max_drop")
        if self.min_gain is not None and self.metric not in QUALITY_METRICS:
            raise ValueError(f"min_gain applies to quality metrics (psnr_y, ssim_y, psnr_rgb), not {self.metric.value}")
        if self.against is Reference.BICUBIC and self.metric not in QUALITY_METRICS:
            raise ValueError(f"against: bicubic compares quality (psnr_y, ssim_y, psnr_rgb); bicubic has no {self.metric.value}")
        return self

    @property
    def kind(self) -> str:
        """Which bound this gate sets: min, max, max_drop or max_ratio."""
        return next(k for k in BOUND_KINDS if getattr(self, k) is not None)

    @property
    def relative(self) -> bool:
        """True for gates comparing against a reference row."""
        return self.kind in ("max_drop", "max_ratio", "min_gain")

    @property
    def bound(self) -> float:
        """The numeric bound of this gate."""
        return float(getattr(self, self.kind))

    @property
    def label(self) -> str:
        """A stable human name, e.g. ``psnr_y max_drop 0.3 vs source``."""
        if self.name:
            return self.name
        if self.metric is None:
            return self.kind
        tail = f" vs {self.against.value}" if self.relative else ""
        return f"{self.metric.value} {self.kind} {self.bound:g}{tail}"


# --------------------------------------------------------------------------- pipelines


class Pipeline(StrictModel):
    """A model and the stages applied to it, with gates and an output folder."""

    description: str = Field("", description="What this pipeline is for.")
    model: str = Field(min_length=1, description="Registry name (e.g. EDSR_x3, FSRCNN_x3) or a path to a frozen graph (relative to this file).")
    output: str | None = Field(None, description="Run folder (default runs/<pipeline name>, relative to the current directory).")
    prune: PruneStage | None = Field(None, description="Channel pruning of the source graph.")
    export: ExportStage | None = Field(None, description="Format exports of the (pruned) graph.")
    quantize: QuantizeStage | None = Field(None, description="Quantized TFLite / ONNX Runtime artifacts.")
    validate_: ValidateStage | None = Field(None, alias="validate", description="Validation of every artifact.")
    gates: list[Gate] = Field(default_factory=list, description="Quality gates applied to the validation report.")
    baseline: str | None = Field(None, description="Baseline report.json for gates with against: baseline.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True)

    @model_validator(mode="after")
    def _cross_check(self, info: ValidationInfo) -> "Pipeline":
        # The file loader runs cross_check_pipeline itself to attach YAML lines.
        if info.context and info.context.get("defer_cross_checks"):
            return self
        problems = cross_check_pipeline(self)
        if problems:
            raise ValueError("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))
        return self

    def step_names(self) -> list[str]:
        """Every step this pipeline runs, in order (the artifact producers, then validate)."""
        names = ["source"]
        if self.prune:
            names.append("prune")
        if self.export and self.export.onnx:
            names.append("export.onnx")
        if self.quantize:
            names += [t.step_name for t in self.quantize.tflite]
            names += [t.step_name for t in self.quantize.onnx]
        if self.validate_:
            names.append("validate")
        return names

    def produced_metrics(self) -> set[Metric]:
        """Metrics the validation report of this pipeline will carry."""
        if self.validate_ is None:
            return set()
        metrics = {Metric.PSNR_Y, Metric.SSIM_Y, Metric.SIZE_BYTES, Metric.LATENCY_MS}
        if self.validate_.rgb:
            metrics.add(Metric.PSNR_RGB)
        return metrics


def _why_not_produced(pipeline: Pipeline, metric: Metric) -> str:
    if pipeline.validate_ is None:
        return "this pipeline has no validate stage; add one"
    if metric is Metric.PSNR_RGB:
        return "validate.rgb is false; set rgb: true"
    return "no stage produces it"


def cross_check_pipeline(p: Pipeline) -> list[tuple[tuple[Any, ...], str]]:
    """Problems that involve more than one stage, each with its location."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    if p.quantize and p.quantize.onnx and not (p.export and p.export.onnx):
        problems.append(
            (("quantize", "onnx"), "ONNX Runtime quantization needs an ONNX model; add export: {onnx: {}}")
        )
    steps = [s for s in p.step_names() if s != "validate"]
    # Patterns may also name artifact files, as the steps write them (artifact_file_name).
    stem = p.model.rsplit("/", 1)[-1].removesuffix(".pb")
    files = [artifact_file_name(stem, s, artifact_suffix(s)) for s in steps]
    produced = p.produced_metrics()
    for i, gate in enumerate(p.gates):
        if gate.metric is None:
            if not p.validate_ or not any(".tflite." in s for s in steps):
                problems.append((("gates", i, "gpu_compatible"), "gpu_compatible checks .tflite artifacts in the "
                                 "validation report, but this pipeline validates none; add a quantize.tflite target and validate"))
        elif gate.metric not in produced:
            problems.append(
                (("gates", i, "metric"), f"gate on metric '{gate.metric.value}' but {_why_not_produced(p, gate.metric)}")
            )
        if gate.relative and gate.against is Reference.SOURCE and p.validate_ and not p.validate_.include_source:
            problems.append(
                (("gates", i, "against"), "compares against the source model but validate.include_source is false")
            )
        if gate.relative and gate.against is Reference.BASELINE and not p.baseline:
            problems.append((("gates", i, "against"), "compares against a baseline but the pipeline sets no baseline: path"))
        for j, pattern in enumerate(gate.artifacts):
            if not any(fnmatch.fnmatchcase(s, pattern) for s in steps + files):
                problems.append(
                    (("gates", i, "artifacts", j), f"pattern '{pattern}' matches no artifact of this pipeline ({', '.join(steps)})")
                )
        if gate.runtimes and p.validate_:
            missing = [r.value for r in gate.runtimes if r not in p.validate_.runtimes]
            if missing:
                problems.append((("gates", i, "runtimes"), f"runtime(s) {', '.join(missing)} are not in validate.runtimes"))
        if gate.datasets and p.validate_:
            missing = [d for d in gate.datasets if d not in p.validate_.datasets]
            if missing:
                problems.append((("gates", i, "datasets"), f"dataset(s) {', '.join(missing)} are not in validate.datasets"))
    return problems


def artifact_file_name(stem: str, step: str, suffix: str) -> str:
    """The file name of a step's artifact, e.g. ``FSRCNN_x3.quantize.tflite.int8.tflite``.

    A step whose name already ends in the suffix is not given it twice:
    ``export.onnx`` writes ``FSRCNN_x3.export.onnx``, not ``.export.onnx.onnx`` (issue 19).
    """
    if step == "source":
        return f"{stem}{suffix}"
    return f"{stem}.{step}" if step.endswith(suffix) else f"{stem}.{step}{suffix}"


def artifact_suffix(step: str) -> str:
    """The file suffix of a step's artifact: .pb for source and prune, .tflite for TFLite targets, else .onnx."""
    if step in ("source", "prune"):
        return ".pb"
    return ".tflite" if ".tflite." in step else ".onnx"


class PipelineDefaults(StrictModel):
    """Values merged under every pipeline (a pipeline's own keys win; mappings merge)."""

    model: str | None = None
    output: str | None = None
    prune: dict[str, Any] | None = None
    export: dict[str, Any] | None = None
    quantize: dict[str, Any] | None = None
    validate_: dict[str, Any] | None = Field(None, alias="validate")
    gates: list[dict[str, Any]] | None = None
    baseline: str | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PipelinesFile(StrictModel):
    """The whole pipelines.yaml file."""

    version: Literal[1] = Field(1, description="File format version.")
    default: str | None = Field(None, description="Pipeline `sropt run` uses when --pipeline is not given.")
    defaults: PipelineDefaults | None = Field(None, description="Merged into every pipeline (mappings deep-merge, lists replace).")
    pipelines: dict[str, Pipeline] = Field(min_length=1, description="Named pipelines.")

    @model_validator(mode="after")
    def _default_exists(self) -> "PipelinesFile":
        if self.default is not None and self.default not in self.pipelines:
            raise ValueError(f"default pipeline '{self.default}' is not defined under pipelines:")
        return self


def json_schema() -> dict[str, Any]:
    """The JSON Schema of pipelines.yaml, for editors (committed as pipelines.schema.json)."""
    schema = PipelinesFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "sropt pipelines.yaml"
    # x-* top-level keys hold YAML anchors and are ignored (see config.py).
    schema["patternProperties"] = {"^x-": {}}
    return schema


if __name__ == "__main__":  # python -m sropt.pipeline.schema > pipelines.schema.json
    import json

    print(json.dumps(json_schema(), indent=2))
