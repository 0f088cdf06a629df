"""Load pipelines.yaml: parse, merge defaults, validate, and report every problem at once.

``load_pipelines`` returns a ``PipelineConfig`` or raises one ``ConfigError``
listing every problem, each as ``FILE:LINE: pipeline 'p', stage 's', field
'f': what is wrong; what to do``. Nothing runs before the whole file is
valid. ``preflight`` then checks what depends on the machine (dataset
folders, the model path, the output folder) for the one pipeline to run.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sropt.core.errors import ConfigError, InputError
from sropt.core.locations import datasets_dir
from sropt.pipeline.messages import describe_location, did_you_mean, field_names, problem_line, validation_problem
from sropt.pipeline.schema import Pipeline, PipelineDefaults, PipelinesFile, cross_check_pipeline
from sropt.pipeline.yamlfile import LineDict, line_of, load_yaml_with_lines, merge_defaults, parse_yaml_with_lines
from sropt.prune.config import Compensation


@dataclass
class PipelineConfig:
    """A validated pipelines file: the typed model plus where it came from."""

    file: PipelinesFile
    path: Path | None
    raw: dict[str, Any] = field(default_factory=dict)  # pipeline name -> merged YAML (with lines)

    def where(self, name: str, loc: tuple[Any, ...] = ()) -> str:
        """``FILE:LINE`` of a pipeline's field (for machine-dependent problems found later)."""
        line = line_of(self.raw.get(name), loc) if name in self.raw else None
        file = str(self.path) if self.path else "pipelines"
        return f"{file}:{line}" if line else file

    @property
    def base_dir(self) -> Path:
        """Folder relative model paths in the file are resolved against."""
        return self.path.parent if self.path else Path.cwd()

    def select(self, name: str | None) -> tuple[str, Pipeline]:
        """The pipeline called ``name`` (or the file's default); ConfigError with suggestions if unknown."""
        names = list(self.file.pipelines)
        if name is None:
            name = self.file.default or ("edsr_x3_mobile" if "edsr_x3_mobile" in names else names[0])
        if name not in self.file.pipelines:
            close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ConfigError(
                f"{self.path or 'pipelines'}: no pipeline named '{name}'.{hint} "
                f"Defined pipelines: {', '.join(names)}."
            )
        return name, self.file.pipelines[name]


def load_pipelines(path: Path) -> PipelineConfig:
    """Read and validate a pipelines.yaml file (all problems in one ConfigError)."""
    path = Path(path)
    config = _validate(load_yaml_with_lines(path), str(path), path)
    for pipeline in config.file.pipelines.values():
        anchor_dataset_paths(pipeline, config.base_dir)
    return config


def anchor_dataset_paths(pipeline: Pipeline, base_dir: Path) -> None:
    """Relative dataset *paths* (a value with "/") mean relative to the pipelines file, as model paths do.

    Bare names (Set5, T91) keep resolving through SROPT_DATASETS_DIR. Done once
    at load, so every stage, the preflight and resolved.yaml see one path.
    """
    def anchor(ref: str) -> str:
        p = Path(ref).expanduser()
        if "/" in ref and not p.is_absolute():
            return str((base_dir / p).resolve())
        return ref

    if pipeline.validate_:
        pipeline.validate_.datasets = [anchor(d) for d in pipeline.validate_.datasets]
    if pipeline.prune:
        pipeline.prune.calib = anchor(pipeline.prune.calib)
    if pipeline.quantize:
        for target in [*pipeline.quantize.tflite, *pipeline.quantize.onnx]:
            target.calib = anchor(target.calib)


def parse_pipelines(text: str, name: str = "<string>") -> PipelineConfig:
    """Validate pipelines YAML given as text (for tests and tools)."""
    return _validate(parse_yaml_with_lines(text, name), name, None)


def _validate(raw: Any, name: str, path: Path | None) -> PipelineConfig:
    problems: list[str] = []
    if not isinstance(raw, LineDict):
        raise ConfigError(f"{name}: expected a mapping with a 'pipelines:' key at the top, got {type(raw).__name__}.")

    top_fields = field_names(PipelinesFile)
    for key in raw:
        # x-* keys are free-form holders for YAML anchors (as in docker compose).
        if key not in top_fields and not str(key).startswith("x-"):
            problems.append(problem_line(name, raw.key_lines.get(key), "", f"unknown top-level key '{key}'{did_you_mean(key, top_fields)}"))

    defaults = raw.get("defaults") or LineDict()
    if not isinstance(defaults, dict):
        problems.append(problem_line(name, raw.key_lines.get("defaults"), "", "'defaults' must be a mapping of stage options"))
        defaults = LineDict()
    else:
        try:
            PipelineDefaults.model_validate(defaults)
        except ValidationError as exc:
            problems += [validation_problem(name, defaults, err, "defaults", PipelineDefaults) for err in exc.errors()]

    pipelines_raw = raw.get("pipelines")
    pipelines: dict[str, Pipeline] = {}
    raws: dict[str, Any] = {}
    if not isinstance(pipelines_raw, dict) or not pipelines_raw:
        problems.append(problem_line(name, raw.key_lines.get("pipelines", raw.line), "", "'pipelines' must map pipeline names to pipelines (at least one)"))
        pipelines_raw = {}
    for pname, body in pipelines_raw.items():
        where = f"pipeline '{pname}'"
        if not isinstance(body, dict):
            problems.append(problem_line(name, pipelines_raw.key_lines.get(pname), where, "must be a mapping (model:, prune:, ...)"))
            continue
        merged = merge_defaults(defaults, body) if defaults else body
        try:
            pipeline = Pipeline.model_validate(merged, context={"defer_cross_checks": True})
        except ValidationError as exc:
            problems += [validation_problem(name, merged, err, where, Pipeline) for err in exc.errors()]
            continue
        for loc, msg in cross_check_pipeline(pipeline):
            problems.append(problem_line(name, line_of(merged, loc), describe_location(where, loc), msg))
        pipelines[str(pname)] = pipeline
        raws[str(pname)] = merged

    default = raw.get("default")
    if default is not None and not isinstance(default, str):
        problems.append(problem_line(name, raw.key_lines.get("default"), "", f"'default' must name a pipeline, got {_yaml_kind(default)}"))
    elif default is not None and pipelines_raw and default not in pipelines_raw:
        close = difflib.get_close_matches(str(default), list(pipelines_raw), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        problems.append(problem_line(name, raw.key_lines.get("default"), "", f"default pipeline '{default}' is not defined{hint}"))
    version = raw.get("version", 1)
    if version != 1:
        problems.append(problem_line(name, raw.key_lines.get("version"), "", f"version {version!r} is not supported; this sropt reads version 1"))

    if problems:
        # Deduplicate: a bad value in `defaults:` is reported once, not once per pipeline.
        unique = list(dict.fromkeys(problems))
        raise ConfigError(f"{name}: {len(unique)} problem(s); nothing was run", problems=unique)
    file = PipelinesFile.model_construct(
        version=1, default=default, defaults=None, pipelines=pipelines
    )
    return PipelineConfig(file=file, path=path, raw=raws)


def _yaml_kind(value: Any) -> str:
    return "a mapping" if isinstance(value, dict) else "a list" if isinstance(value, list) else repr(value)


# --------------------------------------------------------------------------- preflight


def resolve_dataset(ref: str) -> Path:
    """A dataset name or a path, as a folder (sropt.models.datasets.resolve_dataset's order).

    A registered set that is nowhere here and cannot be fetched resolves to
    where SROPT_DATASETS_DIR would hold it, so the preflight reports one
    "not found" line for it; ``dataset_unavailable`` says why in full.
    """
    from sropt.core.errors import FetchError, InputError
    from sropt.models.datasets import resolve_dataset as find

    try:
        return find(ref)
    except (InputError, FetchError):
        return datasets_dir() / ref


def dataset_unavailable(ref: str) -> str | None:
    """Why registered dataset ``ref`` cannot be had here (every place tried); None when it can or is not registered."""
    from sropt.core.errors import FetchError, InputError
    from sropt.models.datasets import dataset_registry
    from sropt.models.datasets import resolve_dataset as find

    if ref.lower() not in {name.lower() for name in dataset_registry()}:
        return None
    try:
        find(ref)
    except (InputError, FetchError) as exc:
        return str(exc)
    return None


def _holds_images(folder: Path) -> bool:
    """True when ``folder`` (or its HR/ subfolder, the paired layout) holds at least one image file."""
    from sropt.validate.imageio import IMAGE_SUFFIXES

    return any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for d in (folder, folder / "HR") if d.is_dir() for p in d.iterdir())


def is_model_path(ref: str) -> bool:
    """True when ``model:`` names a file rather than a registry entry."""
    return "/" in ref or ref.startswith(".") or Path(ref).suffix.lower() in (".pb", ".onnx", ".tflite")


def preflight(
    pipeline: Pipeline, name: str, *, base_dir: Path, out_dir: Path, model_override: Path | None,
    config: PipelineConfig | None = None,
) -> list[str]:
    """Machine-dependent problems of one pipeline (datasets, model path, output folder, baseline)."""
    where = f"pipeline '{name}'"

    def at(loc: tuple[Any, ...]) -> str:
        return f"{config.where(name, loc)}: " if config is not None else ""

    return [
        *_dataset_problems(pipeline, where, at),
        *_model_problems(pipeline, where, at, base_dir, model_override),
        *_output_problems(where, out_dir, _local_inputs(pipeline, base_dir, model_override, config)),
        *_baseline_problems(pipeline, where, at, base_dir),
        *_fixed_shape_problems(pipeline, where, at, base_dir, model_override),
    ]


def _dataset_refs(pipeline: Pipeline) -> list[tuple[str, tuple[Any, ...], str]]:
    """(field name, YAML location, dataset ref) of every image set the pipeline's stages read."""
    refs: list[tuple[str, tuple[Any, ...], str]] = []
    if pipeline.validate_:
        refs += [("validate.datasets", ("validate", "datasets", i), d) for i, d in enumerate(pipeline.validate_.datasets)]
    prune = pipeline.prune
    if prune and (prune.compensation is not Compensation.NONE or prune.sensitivity or prune.finetune_steps or prune.max_psnr_drop):
        refs.append(("prune.calib", ("prune", "calib"), prune.calib))
    if pipeline.quantize:
        for i, t in enumerate(pipeline.quantize.tflite):
            if t.mode.value in ("int8", "int16x8"):
                refs.append((f"quantize.tflite[{i}].calib", ("quantize", "tflite", i, "calib"), t.calib))
        for i, o in enumerate(pipeline.quantize.onnx):
            if o.mode.value == "int8":
                refs.append((f"quantize.onnx[{i}].calib", ("quantize", "onnx", i, "calib"), o.calib))
    return refs


def _dataset_problems(pipeline: Pipeline, where: str, at) -> list[str]:
    problems: list[str] = []
    reported: set[str] = set()
    for field_name, loc, ref in _dataset_refs(pipeline):
        if ref in reported:  # one line per bad folder, at its first use
            continue
        path = resolve_dataset(ref)
        if not path.is_dir():
            reported.add(ref)
            why = dataset_unavailable(ref) if "/" not in ref else None
            problems.append(
                f"{at(loc)}{where}, field '{field_name}': dataset '{ref}' not found at {path}. "
                + (why.replace("\n", " ") if why else "Set SROPT_DATASETS_DIR to the folder holding it, or give a path.")
            )
        elif not _holds_images(path):  # else the stage would find out minutes into the run
            reported.add(ref)
            problems.append(f"{at(loc)}{where}, field '{field_name}': dataset '{ref}' at {path} holds no images. Fill it or give another folder.")
    return problems


def _model_problems(pipeline: Pipeline, where: str, at, base_dir: Path, model_override: Path | None) -> list[str]:
    if model_override is not None:
        if not Path(model_override).is_file():
            return [f"--model {model_override}: file not found. Give an existing frozen graph (.pb)."]
        if Path(model_override).suffix.lower() != ".pb":
            return [f"--model {model_override}: a pipeline starts from a frozen TensorFlow graph (.pb), not a {Path(model_override).suffix} file."]
        return []
    if not is_model_path(pipeline.model):
        return []  # a registry name: resolved (fetched) by the runner, exit 3 when it cannot be had
    mp = (base_dir / pipeline.model).expanduser()
    if not mp.is_file():
        return [f"{at(('model',))}{where}, field 'model': model file {mp} not found. Fix the path or use --model PATH."]
    if mp.suffix.lower() != ".pb":
        return [f"{at(('model',))}{where}, field 'model': {mp} is a {mp.suffix} file; a pipeline starts from a frozen TensorFlow graph (.pb)."]
    return []


def _fixed_shape_problems(pipeline: Pipeline, where: str, at, base_dir: Path, model_override: Path | None) -> list[str]:
    """TFLite fixed_shape values the source model cannot take (a downsampling multiple, memory), before any step.

    Read with protobuf alone, for a model given as a file; a registry name is
    checked by the quantize step itself, before its calibration. The source
    is an upper bound for a pruned graph's memory and has the same multiple.
    """
    shapes = [(i, t.fixed_shape) for i, t in enumerate(pipeline.quantize.tflite if pipeline.quantize else []) if t.fixed_shape]
    path = model_override or (base_dir / pipeline.model if is_model_path(pipeline.model) else None)
    if not shapes or path is None or not Path(path).is_file():
        return []
    from sropt.convert.frozen import describe_frozen_graph
    from sropt.convert.tflite_export import check_fixed_shape, parse_hw

    try:
        _, info = describe_frozen_graph(path)
    except InputError:
        return []  # the model itself is reported by the runner, with its own message
    problems = []
    for i, text in shapes:
        try:
            check_fixed_shape(parse_hw(text, option="fixed_shape"), info)
        except InputError as exc:
            problems.append(f"{at(('quantize', 'tflite', i, 'fixed_shape'))}{where}, stage 'quantize', field 'tflite[{i}].fixed_shape': "
                            + str(exc).replace("--fixed-shape", "fixed_shape"))
    return problems


#: Every run folder holds this file (runner._write_run_folder); a run replaces such a folder as a whole.
RUN_FOLDER_MARKER = "resolved.yaml"


def _local_inputs(pipeline: Pipeline, base_dir: Path, model_override: Path | None, config: PipelineConfig | None) -> list[Path]:
    """The files and folders on this machine a run reads: model file, pipelines file, image sets."""
    model = model_override or (base_dir / pipeline.model if is_model_path(pipeline.model) else None)
    paths = [p for p in (model, config.path if config else None) if p is not None]
    return paths + [resolve_dataset(ref) for _, _, ref in _dataset_refs(pipeline)]


def _output_problems(where: str, out_dir: Path, inputs: list[Path]) -> list[str]:
    if out_dir.exists() and not out_dir.is_dir():
        return [f"{where}: output folder {out_dir} is a file. Remove it or choose another folder (--out DIR)."]
    # The run folder is swapped in whole at the end and the old one deleted (found by tests/fuzz: `--out` on a
    # folder of the user's files, or on the dataset folder, deleted them).
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / RUN_FOLDER_MARKER).is_file():
        return [f"{where}: output folder {out_dir} holds files but is not an sropt run folder (no {RUN_FOLDER_MARKER}); "
                "a run replaces its folder as a whole. Give a new or empty folder, or an earlier run's (--out DIR)."]
    out = out_dir.resolve()
    for path in inputs:
        if path.resolve() == out or out in path.resolve().parents:
            return [f"{where}: output folder {out_dir} holds {path}, which this run reads; a run replaces its folder "
                    "as a whole. Choose another folder (--out DIR)."]
    from sropt.core.atomic import check_writable

    try:
        check_writable(out_dir, folder=True, what="run folder")
    except InputError as exc:
        return [f"{where}: {exc} (--out DIR)"]
    return []


def _baseline_problems(pipeline: Pipeline, where: str, at, base_dir: Path) -> list[str]:
    if pipeline.baseline:
        bp = base_dir / pipeline.baseline
        if bp.exists() and not bp.is_file():
            return [f"{at(('baseline',))}{where}, field 'baseline': {bp} is not a file."]
    return []
