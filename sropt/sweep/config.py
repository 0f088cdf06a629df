"""The typed model of ``sweeps.yaml`` and its loader: a base pipeline, a grid of overrides, a goal.

A sweep point is an ordinary pipeline: the base pipeline of pipelines.yaml
with some dotted keys replaced (``prune.ratio: 0.5``, ``quantize.tflite:
[...]``, ``model: FSRCNN_x3``). Every point is validated as a ``Pipeline``
through the pipelines loader's own messages, so a bad sweep is reported as
``FILE:LINE: sweep 's', grid key 'k': ...`` before anything runs.

Points drop the base pipeline's ``gates`` and ``baseline``: a baseline
belongs to one pipeline and one model (the runner refuses any other), and
the sweep's goal with its bounds is what judges a point.
"""

from __future__ import annotations

import copy
import enum
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from sropt.core.errors import ConfigError
from sropt.pipeline.config import PipelineConfig, anchor_dataset_paths, load_pipelines
from sropt.pipeline.messages import did_you_mean, field_names, field_names_at, problem_line, validation_problem
from sropt.pipeline.schema import Pipeline, PipelinesFile, Runtime, StrictModel, cross_check_pipeline
from sropt.pipeline.yamlfile import LineDict, line_of, load_yaml_with_lines, parse_yaml_with_lines

#: Grid key aliases: ``models: [...]`` reads better in a sweep than ``model:``.
KEY_ALIASES = {"models": "model"}


class GoalMetric(str, enum.Enum):
    """A number the sweep computes per artifact x runtime (drops and speed-up against the source in OpenCV)."""

    SPEED_UP = "speed_up"
    SIZE_BYTES = "size_bytes"
    LATENCY_MS = "latency_ms"
    PSNR_Y = "psnr_y"
    SSIM_Y = "ssim_y"
    PSNR_DROP = "psnr_drop"
    SSIM_DROP = "ssim_drop"


#: Metrics computed against the source model's OpenCV row of the same run.
RELATIVE_METRICS = frozenset({GoalMetric.SPEED_UP, GoalMetric.PSNR_DROP, GoalMetric.SSIM_DROP})


class Bound(StrictModel):
    """One constraint of the goal: ``metric <= max`` and/or ``metric >= min`` (quality bounds hold on every dataset)."""

    metric: GoalMetric = Field(description="The bounded metric.")
    max: float | None = Field(None, description="Upper bound (e.g. psnr_drop 0.1, size_bytes).")
    min: float | None = Field(None, description="Lower bound (e.g. speed_up 1.0).")

    @model_validator(mode="after")
    def _some_bound(self) -> "Bound":
        if self.max is None and self.min is None:
            raise ValueError("give max, min or both")
        return self


class Goal(StrictModel):
    """What picks the winner: one objective, subject to bounds."""

    maximize: GoalMetric | None = Field(None, description="Objective to maximize (e.g. speed_up).")
    minimize: GoalMetric | None = Field(None, description="Objective to minimize (e.g. size_bytes).")
    subject_to: list[Bound] = Field(default_factory=list, description="Bounds every candidate must meet.")
    runtimes: list[Runtime] | None = Field(None, description="Runtimes the winner may run in (default all validated).")

    @model_validator(mode="after")
    def _one_objective(self) -> "Goal":
        if (self.maximize is None) == (self.minimize is None):
            raise ValueError("give exactly one of maximize, minimize")
        return self

    @property
    def objective(self) -> GoalMetric:
        """The optimized metric."""
        return self.maximize or self.minimize  # type: ignore[return-value]

    def metrics(self) -> list[tuple[tuple[Any, ...], GoalMetric]]:
        """Every metric the goal reads, with its location in the sweep."""
        own = [(("maximize" if self.maximize else "minimize",), self.objective)]
        return own + [(("subject_to", i, "metric"), b.metric) for i, b in enumerate(self.subject_to)]


class Sweep(StrictModel):
    """A base pipeline, the overrides to try, and the goal."""

    description: str = Field("", description="What this sweep is for.")
    base: str = Field(min_length=1, description="Name of the base pipeline in the pipelines file.")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="Dotted pipeline keys -> values; every combination is a point (models: is model:; null removes a stage).")
    points: list[dict[str, Any]] = Field(default_factory=list, description="Extra points, each a mapping of dotted keys -> value.")
    goal: Goal = Field(description="How the winner is chosen.")


class SweepsFile(StrictModel):
    """The whole sweeps.yaml file."""

    version: Literal[1] = Field(1, description="File format version.")
    pipelines: str = Field("pipelines.yaml", description="The pipelines file the bases come from (relative to this file).")
    sweeps: dict[str, Sweep] = Field(min_length=1, description="Named sweeps.")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of sweeps.yaml (committed as sweeps.schema.json)."""
    schema = SweepsFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "sropt sweeps.yaml"
    schema["patternProperties"] = {"^x-": {}}
    return schema


# --------------------------------------------------------------------------- points


@dataclass
class SweepPoint:
    """One pipeline of the sweep: its overrides and the validated pipeline."""

    id: str
    overrides: dict[str, Any]
    pipeline: Pipeline
    raw: Any  # the merged YAML (with lines) it was validated from


@dataclass
class SweepPlan:
    """A validated sweep: every point, the goal, and the pipelines file it came from."""

    name: str
    sweep: Sweep
    points: list[SweepPoint]
    pipelines: PipelineConfig
    path: Path | None = None
    notes: list[str] = field(default_factory=list)

    def point_config(self, point: SweepPoint) -> PipelineConfig:
        """A one-pipeline config the runner can run (model paths resolve against the pipelines file)."""
        file = PipelinesFile.model_construct(version=1, default=None, defaults=None, pipelines={point.id: point.pipeline})
        return PipelineConfig(file=file, path=self.pipelines.path, raw={point.id: point.raw})


def expand_grid(sweep: Sweep) -> list[dict[str, Any]]:
    """Every combination of the grid (first key varies slowest), then the explicit points."""
    keys = list(sweep.grid)
    combos = [dict(zip(keys, values)) for values in itertools.product(*(sweep.grid[k] for k in keys))] if keys else []
    return combos + [dict(p) for p in sweep.points]


def apply_overrides(base: Any, overrides: dict[str, Any]) -> LineDict:
    """``base`` (a pipeline mapping) with each dotted key set; a None value removes the key."""
    out = copy.deepcopy(base)
    for dotted, value in overrides.items():
        parts = KEY_ALIASES.get(dotted, dotted).split(".")
        node = out
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = LineDict()
            node = node[part]
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    out.pop("gates", None)
    out.pop("baseline", None)
    return out


def _key_problem(key: str) -> str | None:
    """Why a dotted grid key names no pipeline field (None when it does)."""
    parts = KEY_ALIASES.get(key, key).split(".")
    allowed = field_names_at(Pipeline, tuple(parts[:-1])) if len(parts) > 1 else field_names(Pipeline)
    if parts[-1] in allowed and parts[-1] not in ("gates", "baseline", "output"):
        return None
    allowed -= {"gates", "baseline", "output"}
    if not allowed:
        return f"'{'.'.join(parts[:-1])}' is not a pipeline stage with fields"
    return f"not a pipeline field{did_you_mean(parts[-1], allowed)} (fields here: {', '.join(sorted(allowed))})"


# --------------------------------------------------------------------------- loading


def load_sweeps(path: Path) -> tuple[SweepsFile, Any, Path]:
    """Parse and type-check sweeps.yaml (the points are checked by ``plan_sweep``)."""
    path = Path(path)
    raw = load_yaml_with_lines(path)
    return _validate_file(raw, str(path)), raw, path


def parse_sweeps(text: str, name: str = "<string>") -> tuple[SweepsFile, Any]:
    """Validate sweeps YAML given as text (for tests)."""
    raw = parse_yaml_with_lines(text, name)
    return _validate_file(raw, name), raw


def _validate_file(raw: Any, name: str) -> SweepsFile:
    if not isinstance(raw, LineDict):
        raise ConfigError(f"{name}: expected a mapping with a 'sweeps:' key at the top, got {type(raw).__name__}.")
    # x-* top-level keys hold YAML anchors, as in pipelines.yaml.
    body = {k: v for k, v in raw.items() if not str(k).startswith("x-")}
    try:
        return SweepsFile.model_validate(body)
    except ValidationError as exc:
        problems = [validation_problem(name, raw, err, "", SweepsFile) for err in exc.errors()]
        raise ConfigError(f"{name}: {len(problems)} problem(s); nothing was run", problems=problems) from None


def plan_sweep(
    file: SweepsFile, raw: Any, name: str, *, path: Path | None = None, pipelines: PipelineConfig | None = None,
    file_name: str | None = None,
) -> SweepPlan:
    """Validate sweep ``name`` point by point; one ConfigError listing every problem, or the plan."""
    fname = file_name or (str(path) if path else "<sweeps>")
    if name not in file.sweeps:
        raise ConfigError(f"{fname}: no sweep named '{name}'. Defined sweeps: {', '.join(file.sweeps)}.")
    sweep, sraw = file.sweeps[name], raw["sweeps"][name]
    if pipelines is None:
        base_dir = path.parent if path else Path.cwd()
        pipelines = load_pipelines(base_dir / file.pipelines)
    where = f"sweep '{name}'"
    problems: list[str] = []
    if sweep.base not in pipelines.raw:
        raise ConfigError(f"{fname}:{line_of(sraw, ('base',))}: {where}, field 'base': pipeline '{sweep.base}' is not in {pipelines.path}{did_you_mean(sweep.base, set(pipelines.raw))}.")
    for key, values in sweep.grid.items():
        at = line_of(sraw, ("grid", key))
        if not values:
            problems.append(problem_line(fname, at, f"{where}, grid key '{key}'", "empty list of values; give at least one"))
        elif (why := _key_problem(key)) is not None:
            problems.append(problem_line(fname, at, f"{where}, grid key '{key}'", why))
    for i, point in enumerate(sweep.points):
        for key in point:
            if (why := _key_problem(key)) is not None:
                problems.append(problem_line(fname, line_of(sraw, ("points", i)), f"{where}, points[{i}] key '{key}'", why))
    if not sweep.grid and not sweep.points:
        problems.append(problem_line(fname, line_of(sraw, ()), where, "no grid and no points: nothing to sweep; add grid: {prune.ratio: [0.25, 0.5]}"))
    if problems:
        raise ConfigError(f"{fname}: {where}: {len(problems)} problem(s); nothing was run", problems=problems)
    points, problems = _build_points(name, sweep, sraw, pipelines, fname, where)
    if problems:
        unique = list(dict.fromkeys(problems))
        raise ConfigError(f"{fname}: {where}: {len(unique)} problem(s); nothing was run", problems=unique)
    return SweepPlan(name=name, sweep=sweep, points=points, pipelines=pipelines, path=path)


def _build_points(name: str, sweep: Sweep, sraw: Any, pipelines: PipelineConfig, fname: str, where: str) -> tuple[list[SweepPoint], list[str]]:
    """Each grid combination as a validated pipeline; problems point at the grid key that caused them."""
    points, problems = [], []
    for i, overrides in enumerate(expand_grid(sweep)):
        merged = apply_overrides(pipelines.raw[sweep.base], overrides)
        pid = f"{name}_p{i:02d}"
        said = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
        try:
            pipeline = Pipeline.model_validate(merged, context={"defer_cross_checks": True})
        except ValidationError as exc:
            for err in exc.errors():
                problems.append(_point_problem(fname, sraw, sweep, overrides, err["loc"], validation_problem("", merged, err, "", Pipeline), said))
            continue
        for loc, msg in cross_check_pipeline(pipeline):
            problems.append(_point_problem(fname, sraw, sweep, overrides, loc, msg, said))
        problems += [_point_problem(fname, sraw, sweep, overrides, ("goal",) + loc, msg, said) for loc, msg in goal_problems(sweep.goal, pipeline)]
        anchor_dataset_paths(pipeline, pipelines.base_dir)
        points.append(SweepPoint(pid, overrides, pipeline, merged))
    return points, problems


def _point_problem(fname: str, sraw: Any, sweep: Sweep, overrides: dict[str, Any], loc: tuple[Any, ...], msg: str, said: str) -> str:
    """A point's problem, placed at the grid key whose value caused it (else at the goal / the base)."""
    msg = re.sub(r"^:?\d*: ", "", msg)  # validation_problem's "FILE:LINE: " with no file; the line is the grid key's
    dotted = [str(p) for p in loc if not isinstance(p, int)]
    for key in overrides:
        parts = KEY_ALIASES.get(key, key).split(".")
        if dotted[: len(parts)] == parts:
            return problem_line(fname, line_of(sraw, ("grid", key)), f"sweep point {said}, grid key '{key}'", msg)
    if loc and loc[0] == "goal":
        return problem_line(fname, line_of(sraw, loc), f"sweep point {said}, field '{'.'.join(map(str, loc))}'", msg)
    return problem_line(fname, line_of(sraw, ("base",)), f"sweep point {said}, base pipeline '{sweep.base}', field '{'.'.join(map(str, loc))}'", msg)


def goal_problems(goal: Goal, pipeline: Pipeline) -> list[tuple[tuple[Any, ...], str]]:
    """Goal metrics this point's pipeline cannot produce, each with its location under goal."""
    problems = []
    v = pipeline.validate_
    for loc, metric in goal.metrics():
        if v is None:
            problems.append((loc, f"goal metric '{metric.value}' but the pipeline has no validate stage; add one"))
        elif metric in RELATIVE_METRICS and not (v.include_source and Runtime.OPENCV in v.runtimes):
            problems.append((loc, f"goal metric '{metric.value}' is measured against the source in OpenCV; set validate.include_source: true and keep opencv in validate.runtimes"))
    for i, runtime in enumerate(goal.runtimes or []):
        if v is not None and runtime not in v.runtimes:
            problems.append((("runtimes", i), f"runtime '{runtime.value}' is not in validate.runtimes"))
    return problems


if __name__ == "__main__":  # python -m sropt.sweep.config > sweeps.schema.json
    import json

    print(json.dumps(json_schema(), indent=2))
