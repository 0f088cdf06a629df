"""Run one pipeline: preflight, cached steps, the run folder, gates.

Order of work, and why:

1. Every check that can fail on bad input (the whole file's schema, the
   datasets, the model, the output folder, the baseline) runs before any
   stage, so a typo never costs a 10-minute conversion.
2. Steps run in plan order through ``StageCache``: a step whose key is in
   the cache and verifies is skipped; a corrupted entry is reported in the
   step record and rebuilt.
3. The run folder is assembled in a staging folder beside it and swapped in
   at the end, so a failed or interrupted run leaves the previous results
   as they were.
4. Gates are evaluated and written with the reports; the caller decides
   what a failed gate means (``sropt run`` exits 1 after writing everything).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sropt import __version__
from sropt.core.artifacts import Artifact, sidecar_path
from sropt.core.errors import ConfigError, FetchError, InputError, SroptError, StageError
from sropt.core.interrupt import raise_if_interrupted
from sropt.pipeline import steps as steps_mod
from sropt.pipeline.cache import CacheEntry, CorruptEntry, StageCache, key_payload, sha256_file, step_key
from sropt.pipeline.config import RUN_FOLDER_MARKER, PipelineConfig, is_model_path, preflight, resolve_dataset
from sropt.pipeline.baseline import baseline_mismatch, load_baseline
from sropt.pipeline.gates import GateResult, evaluate_gates, gates_failed
from sropt.pipeline.payoff import add_payoffs, skip_note
from sropt.pipeline.schema import Pipeline
from sropt.pipeline.step_environment import step_environment

log = logging.getLogger("sropt.pipeline")

REPORT_SCHEMA_VERSION = 1

#: Source models at least this large run their stages in separate processes by
#: default (EDSR B=32/F=256 is 38.5 MB; the FSRCNN/ESPCN/LapSRN zoo is <= 4 MB).
ISOLATE_MIN_BYTES = 8 * 1024 * 1024


class StepStatus:
    """How a step's output was obtained in this run."""

    RAN = "ran"  # not in the cache: the stage ran
    CACHED = "cached"  # a verified cache entry was reused; the stage was skipped
    REBUILT = "rebuilt"  # a cache entry existed but failed verification; the stage ran again


@dataclass
class StepRecord:
    """What happened to one step in a run (kept in report.json under pipeline.steps)."""

    name: str
    status: str
    key: str
    seconds: float  # wall time of this step in this run (hash checks only when cached)
    build_seconds: float  # wall time of the run that built the cached output
    artifact: str | None = None  # file name of the step's artifact (None for validate)
    size_bytes: int | None = None
    note: str = ""

    @property
    def skipped(self) -> bool:
        """True when the stage did not run (its output came from the cache)."""
        return self.status == StepStatus.CACHED


class RunObserver(Protocol):
    """Progress callbacks (the CLI shows them with rich)."""

    def step_started(self, name: str, index: int, total: int) -> None:
        """A step is about to be looked up / run."""

    def step_finished(self, record: StepRecord) -> None:
        """A step finished (ran, cached or rebuilt)."""

    def step_progress(self, name: str, message: str) -> None:
        """A running stage reported progress."""


@dataclass
class RunResult:
    """The outcome of ``run_pipeline``."""

    pipeline: str
    out_dir: Path
    steps: list[StepRecord]
    report: dict[str, Any]
    gate_results: list[GateResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no gate failed or errored."""
        return not gates_failed(self.gate_results)


# --------------------------------------------------------------------------- model


MODEL_REMEDY = (
    "Provide it one of these ways: set SROPT_MODEL_MIRROR to a folder (or URL) holding {file}; "
    "pass the file with --model PATH; or download it once with `sropt models fetch {name}`."
)


def resolve_source(pipeline: Pipeline, name: str, base_dir: Path, model_override: Path | None) -> Path:
    """The local file of the pipeline's model; InputError/FetchError saying how to provide it."""
    if model_override is not None:
        return Path(model_override)
    ref = pipeline.model
    if is_model_path(ref):
        return (base_dir / ref).expanduser()
    from sropt.models import resolve_model

    file = ref if ref.endswith(".pb") else f"{ref}.pb"
    try:
        return Path(resolve_model(ref))
    except FetchError as exc:
        raise FetchError(
            f"pipeline '{name}': model '{ref}' is not in the cache and could not be obtained ({exc}). "
            + MODEL_REMEDY.format(file=file, name=ref)
        ) from None
    except InputError as exc:
        raise InputError(f"pipeline '{name}', field 'model': {exc}") from None


# --------------------------------------------------------------------------- run


@contextmanager
def _capture_log() -> Iterator[io.StringIO]:
    """Collect sropt's log records of this run (written to run.log)."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger("sropt")
    old_level, old_propagate = root.level, root.propagate
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # TF/absl install a handler on the root logger; without this every INFO
    # line of the run would also be printed to the terminal.
    root.propagate = False
    try:
        yield buf
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        root.propagate = old_propagate


def run_pipeline(
    config: PipelineConfig,
    name: str | None = None,
    *,
    model: Path | None = None,
    out: Path | None = None,
    force: bool = False,
    observer: RunObserver | None = None,
    cache: StageCache | None = None,
    isolate: bool | None = None,
) -> RunResult:
    """Run pipeline ``name`` of ``config``; return the steps, report and gate results.

    ``isolate`` runs each stage that has to run in its own spawned process
    (see ``sropt.pipeline.isolation``), so memory is returned between stages.
    None (auto) isolates when the source model is at least
    ``ISOLATE_MIN_BYTES``: a process start costs a few seconds per step, which
    only pays off for models whose conversion holds gigabytes.

    Raises ConfigError/InputError before any stage when the input is bad,
    FetchError when the model cannot be obtained, StageError when a stage
    fails. Gate failures do not raise: check ``RunResult.passed``.
    """
    name, pipeline = config.select(name)
    out_dir = Path(out) if out is not None else Path(pipeline.output or Path("runs") / name)
    baseline = _checked_before_running(config, name, pipeline, out_dir, model)
    source_path = resolve_source(pipeline, name, config.base_dir, model)

    cache = cache or StageCache()
    if isolate is None:
        isolate = source_path.stat().st_size >= ISOLATE_MIN_BYTES
    plan = steps_mod.plan_steps(pipeline)
    stem = source_path.stem
    with _capture_log() as logbuf:
        log.info("sropt %s: pipeline %s, model %s (%s)", __version__, name, pipeline.model, source_path)
        t_start = time.perf_counter()
        model_sha = sha256_file(source_path)
        _check_baseline_identity(baseline, name, model_sha, config.base_dir / (pipeline.baseline or ""))
        log.info("stages run %s", "each in its own process" if isolate else "in this process")
        entries, artifacts, records = _run_steps(
            plan, pipeline, name, stem, source_path, model_sha, cache, force, isolate, observer, logbuf)

        raise_if_interrupted()
        report = _assemble_report(name, pipeline, entries, artifacts, records, model_sha, model)
        gate_results = _apply_gates(pipeline, report, baseline)
        log.info("pipeline %s finished in %.1f s", name, time.perf_counter() - t_start)
        resolved = _resolved_config(name, pipeline, source_path, model_sha, config)
        _write_run_folder(out_dir, entries, artifacts, report, gate_results, resolved, logbuf.getvalue())
    return RunResult(name, out_dir, records, report, gate_results)


def _checked_before_running(
    config: PipelineConfig, name: str, pipeline: Pipeline, out_dir: Path, model: Path | None,
) -> dict[str, Any] | None:
    """Every check that can fail, before any stage runs; returns the pipeline's baseline (None if it has none yet)."""
    problems = preflight(pipeline, name, base_dir=config.base_dir, out_dir=out_dir, model_override=model, config=config)
    baseline = None
    if pipeline.baseline:
        bpath = config.base_dir / pipeline.baseline
        if bpath.is_file():
            try:
                baseline = load_baseline(bpath)
            except InputError as exc:
                problems.append(f"pipeline '{name}', field 'baseline': {exc}")
    if problems:
        raise ConfigError(f"pipeline '{name}': {len(problems)} problem(s); nothing was run", problems=problems)
    return baseline


def _run_steps(
    plan: list[steps_mod.PlannedStep], pipeline: Pipeline, name: str, stem: str, source_path: Path, model_sha: str, cache: StageCache,
    force: bool, isolate: bool, observer: RunObserver | None, logbuf: io.StringIO,
) -> tuple[dict[str, CacheEntry], dict[str, Artifact], list[StepRecord]]:
    """Run (or take from the cache) each planned step in order; a failure keeps the log and re-raises."""
    entries: dict[str, CacheEntry] = {}
    artifacts: dict[str, Artifact] = {}
    records: list[StepRecord] = []
    dropped: set[str] = set()  # steps whose artifact skip_if_not_smaller kept out of the run
    for index, step in enumerate(plan):
        raise_if_interrupted()  # a Ctrl-C a stage's C++ code swallowed stops the run here
        step = _without_dropped(step, dropped)
        if observer:
            observer.step_started(step.name, index, len(plan))
        say = (lambda msg, _n=step.name: observer.step_progress(_n, msg)) if observer else None
        try:
            record, entry = _run_step(step, pipeline, stem, source_path, model_sha, entries, artifacts, cache, force, say, isolate)
        except BaseException as exc:
            if observer and hasattr(observer, "step_failed"):
                observer.step_failed(step.name, exc)
            log.error("step %s failed: %s", step.name, exc, exc_info=not isinstance(exc, (SroptError, KeyboardInterrupt)))
            _keep_failure_log(exc, name, logbuf.getvalue())
            raise
        entries[step.name] = entry
        artifact_file = entry.outputs.get("artifact")
        if artifact_file:
            artifacts[step.name] = _load_artifact(entry.path / artifact_file)
            _drop_if_not_smaller(step, record, records, artifacts, dropped)
        records.append(record)
        log.info("step %s: %s in %.2f s (key %s)%s", step.name, record.status, record.seconds, record.key[:12], f"; {record.note}" if record.note else "")
        if observer:
            observer.step_finished(record)
    return entries, artifacts, records


def _apply_gates(pipeline: Pipeline, report: dict[str, Any], baseline: dict[str, Any] | None) -> list[GateResult]:
    """Evaluate the pipeline's gates on ``report``, record them in it and in the log."""
    gate_results = evaluate_gates(pipeline.gates, report, baseline=baseline)
    report["pipeline"]["gate_results"] = [g.to_json() for g in gate_results]
    report["pipeline"]["passed"] = not gates_failed(gate_results)
    for g in gate_results:
        log.log(logging.WARNING if g.failed else logging.INFO, "gate %s [%s/%s/%s]: %s %s", g.gate, g.stage, g.runtime, g.dataset, g.status.value, g.message)
    return gate_results


def _check_baseline_identity(baseline: dict[str, Any] | None, name: str, model_sha: str, path: Path) -> None:
    """ConfigError before any stage when the pipeline's baseline belongs to another pipeline or model."""
    if baseline is None:
        return
    mismatch = baseline_mismatch(baseline, {"pipeline": {"name": name, "model_sha256": model_sha}})
    if mismatch:
        raise ConfigError(
            f"{path}: this baseline was measured on another pipeline or model; nothing was run. "
            "Point baseline: at this pipeline's file, or write one with `sropt baseline update` after a reviewed run.",
            problems=mismatch,
        )


def _keep_failure_log(exc: BaseException, name: str, text: str) -> None:
    """Keep run.log of a failed run in the cache (the run folder is left untouched) and point to it."""
    from sropt.core.locations import cache_dir

    try:
        dest = cache_dir() / "logs" / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text, encoding="utf-8")
    except OSError:
        return
    if isinstance(exc, SroptError) and exc.args:
        exc.args = (f"{exc.args[0]}\n  (run log: {dest}; finished steps are cached, rerun to resume)", *exc.args[1:])


def _without_dropped(step: steps_mod.PlannedStep, dropped: set[str]) -> steps_mod.PlannedStep:
    """``step`` reading none of the ``dropped`` steps' artifacts (validate lists every producer)."""
    if not dropped.intersection(step.inputs):
        return step
    return dataclasses.replace(step, inputs=tuple(up for up in step.inputs if up not in dropped))


def _drop_if_not_smaller(step, record: StepRecord, records: list[StepRecord], artifacts: dict[str, Artifact], dropped: set[str]) -> None:
    """Keep a quantized artifact out of the run when it asked for skip_if_not_smaller and is not smaller than its input."""
    parent = next((r for r in records if step.inputs and r.name == step.inputs[0]), None)
    flag = bool(getattr(step.config, "skip_if_not_smaller", False))
    note = skip_note(step.name, flag, record.size_bytes, parent.name, parent.size_bytes) if parent else None
    if note:
        record.note = f"{record.note}; {note}" if record.note else note
        artifacts.pop(step.name)
        dropped.add(step.name)


def _run_step(step, pipeline, stem, source_path, model_sha, entries, artifacts, cache, force, say=None, isolate=False) -> tuple[StepRecord, CacheEntry]:
    kind = step.kind
    if step.name == "source":
        key_config: dict[str, Any] = {"model_sha256": model_sha, "stem": stem}
    else:
        key_config = step.key_config
    inputs = [{"step": up, "key": entries[up].key, "files": entries[up].files} for up in step.inputs]
    code_version = steps_mod.ADAPTER_VERSIONS.get(kind, "")
    environment = step_environment(kind)  # library versions (and CPU for validate): an upgrade reruns what it affects
    key = step_key(step.name, key_config, inputs, code_version=code_version, environment=environment)
    t0 = time.perf_counter()
    status, note = StepStatus.RAN, ""
    entry = None
    try:
        entry = cache.lookup(key)
    except CorruptEntry as exc:
        status, note = StepStatus.REBUILT, f"{exc}; rebuilt"
        log.warning("step %s: %s; discarding and rebuilding", step.name, exc)
        cache.discard(key)
    if entry is not None and force:
        status, note, entry = StepStatus.RAN, "forced (--force)", None
    if entry is not None:
        return _record(step.name, StepStatus.CACHED, entry, time.perf_counter() - t0, note), entry

    with cache.build(key, step.name, key_payload(step.name, key_config, inputs, code_version=code_version, environment=environment)) as builder:
        ctx = steps_mod.StepContext(
            step=step,
            inputs={up: artifacts[up] for up in step.inputs},
            out_dir=builder.path,
            pipeline=pipeline,
            stem=stem,
            source_path=source_path if step.name == "source" else None,
            progress=say,
        )
        adapter = steps_mod.ADAPTERS[kind]
        t_stage = time.perf_counter()
        try:
            if isolate and adapter is steps_mod.BUILTIN_ADAPTERS.get(kind):
                from sropt.pipeline.isolation import run_adapter_isolated

                result = run_adapter_isolated(kind, ctx, step=step.name)
            else:
                result = adapter(ctx)
        except SroptError as exc:
            # Name the step; keep the class so the exit code stays meaningful.
            raise type(exc)(f"step '{step.name}': {exc}") from exc
        except Exception as exc:  # a stage library bug or a converter crash
            raise StageError(f"step '{step.name}' failed: {exc.__class__.__name__}: {exc}") from exc
        seconds = time.perf_counter() - t_stage
        path = result.path if isinstance(result, Artifact) else Path(result)
        if path.resolve().parent != builder.path.resolve():
            raise StageError(f"step '{step.name}': adapter wrote {path} outside its cache folder {builder.path}")
        if isinstance(result, Artifact):
            result.write_sidecar()
            builder.outputs = {"artifact": path.name, "seconds": seconds}
        else:
            builder.outputs = {"report": path.name, "seconds": seconds}
    entry = cache.lookup(key)
    assert entry is not None
    return _record(step.name, status, entry, time.perf_counter() - t0, note), entry


def _record(name: str, status: str, entry: CacheEntry, seconds: float, note: str) -> StepRecord:
    artifact = entry.outputs.get("artifact")
    size = entry.manifest["files"][artifact]["size"] if artifact else None
    return StepRecord(
        name=name, status=status, key=entry.key, seconds=round(seconds, 3),
        build_seconds=round(float(entry.outputs.get("seconds", 0.0)), 3),
        artifact=artifact, size_bytes=size, note=note,
    )


def _load_artifact(path: Path) -> Artifact:
    artifact = Artifact.from_sidecar(path)
    if artifact is None:
        raise StageError(f"{path}: cache entry has no sidecar {sidecar_path(path).name}")
    return artifact


# --------------------------------------------------------------------------- report


def _assemble_report(name: str, pipeline: Pipeline, entries: dict[str, CacheEntry], artifacts: dict[str, Artifact], records: list[StepRecord],
                     model_sha: str, model_given: Path | None = None) -> dict[str, Any]:
    """The run's report.json: the validation report with run-folder paths plus a pipeline section."""
    by_file = {a.path.name: step for step, a in artifacts.items()}
    if "validate" in entries:
        report = json.loads((entries["validate"].path / entries["validate"].outputs["report"]).read_text())
    else:
        report = {"schema_version": REPORT_SCHEMA_VERSION, "results": []}
    for row in report.get("results", []):
        art = str(row.get("artifact", ""))
        stage = by_file.get(Path(art).name)
        if stage is None:
            row.setdefault("role", "bicubic" if art == "bicubic" else "other")
            continue
        row["artifact"] = f"artifacts/{Path(art).name}"
        row["stage"] = stage
        row["role"] = "source" if stage == "source" else "optimized"
    report["pipeline"] = {
        "name": name,
        "description": pipeline.description,
        "model": pipeline.model,
        "model_sha256": model_sha,  # hashed once at the start of the run; the reports print it
        "model_given": str(model_given) if model_given is not None else None,  # --model: the reports name this file, not `model`
        "sropt_version": __version__,
        "source": f"artifacts/{artifacts['source'].path.name}",
        "artifacts": {step: f"artifacts/{a.path.name}" for step, a in artifacts.items()},
        "steps": [asdict(r) for r in records],
        "summary": add_payoffs(stage_summary(report, records, artifacts), report.get("results", []), _parents(pipeline)),
        "details": _stage_details(entries),
        "gates": [g.model_dump(mode="json", exclude_none=True) for g in pipeline.gates],
    }
    return report


def _parents(pipeline: Pipeline) -> dict[str, str]:
    """Each quantize step's input step (the float file it was made from)."""
    return {s.name: s.inputs[0] for s in steps_mod.plan_steps(pipeline) if s.kind.startswith("quantize") and s.inputs}


def _stage_details(entries: dict[str, CacheEntry]) -> dict[str, Any]:
    """What each stage measured itself (its --json object), by step."""
    from sropt.pipeline.stage_calls import DETAILS

    out = {}
    for step, entry in entries.items():
        f = entry.path / DETAILS
        if f.is_file():
            out[step] = json.loads(f.read_text(encoding="utf-8"))
    return out


#: The runtime each artifact kind is judged in for the summary's PSNR delta.
PRIMARY_RUNTIME = {"pb": "opencv", "onnx": "ort", "tflite": "tflite"}


def stage_summary(report: dict[str, Any], records: list[StepRecord], artifacts: dict[str, Artifact]) -> list[dict[str, Any]]:
    """Per step: build time, size, and PSNR-Y delta vs the source model per dataset."""
    rows = report.get("results", [])
    datasets = list(dict.fromkeys(str(r.get("dataset")) for r in rows if r.get("stage")))
    source_rows = [r for r in rows if r.get("stage") == "source" and r.get("psnr_y") is not None]
    out = []
    for rec in records:
        item: dict[str, Any] = {
            "step": rec.name, "status": rec.status, "seconds": rec.build_seconds,
            "artifact": rec.artifact, "size_bytes": rec.size_bytes, "psnr_y": {}, "psnr_delta": {}, "runtime": None,
        }
        art = artifacts.get(rec.name)
        if art is not None:
            mine = [r for r in rows if r.get("stage") == rec.name and r.get("psnr_y") is not None]
            preferred = PRIMARY_RUNTIME.get(art.kind.value)
            for ds in datasets:
                cand = [r for r in mine if str(r.get("dataset")) == ds]
                row = next((r for r in cand if r.get("runtime") == preferred), cand[0] if cand else None)
                if row is None:
                    continue
                item["runtime"] = row["runtime"]
                item["psnr_y"][ds] = row["psnr_y"]
                srcs = [r for r in source_rows if str(r.get("dataset")) == ds]
                ref = next((r for r in srcs if r.get("runtime") == row["runtime"]), next((r for r in srcs if r.get("runtime") == "opencv"), srcs[0] if srcs else None))
                if ref is not None:
                    item["psnr_delta"][ds] = round(float(row["psnr_y"]) - float(ref["psnr_y"]), 4)
        out.append(item)
    return out


def _resolved_config(name: str, pipeline: Pipeline, source_path: Path, model_sha: str, config: PipelineConfig) -> dict[str, Any]:
    cfg = pipeline.model_dump(mode="json", by_alias=True, exclude_none=True)
    refs = list(pipeline.validate_.datasets) if pipeline.validate_ else []
    if pipeline.prune:
        refs.append(pipeline.prune.calib)
    if pipeline.quantize:
        refs += [t.calib for t in pipeline.quantize.tflite] + [o.calib for o in pipeline.quantize.onnx]
    datasets = {d: str(resolve_dataset(d)) for d in dict.fromkeys(refs)}
    return {
        "sropt_version": __version__,
        "pipelines_file": str(config.path) if config.path else None,
        "pipeline": name,
        "source": {"ref": pipeline.model, "path": str(source_path), "sha256": model_sha},
        "datasets": datasets,
        "config": cfg,
    }


# --------------------------------------------------------------------------- run folder


def _write_run_folder(out_dir: Path, entries, artifacts, report, gate_results, resolved, log_text) -> None:
    """Build the run folder beside ``out_dir`` and swap it in (old results survive any failure)."""
    import yaml

    from sropt.pipeline.gates import gates_summary_markdown
    from sropt.pipeline.junit import write_junit
    from sropt.pipeline.reports import write_run_reports

    out_dir = Path(out_dir)
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = parent / f".{out_dir.name}.staging-{os.getpid()}-{time.monotonic_ns()}"
    staging.mkdir()
    try:
        art_dir = staging / "artifacts"
        art_dir.mkdir()
        for step, artifact in artifacts.items():
            for f in (artifact.path, sidecar_path(artifact.path)):
                if f.exists():
                    _independent_copy(f, art_dir / f.name)
        write_run_reports(report, staging, validate_dir=entries["validate"].path if "validate" in entries else None)
        (staging / "gates.md").write_text(gates_summary_markdown(gate_results, title=f"Quality gates: {report['pipeline']['name']}"), encoding="utf-8")
        write_junit(gate_results, staging / "junit.xml", suite=f"sropt.gates.{report['pipeline']['name']}")
        (staging / RUN_FOLDER_MARKER).write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
        (staging / "run.log").write_text(log_text, encoding="utf-8")
        old = None
        if out_dir.exists():
            old = parent / f".{out_dir.name}.old-{os.getpid()}-{time.monotonic_ns()}"
            os.replace(out_dir, old)
        os.replace(staging, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _independent_copy(src: Path, dest: Path) -> None:
    """A copy of a cache file for the run folder that shares nothing with the cache (issue 20 item 4).

    Hard links were free but tied the two: editing a cached file changed a
    finished run's artifact. A reflink (FICLONE: btrfs, XFS, overlayfs on
    them) is as cheap and independent; elsewhere a plain copy (measured: a
    150 MB file, the size of a full EDSR graph, 1.5 s on ext4 on this shared
    2-core machine, once per artifact per completed run).
    """
    try:
        import fcntl  # POSIX only

        ficlone = 0x40049409  # _IOW(0x94, 9, int) from linux/fs.h
        with open(src, "rb") as fin, open(dest, "wb") as fout:
            fcntl.ioctl(fout.fileno(), ficlone, fin.fileno())
        shutil.copystat(src, dest)
    except (ImportError, OSError):
        shutil.copy2(src, dest)
