"""The validation stage: ``validate_artifacts(artifacts, config) -> ValidationReport``.

For each dataset x degradation the LR images are made once (and cached by
content across runs in one process). Each artifact then runs on the full sets
in the runtime its file is made for (.pb in OpenCV, .onnx in ONNX Runtime,
.tflite in LiteRT), by default in its own spawned process so the peak RSS is
that runtime's, and returns per-image PSNR/SSIM and latencies; its SR outputs
go to a scratch folder, from which the report's crops are chosen afterwards
(``sropt.validate.report_crops``: the images where the artifacts differ most).
Cross-runtime parity is computed on a fixed set of small LR crops, run in
every allowed runtime that loads each file: those other runtimes give
parity-only rows (``scope == "parity"``) instead of repeating full-set
inference (``all_runtimes`` restores full rows everywhere). A bicubic
baseline row is added per set. Bad inputs never stop the run: they become
``problems`` (run level) or ``errors`` (row level) in the report.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sropt.core.artifacts import ArtifactKind
from sropt.core.errors import InputError, SroptError, StageError
from sropt.validate.config import ValidationConfig
from sropt.validate.dataset import load_dataset
from sropt.validate.degradation import bicubic_upscale
from sropt.validate.environment import describe_environment
from sropt.validate.pairs import iter_scores, score_image
from sropt.validate.prepare import EvalSet, pick_crop_box, prepare_set, store_set
from sropt.validate.parity_cache import CACHED_NOTE, load_parity, parity_key, store_parity
from sropt.validate.workers import WorkerPools
from sropt.validate.report_crops import OutputRow, choose_crops, save_output
from sropt.validate.resolve import OpenedArtifact, open_artifact
from sropt.validate.results import Crop, ImageResult, ValidationReport, ValidationResult

Progress = Callable[[str], None]
BICUBIC = "bicubic"
#: The runtime each file type is made for, then the fallbacks when that one is not allowed.
OWN_RUNTIMES = {"pb": ("opencv", "tf"), "onnx": ("ort", "opencv"), "tflite": ("tflite",)}
ParityBoxes = dict[tuple[str, str], list[tuple[str, tuple[int, int, int]]]]  # set key -> (image, LR (y0, x0, n))


@dataclass
class RowTask:
    """One artifact x runtime to run over every eval set (picklable for a spawned process)."""

    opened: OpenedArtifact
    runtime: str
    sets: list[EvalSet]
    #: Where a full task saves its SR outputs for the report's crops (a scratch folder; None: it saves none).
    outputs_dir: Path | None
    config: ValidationConfig
    runner: Any = None  # runners.runner_ref(runtime) for a spawned worker; None: look ``runtime`` up here
    #: LR parity crops per set key; a parity-only task (``full`` False) gets these and no ``sets`` images.
    parity_lr: dict[tuple[str, str], list[np.ndarray]] | None = None
    full: bool = True
    parity_key: str | None = None  # a parity-only task's key in the parity cache


@dataclass
class RowOutput:
    """What a row task sends back: result rows, SR parity crops, seconds in the model."""

    results: list[ValidationResult]
    sr: dict[tuple[str, str], list[np.ndarray]]
    model_seconds: float = 0.0
    worker_seconds: float = 0.0  # the whole run_row, for the process start-up share


def validate_artifacts(
    artifacts: list[str | Path], config: ValidationConfig, progress: Progress | None = None
) -> ValidationReport:
    """Validate every artifact (path or registry name) where it is made for, plus parity crops; never raises on bad inputs."""
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    report = ValidationReport(environment=describe_environment(config.threads), config=_config_json(config))
    opened = _open_all(artifacts, config, say)
    opened_at = time.perf_counter()  # reading a .pb imports TensorFlow here: seconds of its own
    scale = config.scale or next((o.artifact.scale for _, o, _ in opened if o is not None), None)
    if config.refuse_bad_inputs and scale is None:
        raise InputError("no artifact could be opened: nothing to measure", problems=[err or ref for ref, _, err in opened])
    if scale is None:
        report.problems.append("no usable artifact and no --scale given: nothing to measure")
        report.results += [_error_row(ref, "-", "?", "?", 0, err) for ref, _, err in opened]
        return report
    report.config["scale"] = scale
    # The full rows' workers import their runtimes while this process prepares the sets (Set14, EDSR-T91: the
    # opencv worker's start, ~0.4 s, ran after the 0.27 s preparation); parity-only workers wait for the
    # parity cache, which may make them unnecessary (a TensorFlow import is 2-3 s of a core).
    pools = WorkerPools(_full_row_runtimes(opened, scale, config)) if config.isolate else None
    try:
        sets, unusable = _prepare_sets(config, scale, report, say)
        if config.refuse_bad_inputs:  # before any runtime row: bad inputs are exit 2, not a report of error rows
            _refuse_bad_inputs(opened, scale, unusable)
        prepared = time.perf_counter()
        boxes = parity_boxes(sets, config.parity_images, config.parity_crop)
        parity_lr = {s.key: [_lr_crop(s, name, box) for name, box in boxes[s.key]] for s in sets}
        report.config["parity_crops"] = {f"{k[0]}/{k[1]}": [[name, *box] for name, box in v] for k, v in boxes.items()}
        report.warnings += _unloadable_warnings(opened, config)
        # The rows' SR outputs go to a scratch folder: the report's crops are chosen where they differ most.
        with tempfile.TemporaryDirectory(prefix="sropt-outputs-") as scratch:
            entries = _plan_entries(opened, sets, scale, Path(scratch), parity_lr, config)
            outputs, rows_s = _run_rows(entries, sets, config, report, say, pools)
            sr_by_row = _collect(report, entries, outputs)
            report.crops = _report_crops(sets, entries, outputs, config)
    finally:
        if pools is not None:
            pools.close()
    _add_parity(sr_by_row)
    wall = time.perf_counter() - started
    model_s = sum(o.model_seconds for o in outputs.values())
    worker_s = sum(o.worker_seconds for o in outputs.values())
    report.timing = {
        "wall_s": round(wall, 3), "open_s": round(opened_at - started, 3), "prepare_s": round(prepared - opened_at, 3), "model_s": round(model_s, 3),
        # Rows' wall time less the time inside run_row: process start-up, runtime imports, pickling to and fro.
        "row_startup_s": round(max(rows_s - worker_s, 0.0), 3) if config.isolate else 0.0,
        "outside_model_share": round(1 - model_s / wall, 4) if wall > 0 else 0.0,
    }
    return report


def _run_rows(entries: list[ValidationResult | RowTask], sets: list[EvalSet], config: ValidationConfig,
              report: ValidationReport, say: Progress, pools: WorkerPools | None) -> tuple[dict[int, RowOutput], float]:
    """The bicubic rows into ``report``, then every task's output (parity rows from the cache where it has them).

    The worker processes ``pools`` has not started yet start first, and the bicubic rows are scored while
    they import their runtimes.
    """
    tasks = [e for e in entries if isinstance(e, RowTask)]
    outputs = _cached_parity_rows(tasks)
    to_run = [t for t in tasks if id(t) not in outputs]
    if pools is not None:
        pools.ensure([group[0].runtime for group in group_tasks(to_run)])
    report.results += [_bicubic_row(s, config) for s in sets]
    rows_s = _run_entries(to_run, say, pools, outputs)
    for t in to_run:
        if t.parity_key and not any(r.errors for r in outputs[id(t)].results):
            store_parity(t.parity_key, outputs[id(t)].sr)
    return outputs, rows_s


def _cached_parity_rows(tasks: list[RowTask]) -> dict[int, RowOutput]:
    """Outputs of the parity-only tasks the parity cache holds, by task id; each task gets its key for storing."""
    outputs = {}
    for t in tasks:
        if t.full:
            continue
        t.parity_key = parity_key(t.opened.artifact.path, t.runtime, t.config, t.parity_lr or {})
        sr = load_parity(t.parity_key)
        if sr is not None:
            rows = _task_rows(t)
            _finish_rows(rows, t)
            for row in rows:
                row.notes.append(CACHED_NOTE)
            outputs[id(t)] = RowOutput(rows, sr)
    return outputs


def _run_entries(tasks: list[RowTask], say: Progress, pools: WorkerPools | None, outputs: dict[int, RowOutput]) -> float:
    """Run ``tasks`` (grouped into processes), their outputs into ``outputs`` by task id; the seconds it took."""
    from sropt.core.background import wait_before_timing

    wait_before_timing()  # e.g. a sweep's Ray instance still stopping: nothing may share the cores with a timing
    rows_s = 0.0
    for group in group_tasks(tasks):
        host = group[0]
        extra = f" (+ parity crops of {len(group) - 1} more)" if len(group) > 1 else ""
        say(f"{host.opened.artifact.path.name} on {host.runtime}" + (" (parity crops)" if not host.full else "") + extra)
        t0 = time.perf_counter()
        for task, out in zip(group, _run_group(group, pools)):
            outputs[id(task)] = out
        rows_s += time.perf_counter() - t0
    return rows_s


def _report_crops(sets: list[EvalSet], entries: list[ValidationResult | RowTask], outputs: dict[int, RowOutput],
                  config: ValidationConfig) -> list[Crop]:
    """The report's crops from the saved outputs of the full rows that ran; the first of them is the reference."""
    rows = [OutputRow(f"{e.opened.artifact.path.name} [{e.runtime}]", e.outputs_dir) for e in entries
            if isinstance(e, RowTask) and e.full and e.outputs_dir is not None and not any(r.errors for r in outputs[id(e)].results)]
    return choose_crops(sets, rows, config.crop_size)


def _plan_entries(opened, sets: list[EvalSet], scale: int, scratch: Path, parity_lr, config: ValidationConfig) -> list[ValidationResult | RowTask]:
    """In report order: ready error rows, and a task per artifact x runtime to run."""
    entries: list[ValidationResult | RowTask] = []
    for ref, art, err in opened:
        if art is None:
            entries += [_error_row(ref, "-", s.dataset, s.degradation, scale, err or "") for s in sets or [EvalSet("-", "-", scale)]]
            continue
        full, parity_only = plan_runtimes(art, config)
        mismatch = None
        if art.artifact.scale != scale:
            mismatch = (
                f"{art.artifact.path}: artifact scale x{art.artifact.scale} differs from the requested x{scale}; "
                f"validate it in a separate run with --scale {art.artifact.scale}."
            )
        for runtime in full + parity_only:
            if mismatch or not sets:
                for s in sets or [EvalSet("-", "-", scale)]:
                    row = _error_row(ref, runtime, s.dataset, s.degradation, scale, mismatch or "no usable dataset")
                    _describe(row, art, config)
                    entries.append(row)
                continue
            is_full = runtime in full
            task_sets = sets if is_full else [EvalSet(s.dataset, s.degradation, s.scale) for s in sets]
            outputs_dir = scratch / str(len(entries)) if is_full else None
            entries.append(RowTask(art, runtime, task_sets, outputs_dir, config, parity_lr=parity_lr, full=is_full))
    return entries


def _collect(report: ValidationReport, entries: list[ValidationResult | RowTask], outputs: dict[int, RowOutput]):
    """Rows into the report in plan order; (row, its SR parity crops) pairs."""
    sr_by_row: list[tuple[ValidationResult, dict[tuple[str, str], list[np.ndarray]]]] = []
    for e in entries:
        if isinstance(e, ValidationResult):
            report.results.append(e)
            continue
        out = outputs[id(e)]
        report.results += out.results
        sr_by_row += [(r, out.sr) for r in out.results]
    return sr_by_row


def group_tasks(tasks: list[RowTask]) -> list[list[RowTask]]:
    """Tasks to run one process each: every full task, followed by the parity-only tasks of its runtime.

    A parity-only task is a few crops: it rides in the process of the first
    full task in its runtime (after that task's peak RSS is read, so the RSS
    stays that artifact's), or, when no artifact is made for that runtime, in
    one process with the other parity tasks of that runtime. One process start
    and runtime import less per parity row.
    """
    groups: list[list[RowTask]] = []
    host: dict[str, list[RowTask]] = {}
    for t in tasks:
        if t.full:
            groups.append([t])
            host.setdefault(t.runtime, groups[-1])
    for t in tasks:
        if not t.full:
            if t.runtime not in host:
                groups.append([])
                host[t.runtime] = groups[-1]
            host[t.runtime].append(t)
    return groups


def _open_all(artifacts: list[str | Path], config: ValidationConfig, say: Progress) -> list[tuple[str, OpenedArtifact | None, str | None]]:
    """(reference, opened artifact or None, why it did not open) for every artifact."""
    opened: list[tuple[str, OpenedArtifact | None, str | None]] = []
    for ref in artifacts:
        say(f"opening {ref}")
        try:
            art = open_artifact(ref)
            if config.tile:  # an overlap below this model's receptive field is refused before any work
                from sropt.validate.tiling import check_tiling, tiling_margin

                check_tiling(config.tile, config.overlap, tiling_margin(art.artifact))
            opened.append((str(ref), art, None))
        except SroptError as exc:
            opened.append((str(ref), None, str(exc)))
    return opened


def plan_runtimes(art: OpenedArtifact, config: ValidationConfig) -> tuple[list[str], list[str]]:
    """(runtimes for full-set rows, runtimes for parity-crop rows) of one artifact.

    The full-set runtime is the one the file type is made for (``OWN_RUNTIMES``)
    when allowed, else the first allowed one that loads it; every other allowed
    runtime that loads the file gets the parity crops only. ``all_runtimes``
    is the old behaviour: full rows in every allowed runtime that loads it (and,
    with an explicit list and no ``skip_incompatible``, error rows where one
    cannot).
    """
    if config.all_runtimes:
        if config.runtimes is None:
            return _compatible_runtimes(art), []
        return (_compatible_runtimes(art, config.runtimes) if config.skip_incompatible else list(config.runtimes)), []
    loading = _compatible_runtimes(art, config.runtimes)
    own = next((r for r in OWN_RUNTIMES.get(art.artifact.kind.value, ()) if r in loading), loading[0] if loading else None)
    if own is None:
        return [], []
    return [own], [r for r in loading if r != own]


def _full_row_runtimes(opened: list[tuple[str, OpenedArtifact | None, str | None]], scale: int, config: ValidationConfig) -> list[str]:
    """The runtime of every full-set row ``_plan_entries`` will plan (an artifact at another scale gets an error row)."""
    return [r for _, art, _ in opened if art is not None and art.artifact.scale == scale for r in plan_runtimes(art, config)[0]]


def _unloadable_warnings(opened: list[tuple[str, OpenedArtifact | None, str | None]], config: ValidationConfig) -> list[str]:
    """One warning per explicitly listed runtime that loads none of some artifacts' file types.

    None with ``skip_incompatible`` (asked for) or ``all_runtimes`` alone (the old error rows say it).
    """
    if config.runtimes is None or config.skip_incompatible or config.all_runtimes:
        return []
    from sropt.validate.runners import get_runner

    warnings = []
    for runtime in config.runtimes:
        kinds = get_runner(runtime).kinds
        names = [
            art.artifact.path.name + ("" if _compatible_runtimes(art, config.runtimes) else " (not validated: no listed runtime loads it)")
            for _, art, _ in opened if art is not None and art.artifact.kind not in kinds
        ]
        if names:
            loads = ", ".join(sorted(f".{k.value}" for k in kinds))
            warnings.append(f"runtime '{runtime}' loads only {loads} files; not used for {', '.join(names)}")
    return warnings


def parity_boxes(sets: list[EvalSet], n_images: int, size: int) -> ParityBoxes:
    """The fixed parity crops: for the first ``n_images`` images of each set, the most textured ``size`` px LR window."""
    return {s.key: [(img.name, pick_crop_box(img.lr, size)) for img in s.images[:n_images]] for s in sets}


def _lr_crop(s: EvalSet, name: str, box: tuple[int, int, int]) -> np.ndarray:
    img = next(i for i in s.images if i.name == name)
    y0, x0, n = box
    return np.ascontiguousarray(img.lr[y0 : y0 + n, x0 : x0 + n])


def _config_json(config: ValidationConfig) -> dict[str, Any]:
    d = asdict(config)
    d["datasets"] = [str(x) for x in config.datasets]
    d["lr_dir"] = str(config.lr_dir) if config.lr_dir is not None else None
    return d


def _prepare_sets(config: ValidationConfig, scale: int, report: ValidationReport, say: Progress) -> tuple[list[EvalSet], list[str]]:
    """The eval sets with at least one usable image, and why each dataset that gave none is unusable."""
    sets, unusable = [], []
    for ref in config.datasets:
        try:
            ds = load_dataset(ref, scale=scale, lr_dir=config.lr_dir)
        except InputError as exc:
            report.problems.append(str(exc))
            unusable.append(str(exc))
            continue
        for degradation in config.degradations if not ds.paired else config.degradations[:1]:
            say(f"preparing {ds.name} x{scale} ({degradation})")
            s = prepare_set(ds, degradation, scale, tiled=config.tile is not None)
            report.problems.extend(p for p in s.problems if p not in report.problems)
            if s.images:
                sets.append(s)
            else:
                unusable.append(f"--dataset {ref}: no usable image at x{scale} ({degradation})" + "".join(f"; {p}" for p in s.problems))
    return sets, unusable


def _refuse_bad_inputs(opened: list[tuple[str, OpenedArtifact | None, str | None]], scale: int, unusable: list[str]) -> None:
    """InputError listing every artifact that did not open or has another scale, and every unusable dataset."""
    problems = [err or f"{ref}: could not be opened" for ref, art, err in opened if art is None]
    problems += [
        f"{art.artifact.path}: artifact scale x{art.artifact.scale} differs from the requested x{scale}; "
        f"validate it in a separate run with --scale {art.artifact.scale}."
        for _, art, _ in opened if art is not None and art.artifact.scale != scale
    ]
    problems += unusable
    if problems:
        raise InputError("cannot validate: fix these inputs (nothing was measured)", problems=problems)


def _compatible_runtimes(art: OpenedArtifact, candidates: list[str] | None = None) -> list[str]:
    from sropt.validate.runners import DEFAULT_RUNTIMES, get_runner

    return [r for r in (candidates or DEFAULT_RUNTIMES) if art.artifact.kind in get_runner(r).kinds]


def _error_row(ref: str, runtime: str, dataset: str, degradation: str, scale: int, error: str, failure: str = "input") -> ValidationResult:
    return ValidationResult(ref, runtime, dataset, scale, degradation, label=Path(ref).name, errors=[error], failure=failure)


def _describe(row: ValidationResult, art: OpenedArtifact, config: ValidationConfig) -> None:
    a = art.artifact
    row.label, row.family, row.contract = a.label, a.family.value, a.contract.name
    row.kind, row.precision, row.size_bytes = a.kind.value, a.precision, art.size_bytes
    row.params, row.macs_per_pixel, row.threads = art.params, art.macs_per_pixel, config.threads
    row.notes = list(art.notes)
    if a.kind is ArtifactKind.TFLITE:  # GPU-delegate verdicts and the input-shape note (issue 18)
        from sropt.validate.delegate_notes import delegate_facts

        row.gpu_delegate, notes = delegate_facts(a.path)
        row.notes += notes


def _bicubic_row(s: EvalSet, config: ValidationConfig) -> ValidationResult:
    row = ValidationResult(BICUBIC, BICUBIC, s.dataset, s.scale, s.degradation, label=BICUBIC)
    row.notes.append("baseline: MATLAB imresize bicubic upscaling of the LR images")
    if s.bicubic is None or set(s.bicubic) != {img.name for img in s.images}:
        s.bicubic = {}
        for img in s.images:  # no model and no contract: the upscaled image is scored as it is
            score = score_image(bicubic_upscale(img.lr, s.scale), img.hr, s.scale, ssim=True, rgb=True)
            s.bicubic[img.name] = (score.psnr, score.ssim, score.psnr_rgb)
        store_set(s)  # the next validation of this content reads the scores (sropt.validate.set_cache)
    for img in s.images:
        psnr, ssim, psnr_rgb = s.bicubic[img.name]
        row.images.append(ImageResult(img.name, psnr, ssim, (img.lr.shape[1], img.lr.shape[0]), psnr_rgb if config.rgb_psnr else None))
    return row


def _run_group(group: list[RowTask], pools: WorkerPools | None) -> list[RowOutput]:
    """Run a group of tasks in one spawned process (in this one without ``config.isolate``), outputs in order.

    If the process dies, each task is run again in a process of its own, so the
    crash is pinned on the artifact that caused it and the others still measure.
    """
    if len(group) == 1 or pools is None:
        return [_run_task(t, pools) for t in group]
    from sropt.validate.runners import runner_ref

    for t in group:
        t.runner = runner_ref(t.runtime)
    try:
        with pools.take(group[0].runtime) as pool:
            return pool.submit(run_rows, group).result()
    except Exception:  # BrokenProcessPool: find out which task crashed it
        return [_run_task(t, pools) for t in group]


def run_rows(tasks: list[RowTask]) -> list[RowOutput]:
    """Several row tasks one after another in this (worker) process."""
    return [run_row(t) for t in tasks]


def _run_task(task: RowTask, pools: WorkerPools | None) -> RowOutput:
    """Run a row task, in a spawned process when ``config.isolate`` (so RSS is per runtime)."""
    if pools is None:
        return run_row(task)
    from sropt.validate.runners import runner_ref

    task.runner = runner_ref(task.runtime)
    try:
        with pools.take(task.runtime) as pool:
            return pool.submit(run_row, task).result()
    except Exception as exc:  # BrokenProcessPool: the runtime crashed the process (e.g. a segfault)
        msg = (f"{task.opened.artifact.path}: runtime '{task.runtime}' crashed its process ({type(exc).__name__}: "
               f"the runtime's native code died, e.g. a segmentation fault); this graph cannot be run in '{task.runtime}'.")
        rows = []
        for s in task.sets:
            row = _error_row(str(task.opened.artifact.path), task.runtime, s.dataset, s.degradation, s.scale, msg, "crash")
            _describe(row, task.opened, task.config)
            row.scope = "full" if task.full else "parity"
            rows.append(row)
        return RowOutput(rows, {})


def run_row(task: RowTask) -> RowOutput:
    """Evaluate one artifact in one runtime: every set when ``task.full``, then the parity crops (runs in the worker)."""
    import os

    # TensorFlow's C++ INFO lines (oneDNN, CUDA probing) would flood the CLI's output; users can override.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    out = _run_row(task)
    out.worker_seconds = time.perf_counter() - started
    return out


def _run_row(task: RowTask) -> RowOutput:
    from sropt.validate.runners import resolve_runner

    cfg, art = task.config, task.opened
    rows = _task_rows(task)
    out = RowOutput(rows, {})
    try:
        runner = resolve_runner(task.runner or task.runtime)().load(art.artifact, cfg.threads)
        model = _timed(_model_fn(runner, art.artifact.scale, cfg), out)  # InputError: overlap below the receptive field
    except SroptError as exc:
        for row in rows:
            row.errors.append(str(exc))
            row.failure = "input" if isinstance(exc, InputError) else "runtime"
        return out
    try:
        if task.full:
            _run_full(task, model, out)
        contract = art.artifact.contract
        for key, lrs in (task.parity_lr or {}).items():
            out.sr[key] = [contract.postprocess(model(contract.preprocess(lr)), lr) for lr in lrs]
    except SroptError as exc:
        for row in rows:
            row.errors.append(str(exc))
            row.failure = "input" if isinstance(exc, InputError) else "runtime"
    except Exception as exc:  # a runtime failing mid-run must not stop the report
        for row in rows:
            row.errors.append(f"{art.artifact.path}: runtime '{task.runtime}' failed: {type(exc).__name__}: {exc}")
            row.failure = "runtime"
            row.notes.append(traceback.format_exc(limit=3))
    _finish_rows(rows, task)
    return out


def _task_rows(task: RowTask) -> list[ValidationResult]:
    """The task's rows, described and scoped, before anything ran."""
    cfg, art = task.config, task.opened
    rows = []
    for s in task.sets:
        row = ValidationResult(str(art.artifact.path), task.runtime, s.dataset, s.scale, s.degradation)
        _describe(row, art, cfg)
        if not task.full:
            row.scope = "parity"
            n = len((task.parity_lr or {}).get(s.key, []))
            row.notes.append(f"parity only: ran on {n} fixed LR crop(s) of up to {cfg.parity_crop} px, not the full set; "
                             "full-set metrics come from the runtime this file is made for (--all-runtimes for full rows here)")
        rows.append(row)
    return rows


def _timed(model: Callable[[np.ndarray], np.ndarray], out: RowOutput) -> Callable[[np.ndarray], np.ndarray]:
    """``model`` adding its wall seconds to ``out.model_seconds``: the run's time inside the model, for the overhead share."""
    def run(x: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return model(x)
        finally:
            out.model_seconds += time.perf_counter() - t0

    return run


def _run_full(task: RowTask, model: Callable[[np.ndarray], np.ndarray], out: RowOutput) -> None:
    """Full-set metrics and latency of every set into ``out.results``; each SR output into ``task.outputs_dir``."""
    cfg, contract = task.config, task.opened.artifact.contract
    bench, bench_input = _bench_latency(model, contract, cfg)
    for row, s in zip(out.results, task.sets):
        latencies: list[dict] = []
        outputs = _timed_outputs(model, contract, s, cfg, latencies)
        scored = iter_scores(outputs, [i.lr for i in s.images], [i.hr for i in s.images], contract, s.scale,
                             ssim=True, rgb=cfg.rgb_psnr)
        for i, (img, (sr, score)) in enumerate(zip(s.images, scored)):
            row.images.append(ImageResult(img.name, score.psnr, score.ssim, (img.lr.shape[1], img.lr.shape[0]),
                                          score.psnr_rgb, latencies[i], list(img.notes)))
            if task.outputs_dir is not None:
                save_output(task.outputs_dir, s, img.name, sr)
        if bench is not None:
            row.latency_ms, row.latency_input = bench, bench_input
        else:
            meds = [i.latency_ms["median"] for i in row.images if i.latency_ms]
            row.latency_ms = {"median": float(np.median(meds)), "p90": float(np.percentile(meds, 90)), "min": float(min(meds)), "repeats": cfg.repeats}
            row.latency_input = "dataset images (statistics over per-image medians)"


def _bench_latency(model: Callable[[np.ndarray], np.ndarray], contract: Any, cfg: ValidationConfig) -> tuple[dict | None, str | None]:
    """The headline latency on a seeded synthetic ``bench_size`` input, and what it ran on; (None, None) without one."""
    from sropt.validate.timing import measure_latency

    if not cfg.bench_size:
        return None, None
    rng = np.random.default_rng(0)
    x = contract.preprocess(rng.integers(0, 256, (cfg.bench_size, cfg.bench_size, 3), dtype=np.uint8))
    return measure_latency(lambda: model(x), repeats=cfg.repeats, warmup=cfg.warmup).to_json(), f"synthetic {list(x.shape)} NHWC"


def _timed_outputs(model: Callable[[np.ndarray], np.ndarray], contract: Any, s: EvalSet, cfg: ValidationConfig,
                   latencies: list[dict]) -> Iterator[np.ndarray]:
    """The model's output for each image of ``s``, appending its latency (None: not timed) to ``latencies`` before it is yielded."""
    from sropt.validate.timing import measure_latency

    repeats = cfg.timed_image_repeats
    for img in s.images:
        x = contract.preprocess(img.lr)
        y = model(x)  # doubles as the warm-up run of this input size
        latencies.append(measure_latency(lambda: model(x), repeats=repeats, warmup=max(cfg.warmup - 1, 0)).to_json()
                         if repeats else None)
        yield y


def _finish_rows(rows: list[ValidationResult], task: RowTask) -> None:
    """Peak RSS (full rows of an isolated run) and the tiling note."""
    from sropt.validate.timing import peak_rss_mb

    cfg = task.config
    rss = peak_rss_mb() if cfg.isolate and task.full else None
    for row in rows:
        row.peak_rss_mb = rss
        if not cfg.isolate and task.full:
            row.notes.append("peak RSS not measured: the run was not isolated per runtime (isolate=False)")
        if cfg.tile:
            overlap = cfg.overlap if cfg.overlap is not None else "the receptive field"
            row.notes.append(f"tiled inference: tile {cfg.tile} LR px, overlap {overlap}")


def _model_fn(runner: Any, scale: int, cfg: ValidationConfig) -> Callable[[np.ndarray], np.ndarray]:
    from sropt.validate.tiling import check_tiling, predict_tiled, tiling_margin

    if not cfg.tile:
        return runner.predict
    tile = cfg.tile
    overlap = check_tiling(tile, cfg.overlap, tiling_margin(runner.artifact))

    def model(x: np.ndarray) -> np.ndarray:
        if max(x.shape[1:3]) <= tile:
            return runner.predict(x)
        return predict_tiled(runner.predict, x, scale, tile, overlap)

    return model


def _add_parity(rows: list[tuple[ValidationResult, dict[tuple[str, str], list[np.ndarray]]]]) -> None:
    """Compare each row's SR parity crops with the reference row's of the same model and set.

    Every row (full or parity-only) ran the same fixed LR crops, so the figures
    compare like with like at a small fixed cost. Rows are the same model when
    their artifact files share a stem (``FSRCNN_x3.pb`` / ``.onnx`` /
    ``.tflite``: one model in several formats); the reference is the first row
    of that model that ran (the first artifact in the runtime it is made for,
    OpenCV for a .pb), so parity figures are cross-runtime agreement, never a
    comparison of two different models.
    """
    reference: dict[tuple[str, str, str], tuple[ValidationResult, list[np.ndarray]]] = {}
    for row, srs in rows:
        set_key = (row.dataset, row.degradation)
        if row.errors or not srs.get(set_key):
            continue
        key = (Path(row.artifact).stem, *set_key)
        if key not in reference:
            reference[key] = (row, srs[set_key])
            continue
        ref_row, ref_srs = reference[key]
        if [a.shape for a in ref_srs] != [b.shape for b in srs[set_key]]:
            continue
        diffs = [np.abs(a.astype(np.int16) - b.astype(np.int16)) for a, b in zip(ref_srs, srs[set_key])]
        total = sum(d.size for d in diffs)
        row.parity = {
            "reference": f"{ref_row.artifact} [{ref_row.runtime}]",
            "within_1_level": round(sum(int((d <= 1).sum()) for d in diffs) / total, 6),
            "identical": round(sum(int((d == 0).sum()) for d in diffs) / total, 6),
            "max_abs_diff": int(max(int(d.max()) for d in diffs)),
            "crops": len(diffs),
        }


def validation_failure(report: ValidationReport) -> SroptError | None:
    """The error a finished run ends in, or None when at least one row measured and no runtime crashed.

    A crashed runtime process is a StageError (exit 4) even beside good rows:
    the artifact cannot run there. When no artifact x runtime row measured
    anything, the run failed: a StageError when a runtime raised, else an
    InputError (the rows never ran: bad artifact, scale, dataset or runtime
    choice). Other error rows beside good ones are the partial failures that
    keep exit 0 (the README lists them; `--strict` turns them into exit 4).
    """
    rows = [r for r in report.results if r.runtime != BICUBIC]
    crashed = [r for r in rows if r.failure == "crash"]
    if crashed:
        return StageError(f"{len(crashed)} row(s) crashed their runtime process (the report was written)",
                          problems=_unique(e for r in crashed for e in r.errors))
    if any(r.ok for r in rows):
        return None
    problems = _unique([*report.problems, *report.warnings, *(e for r in rows for e in r.errors)])
    if any(r.failure == "runtime" for r in rows):
        return StageError("nothing was measured: every artifact x runtime row failed in its runtime", problems=problems)
    return InputError("nothing was measured: no artifact x runtime row could run", problems=problems)


def _unique(items: Any) -> list[str]:
    return list(dict.fromkeys(items))
