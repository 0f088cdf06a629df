"""Run the points of a sweep: build in parallel (local process pool or Ray), validate one at a time.

Every point is an ordinary ``run_pipeline`` through the shared stage cache,
in two phases:

1. *build*: the point's pipeline without its validate stage, so every
   artifact lands in the cache. Points run in parallel here (``--jobs`` or
   Ray tasks); a prefix two points share (source, the same prune config) is
   found in the cache by whichever comes second. Two points that start at the
   same moment may both build an uncached shared step; the cache keeps one.
2. *measure*: the whole pipeline, one point after another in the driver.
   Every build step is now a verified cache hit (sha256 of every file), so
   only validation runs, and it never shares the cores with another point:
   latency cells, and the speed-ups computed from them, are timed alone.

With one job the build phase is skipped: phase 2 alone runs every step in
order, which is the same as ``sropt run`` per point.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sropt.core.errors import InputError, SroptError
from sropt.pipeline.config import PipelineConfig
from sropt.pipeline.schema import Pipeline, PipelinesFile

#: Environment a remote worker needs to see the same cache, models and datasets as the driver.
FORWARDED_ENV = ("SROPT_CACHE_DIR", "SROPT_MODEL_MIRROR", "SROPT_SHARED_DIR", "SROPT_DATASETS_DIR", "TF_CPP_MIN_LOG_LEVEL")


@dataclass
class PointOutcome:
    """What happened to one point in one phase."""

    id: str
    status: str  # "ok" or "failed"
    phase: str  # "build" or "measure"
    seconds: float
    steps: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] | None = None
    error: str | None = None
    error_class: str | None = None
    exit_code: int | None = None
    node: str = ""
    retries: int = 0  # times the task was resubmitted after its worker died


def _for_phase(config: PipelineConfig, pid: str, phase: str) -> PipelineConfig:
    """The point's config for ``phase``: source only, without validate (build), or whole (measure)."""
    if phase == "measure":
        return config
    drop = {"validate_": None} if phase == "build" else {"validate_": None, "prune": None, "export": None, "quantize": None}
    pipeline = config.file.pipelines[pid].model_copy(update=drop)
    file = PipelinesFile.model_construct(version=1, default=None, defaults=None, pipelines={pid: pipeline})
    return PipelineConfig(file=file, path=config.path, raw=config.raw)


def run_point(config: PipelineConfig, pid: str, out: Path, phase: str) -> PointOutcome:
    """Run one point in ``phase`` (source, build or measure, see the module docstring); a failure is returned, not raised."""
    from sropt.pipeline.runner import run_pipeline

    t0 = time.perf_counter()
    node = os.uname().nodename
    try:
        result = run_pipeline(_for_phase(config, pid, phase), pid, out=out)
    except SroptError as exc:
        return PointOutcome(pid, "failed", phase, round(time.perf_counter() - t0, 3), error=str(exc), error_class=type(exc).__name__, exit_code=exc.exit_code, node=node)
    except Exception as exc:  # a crash outside a stage; the sweep goes on and keeps the message
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return PointOutcome(pid, "failed", phase, round(time.perf_counter() - t0, 3), error=detail, error_class=type(exc).__name__, exit_code=4, node=node)
    finally:
        if phase != "measure":
            shutil.rmtree(out, ignore_errors=True)  # a scratch run folder; the cache holds the artifacts
    report = result.report if phase == "measure" else None
    return PointOutcome(pid, "ok", phase, round(time.perf_counter() - t0, 3), steps=[asdict(s) for s in result.steps], report=report, node=node)


Task = tuple[PipelineConfig, str, Path]
BuildTask = tuple[PipelineConfig, str, Path, str]  # + phase


class Engine(Protocol):
    """Runs build tasks somewhere; the scheduler (``build_points``) decides when each may start."""

    name: str
    parallel: bool
    slots: int  # tasks in flight at once

    def submit(self, config: PipelineConfig, pid: str, out: Path, phase: str) -> Any:
        """Start ``run_point(config, pid, out, phase)``; return a handle."""

    def wait_one(self, handles: list[Any]) -> tuple[Any, PointOutcome]:
        """Block until one of ``handles`` finishes; return it and its outcome."""

    def release(self) -> None:
        """No more tasks will come (the build phase is over): start giving back what can go now."""

    def close(self) -> None:
        """Release what the engine started (worker processes, a local Ray instance); waits until it is gone."""


@dataclass(eq=False)  # a handle: hashed by identity
class _Job:
    """A task running in its own worker process: what to rerun if the worker dies, and how often it was."""

    args: tuple[Any, ...]
    process: Any = None
    conn: Any = None
    retries: int = 0


def _work(conn: Any, args: tuple[Any, ...]) -> None:
    """Worker process body: run the task, send its outcome back."""
    conn.send(run_point(*args))
    conn.close()


class LocalEngine:
    """Worker processes on this machine, ``--jobs N`` at once; with one job nothing is built ahead (the measure phase does it all).

    Each task gets a process of its own rather than a slot in a pool: memory
    is returned when it ends, and a worker that dies (killed, out of memory)
    is attributable to its task, which is rerun at most ``max_retries`` times
    and then recorded as failed. (A pool breaks as a whole and cannot say
    which of its tasks killed it.)
    """

    name = "local"

    def __init__(self, jobs: int = 1, max_retries: int = 2) -> None:
        if jobs < 1:
            raise InputError(f"--jobs {jobs}: give 1 or more.")
        self.slots = jobs
        self.parallel = jobs > 1
        self.max_retries = max_retries

    def _start(self, job: _Job) -> _Job:
        import multiprocessing

        # fork: the driver holds no TensorFlow (each stage imports it in the
        # worker), and adapters replaced at run time (tests' fake stages) carry over.
        ctx = multiprocessing.get_context("fork")
        job.conn, child = ctx.Pipe(duplex=False)
        job.process = ctx.Process(target=_work, args=(child, job.args), daemon=True)
        job.process.start()
        child.close()
        return job

    def submit(self, config: PipelineConfig, pid: str, out: Path, phase: str) -> _Job:
        return self._start(_Job((config, pid, out, phase)))

    def wait_one(self, handles: list[_Job]) -> tuple[_Job, PointOutcome]:
        from multiprocessing.connection import wait

        while True:
            ready = set(wait([j.conn for j in handles] + [j.process.sentinel for j in handles]))
            job = next(j for j in handles if j.conn in ready or j.process.sentinel in ready)
            if job.conn.poll():
                try:
                    outcome = job.conn.recv()
                except EOFError:  # the worker died while sending
                    outcome = None
                if outcome is not None:
                    job.process.join()
                    job.conn.close()
                    outcome.retries = job.retries
                    return job, outcome
            job.process.join()
            job.conn.close()
            _, pid, _, phase = job.args
            if job.retries >= self.max_retries:
                code = job.process.exitcode
                how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                return job, PointOutcome(pid, "failed", phase, 0.0, error=f"worker process died {job.retries + 1} times ({how}; killed or out of memory)", error_class="WorkerLost", exit_code=4, retries=job.retries)
            job.retries += 1
            self._start(job)

    def release(self) -> None:
        """Nothing outlives its task."""

    def close(self) -> None:
        """Nothing outlives its task."""


# --------------------------------------------------------------------------- scheduling


def step_signatures(pipeline: Pipeline) -> dict[str, str]:
    """Each build step's identity (its config and, recursively, its inputs'); equal signatures share a cache entry."""
    from sropt.pipeline.steps import plan_steps

    sigs: dict[str, str] = {}
    for step in plan_steps(pipeline):
        if step.kind == "validate":
            continue
        config = {"model": pipeline.model} if step.name == "source" else step.key_config
        text = json.dumps([step.name, config, [sigs[u] for u in step.inputs]], sort_keys=True, default=str)
        sigs[step.name] = hashlib.sha256(text.encode()).hexdigest()
    return sigs


def build_plan(tasks: list[Task]) -> tuple[list[BuildTask], dict[str, set[str]]]:
    """The build tasks (one source-only task per model, then every point) and what each must wait for.

    A point waits for the first earlier task that builds any step it shares,
    so a shared step is built once and found in the cache by the others,
    instead of being built by two workers at once. The source gets a task of
    its own; otherwise every point would wait for the first one.
    """
    owner: dict[str, str] = {}
    build: list[BuildTask] = []
    deps: dict[str, set[str]] = {}
    for cfg, pid, out in tasks:
        sigs = step_signatures(cfg.file.pipelines[pid])
        if sigs["source"] not in owner:
            sid = f"{pid}.source"
            owner[sigs["source"]] = sid
            build.append((cfg, pid, out.with_name(f"{out.name}.source"), "source"))
            deps[sid] = set()
        deps[pid] = {owner[s] for s in sigs.values() if s in owner}
        for s in sigs.values():
            owner.setdefault(s, pid)
        build.append((cfg, pid, out, "build"))
    return build, deps


def build_points(tasks: list[Task], engine: Engine, on_done: Callable[[PointOutcome], None] | None = None) -> dict[str, PointOutcome]:
    """Run every build task on ``engine`` as soon as what it waits for is done; the points' outcomes by id."""
    build, deps = build_plan(tasks)
    waiting = {(pid if phase == "build" else f"{pid}.source"): (cfg, pid, out, phase) for cfg, pid, out, phase in build}
    order = list(waiting)
    running: dict[Any, str] = {}
    finished: dict[str, PointOutcome] = {}
    while waiting or running:
        for tid in [t for t in order if t in waiting]:
            if len(running) < engine.slots and deps[tid] <= finished.keys():
                running[engine.submit(*waiting.pop(tid))] = tid
        handle, outcome = engine.wait_one(list(running))
        tid = running.pop(handle)
        finished[tid] = outcome
        if on_done and outcome.phase == "build":
            on_done(outcome)
    # The source tasks' records go to their first point (the one they were split off), so
    # sweep.json shows where each source was built, as a serial sweep would.
    points = {tid: o for tid, o in finished.items() if o.phase == "build"}
    for tid, o in finished.items():
        if o.phase == "source" and o.status == "ok" and o.id in points:
            points[o.id].steps = [*({**s, "node": o.node} for s in o.steps), *(s for s in points[o.id].steps if s["name"] != "source")]
    return points


def run_points(
    tasks: list[Task], engine: Engine, *, on_start: Callable[[str, str], None] | None = None,
    on_done: Callable[[PointOutcome], None] | None = None, measure_dir: Callable[[str], Path],
) -> list[PointOutcome]:
    """Both phases for every task; the list holds each point's final outcome (a failed build skips its measure)."""
    built: dict[str, PointOutcome] = {}
    if engine.parallel:
        for cfg, pid, _ in tasks:
            if on_start:
                on_start(pid, "build")
        built = build_points(tasks, engine, on_done)
    engine.release()
    finals = []
    for cfg, pid, _ in tasks:
        if pid in built and built[pid].status == "failed":
            finals.append(built[pid])
            continue
        if on_start:
            on_start(pid, "measure")
        outcome = run_point(cfg, pid, measure_dir(pid), "measure")
        if pid in built:
            outcome.steps = merge_build_status(built[pid].steps, outcome.steps)
            outcome.seconds = round(outcome.seconds + built[pid].seconds, 3)
            outcome.node = f"built on {built[pid].node}, measured on {outcome.node}"
            outcome.retries = built[pid].retries
        finals.append(outcome)
        if on_done:
            on_done(outcome)
    return finals


def merge_build_status(build_steps: Iterable[dict[str, Any]], measure_steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The measure run's step records with each build step's status and time from the build phase (where it ran)."""
    by_name = {s["name"]: s for s in build_steps}
    out = []
    for s in measure_steps:
        b = by_name.get(s["name"])
        built = {k: b[k] for k in ("status", "seconds", "node") if k in b} if b and b.get("key") == s.get("key") else {}
        out.append({**s, **built})
    return out


RAY_INSTALL = 'pip install -e ".[ray]"  (or: pip install "ray[default]>=2.9")'


class RayEngine:
    """Each point's build phase as a Ray task with its CPUs and memory declared; lost workers' tasks are retried.

    Without ``address`` a local Ray instance is started for the sweep and
    stopped after the build phase. Workers read and write the same stage cache as the
    driver (SROPT_CACHE_DIR is forwarded): on a cluster it must be a shared
    filesystem path, and the driver's measure phase re-verifies every file's
    sha256 when it looks the entries up.

    Ray's fixed cost is hidden where it can be (measured, Ray 2.60, 2 cores:
    starting a local instance 2.3-3.5 s, stopping it 1.1-1.3 s, against a
    30 s ``ci`` sweep):

    * A local instance is started only when the first task is waited for. The
      sources, submitted before that, each run in a forked driver process
      (as the local engine does) while Ray starts: every other task waits for
      its source anyway, and the driver needs every source for its measure
      phase. Forking happens before ``ray.init``, never after it.
    * ``release`` (the build phase is over) stops that instance in a
      background thread while the measure phase starts. Stopping is waiting
      for processes to exit: 0.1 CPU-second over its 1.1 s (/proc/stat). It
      overlaps that point's cache verification, set preparation and worker
      start; validation waits for it before its first row
      (``sropt.core.background``), so no latency cell overlaps it. Ray's own
      idle daemons (2% of the CPUs) are then gone while latency is timed.
    """

    name = "ray"
    parallel = True
    slots = 1 << 30  # every ready task is submitted; Ray queues each until a node has its declared CPUs and memory

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None, task_cpus: float = 1.0,
                 task_memory: int | None = None, max_retries: int = 2, connect_timeout: float = 30.0) -> None:
        # The address is checked before Ray is imported: a typo or a stopped head node is named
        # in seconds, on a machine with or without Ray installed.
        if address is not None:
            _check_reachable(address, connect_timeout)
        try:
            import ray
        except ImportError:
            raise InputError(f"--engine ray needs Ray, which is not installed. Install it with: {RAY_INSTALL}") from None
        self.ray = ray
        self.task_cpus, self.task_memory, self.max_retries = task_cpus, task_memory, max_retries
        self._remote: Any = None
        self._submitted: dict[Any, tuple[str, str]] = {}
        self._local = LocalEngine(max_retries=max_retries)  # the sources, while a local Ray starts
        self._stopping: Any = None  # the thread stopping the local instance
        self.started_here = not ray.is_initialized()
        self._num_cpus = num_cpus
        self._connected = not self.started_here
        if self.started_here and address is not None:
            self._connect(address)  # a cluster's connection errors come before anything runs

    def _connect(self, address: str | None = None) -> None:
        kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING", "log_to_driver": False}
        if address is None:
            # A Ray started here runs its raylet and workers as children of this process, so they inherit
            # its environment. A runtime_env would only add its agent's set-up: measured (Ray 2.60, 2 cores)
            # 0.66-0.70 s to a first task instead of 0.13 s, on sweeps whose whole Ray cost is ~5 s.
            kwargs["num_cpus"] = self._num_cpus or os.cpu_count()
        else:
            kwargs["address"] = address
            kwargs["runtime_env"] = {"env_vars": {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}}
        try:
            self.ray.init(**kwargs)
        except Exception as exc:  # ConnectionError, RuntimeError, ValueError depending on the Ray version
            where = f"--address {address}: cannot connect to Ray" if address else "cannot start a local Ray instance"
            raise InputError(f"{where} ({type(exc).__name__}: {exc}). "
                             "Check that the head node runs (`ray status` on it) and that this machine reaches its port.") from None
        self._connected = True

    def submit(self, config: PipelineConfig, pid: str, out: Path, phase: str) -> Any:
        if phase == "source" and not self._connected:
            return self._local.submit(config, pid, out, phase)
        if not self._connected:
            self._connect()
        if self._remote is None:
            options: dict[str, Any] = {"num_cpus": self.task_cpus, "max_retries": self.max_retries}
            if self.task_memory:
                options["memory"] = self.task_memory
            self._remote = self.ray.remote(**options)(run_point)
        ref = self._remote.remote(config, pid, out, phase)
        self._submitted[ref] = (pid, phase)
        return ref

    def wait_one(self, handles: list[Any]) -> tuple[Any, PointOutcome]:
        if not self._connected:
            self._connect()  # starts while the sources built in forked processes run
        local = [h for h in handles if isinstance(h, _Job)]
        refs = [h for h in handles if not isinstance(h, _Job)]
        if local and not refs:
            return self._from_driver(*self._local.wait_one(local))
        if local:
            return self._wait_mixed(local, refs)
        return self._wait_ray(refs)

    @staticmethod
    def _from_driver(job: _Job, outcome: PointOutcome) -> tuple[_Job, PointOutcome]:
        outcome.node = f"{outcome.node} (driver, while Ray started)"  # sweep.json says where each step ran
        return job, outcome

    def _wait_mixed(self, local: list[_Job], refs: list[Any]) -> tuple[Any, PointOutcome]:
        """A source still running in a driver process while Ray tasks run (several models): poll both."""
        from multiprocessing.connection import wait

        while True:
            if wait([j.conn for j in local] + [j.process.sentinel for j in local], timeout=0.05):
                return self._from_driver(*self._local.wait_one(local))
            done, _ = self.ray.wait(refs, num_returns=1, timeout=0.05)
            if done:
                return self._wait_ray(done)

    def _wait_ray(self, refs: list[Any]) -> tuple[Any, PointOutcome]:
        done, _ = self.ray.wait(refs, num_returns=1)
        ref = done[0]
        pid, phase = self._submitted.pop(ref)
        try:
            return ref, self.ray.get(ref)
        except Exception as exc:  # retries exhausted (a worker died every time) or Ray itself failed
            return ref, PointOutcome(pid, "failed", phase, 0.0, error=f"Ray task failed after {self.max_retries} retries: {type(exc).__name__}: {exc}", error_class=type(exc).__name__, exit_code=4)

    def release(self) -> None:
        """Stop the local Ray instance this engine started, in the background (see the class docstring)."""
        from sropt.core.background import run_until_timing

        if self.started_here and self._stopping is None and self.ray.is_initialized():
            self._stopping = run_until_timing(self.ray.shutdown, "ray-shutdown")

    def close(self) -> None:
        """Stop the local Ray instance this engine started and wait until it is gone (a cluster it connected to keeps running)."""
        if self._stopping is not None:
            self._stopping.join()
        elif self.started_here and self.ray.is_initialized():
            self.ray.shutdown()


def _check_reachable(address: str, timeout: float) -> None:
    """InputError within ``timeout`` s when ``address``'s host:port accepts no TCP connection ('auto' is left to Ray)."""
    import socket

    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--address {address}: expected ray://HOST:PORT, HOST:PORT or auto.")
    try:
        with socket.create_connection((host, int(port)), timeout=min(timeout, 10.0)):
            pass
    except OSError as exc:
        raise InputError(f"--address {address}: nothing answers at {host}:{port} ({exc}). "
                         "Check the head node is running (`ray start --head`, `ray status`), the port (10001 for ray://, 6379 for the GCS), and the firewall.") from None
