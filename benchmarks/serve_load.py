"""Load on `sropt serve` over the loopback address (issue 16): latency, throughput, codes and peak RSS.

    python -m benchmarks.serve_load                          # 300 requests at concurrency 8, demo model in OpenCV + its ONNX in ORT
    python -m benchmarks.serve_load --requests 60 --artifacts A.pb B.onnx

Starts the real server (`python -m sropt serve`, a subprocess on 127.0.0.1
and a free port), sends a fixed mix of requests from one asyncio client and
stops the server. The mix, in a seeded random order: valid PNG uploads of
distinct random images (so the result cache never answers; each one runs the
model) split evenly over the artifacts, plus uploads over the size limit
(413), truncated PNGs (400), declared-size bombs (413) and unknown artifact
names (404). The run is bounded by ``--requests`` and ``--max-seconds``: no
request starts after the deadline.

The server's RSS is sampled every 50 ms with psutil. Its bound (checked by
tests/serve/test_load.py, reported here) is the RSS once every artifact has
served one request, plus the result cache's byte limit, plus ``RSS_SLACK_MB``
for the allocator: the requests are small and distinct, so a working set
that grew with the request count (a leak, an unbounded queue) would cross it.

The rate limit is raised out of the way (one client sends everything); the
queue (2 workers + 8 waiting) is larger than the concurrency, so no valid
request may be refused: a 503 on one counts as a failure, as does any 5xx.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.record import add_output_options, args_settings, environment_line, finish_record, say, start_record, write_result

# Limits the server runs with here: small enough that an oversized upload is cheap to send.
MAX_UPLOAD_MB = 0.25
CACHE_MB = 16
# Allocator slack over (warm RSS + cache limit): glibc arenas per worker thread and the runtimes'
# buffer pools settle within tens of MB after the first requests (measured in benchmarks/results/serve_load.md).
RSS_SLACK_MB = 96
BAD_KINDS = {"oversized": 413, "truncated": 400, "bomb": 413, "unknown artifact": 404}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running `sropt serve` process."""

    proc: subprocess.Popen
    url: str
    startup_s: float  # process start to the first 200 on /healthz


@contextmanager
def running_server(artifacts: list[str], cache_dir: Path, *, extra: tuple[str, ...] = (), cwd: Path | None = None,
                   env: dict[str, str] | None = None, timeout_s: float = 120) -> Iterator[Server]:
    """`python -m sropt serve ARTIFACTS` on a free loopback port until the block ends (then SIGTERM, then kill)."""
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "sropt", "serve", *artifacts, "--port", str(port), "--cache-dir", str(cache_dir), *extra]
    t0 = time.perf_counter()
    # stderr to a file, not a pipe nobody drains while the server runs (a full pipe would block it).
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"sropt serve exited {proc.returncode} before answering /healthz:\n{log.read()}")
            if time.perf_counter() - t0 > timeout_s:
                raise RuntimeError(f"sropt serve did not answer /healthz within {timeout_s} s")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.02)
        yield Server(proc, url, time.perf_counter() - t0)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@dataclass
class Planned:
    """One request of the mix."""

    kind: str  # "valid" or a key of BAD_KINDS
    artifact: str
    body: bytes


@dataclass
class Outcome:
    """What one request got."""

    kind: str
    artifact: str
    code: int
    seconds: float
    model_ms: float | None = None


def _png(img: np.ndarray) -> bytes:
    import cv2

    return cv2.imencode(".png", img)[1].tobytes()


def _bomb_header(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
            + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND")))


def plan_requests(n: int, artifacts: list[str], bad_every: int, sizes: tuple[int, int], seed: int) -> list[Planned]:
    """``n`` requests: every ``bad_every``-th one bad (kinds in turn), the rest valid and distinct, in a seeded order."""
    rng = np.random.default_rng(seed)
    lo, hi = sizes
    out, bad = [], list(BAD_KINDS)
    for i in range(n):
        name = artifacts[i % len(artifacts)]
        if bad_every and i % bad_every == bad_every - 1:
            kind = bad[(i // bad_every) % len(bad)]
            body = {"oversized": lambda: rng.bytes(int(MAX_UPLOAD_MB * 1024 * 1024) + 10_000),
                    "truncated": lambda: _png(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))[:-50],
                    "bomb": lambda: _bomb_header(30_000, 30_000),
                    "unknown artifact": lambda: _png(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))}[kind]()
            out.append(Planned(kind, "no-such-model" if kind == "unknown artifact" else name, body))
        else:
            h, w = (int(v) for v in rng.integers(lo, hi + 1, 2))
            out.append(Planned("valid", name, _png(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))))
    return [out[i] for i in rng.permutation(n)]


async def fire(url: str, plan: list[Planned], concurrency: int, max_seconds: float) -> tuple[list[Outcome], float]:
    """Send ``plan`` with ``concurrency`` requests in flight; none starts after ``max_seconds``; returns outcomes and wall time."""
    import httpx

    todo = iter(plan)
    outcomes: list[Outcome] = []
    t0 = time.perf_counter()

    async def worker(client: httpx.AsyncClient) -> None:
        for p in todo:
            if time.perf_counter() - t0 > max_seconds:
                return
            s = time.perf_counter()
            r = await client.post("/v1/upscale", content=p.body, params={"artifact": p.artifact})
            ms = r.headers.get("x-latency-ms")
            outcomes.append(Outcome(p.kind, p.artifact, r.status_code, time.perf_counter() - s, float(ms) if ms else None))

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return outcomes, time.perf_counter() - t0


class RssSampler:
    """Peak RSS of a process, sampled every 50 ms on a thread (psutil), and the RSS at ``mark()``."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.proc, self.peak, self.marked, self.stop = psutil.Process(pid), 0, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def mark(self) -> int:
        self.marked = self.proc.memory_info().rss
        return self.marked

    def __enter__(self) -> RssSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


@dataclass
class LoadResult:
    """One load run: outcomes, wall time and memory, with the checks the test asserts."""

    outcomes: list[Outcome]
    wall_s: float
    startup_s: float
    warm_rss: int
    peak_rss: int
    rss_bound: int
    failures: list[str] = field(default_factory=list)


def check(outcomes: list[Outcome]) -> list[str]:
    """Every valid request 200, every bad one its code; one line per wrong answer."""
    wrong = [o for o in outcomes if o.code != (200 if o.kind == "valid" else BAD_KINDS[o.kind])]
    return [f"{o.kind} request to {o.artifact}: {o.code}" for o in wrong]


def run_load(artifacts: list[str], cache_dir: Path, *, requests: int, concurrency: int, bad_every: int = 5,
             sizes: tuple[int, int] = (32, 96), max_seconds: float = 300, seed: int = 0,
             threads: int | None = None, cwd: Path | None = None, env: dict[str, str] | None = None) -> LoadResult:
    """Start the server on ``artifacts`` (in ``cwd`` with ``env``), warm every artifact once, send the mix, stop it."""
    import httpx

    extra = ("--max-upload-mb", str(MAX_UPLOAD_MB), "--cache-mb", str(CACHE_MB), "--rate", "1000000")
    extra += ("--threads", str(threads)) if threads else ()
    with running_server(artifacts, cache_dir, extra=extra, cwd=cwd, env=env) as server:
        names = [m["name"] for m in httpx.get(f"{server.url}/v1/models").json()["models"]]
        plan = plan_requests(requests, names, bad_every, sizes, seed)
        with RssSampler(server.proc.pid) as rss:
            for i, name in enumerate(names):  # warm-up: each runtime's first call sizes its buffers
                warm = _png(np.random.default_rng(10_000 + i).integers(0, 256, (sizes[1], sizes[1], 3), dtype=np.uint8))
                httpx.post(f"{server.url}/v1/upscale", content=warm, params={"artifact": name}, timeout=120).raise_for_status()
            warm_rss = rss.mark()
            outcomes, wall = asyncio.run(fire(server.url, plan, concurrency, max_seconds))
        bound = warm_rss + (CACHE_MB + RSS_SLACK_MB) * 1024 * 1024
        failures = check(outcomes)
        if rss.peak > bound:
            failures.append(f"peak RSS {rss.peak / 2**20:.0f} MB above the bound {bound / 2**20:.0f} MB")
        return LoadResult(outcomes, wall, server.startup_s, warm_rss, rss.peak, bound, failures)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation (numpy's default)."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def summarize(result: LoadResult) -> dict:
    """Per-artifact latency percentiles and throughput, codes by kind, memory."""
    per = {}
    for name in dict.fromkeys(o.artifact for o in result.outcomes if o.kind == "valid"):
        ok = [o for o in result.outcomes if o.kind == "valid" and o.artifact == name and o.code == 200]
        lat = [o.seconds * 1000 for o in ok]
        model = [o.model_ms for o in ok if o.model_ms is not None]
        per[name] = {"ok": len(ok), "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
                     "model_p50_ms": percentile(model, 50), "model_p99_ms": percentile(model, 99)}
    codes: dict[str, dict[str, int]] = {}
    for o in result.outcomes:
        codes.setdefault(o.kind, {}).setdefault(str(o.code), 0)
        codes[o.kind][str(o.code)] += 1
    valid_ok = sum(p["ok"] for p in per.values())
    return {"requests": len(result.outcomes), "wall_s": result.wall_s, "valid_per_s": valid_ok / result.wall_s,
            "startup_s": result.startup_s, "per_artifact": per, "codes": codes,
            "rss_warm_mb": result.warm_rss / 2**20, "rss_peak_mb": result.peak_rss / 2**20,
            "rss_bound_mb": result.rss_bound / 2**20, "failures": result.failures}


def markdown(record: dict) -> str:
    """The result as a markdown page."""
    s = record["summary"]
    lines = ["# sropt serve under load (loopback)", "", f"`{record['command']}`", "", environment_line(record), ""]
    if "startup" in record:
        st = record["startup"]
        lines += [f"Start-up (`{st['command']}`, the demo model, to the first 200 on /healthz): median {st['median_s']:.2f} s, "
                  f"max {st['max_s']:.2f} s over {len(st['runs_s'])} runs ({', '.join(f'{x:.2f}' for x in st['runs_s'])}).", ""]
    lines += [f"{s['requests']} requests at concurrency {record['settings']['concurrency']} in {s['wall_s']:.1f} s; "
             f"{s['valid_per_s']:.1f} valid requests/s; server start-up {s['startup_s']:.2f} s.", "",
              "| artifact | 200s | p50 (ms) | p99 (ms) | model p50 (ms) | model p99 (ms) |", "|---|---|---|---|---|---|"]
    for name, p in s["per_artifact"].items():
        lines.append(f"| {name} | {p['ok']} | {p['p50_ms']:.1f} | {p['p99_ms']:.1f} | {p['model_p50_ms']:.1f} | {p['model_p99_ms']:.1f} |")
    lines += ["", "Latency is the client's (queueing included); model time is the server's X-Latency-Ms.", "",
              "| kind | expected | got |", "|---|---|---|"]
    for kind, got in s["codes"].items():
        lines.append(f"| {kind} | {200 if kind == 'valid' else BAD_KINDS[kind]} | {', '.join(f'{c}: {n}' for c, n in got.items())} |")
    lines += ["", f"RSS: {s['rss_warm_mb']:.0f} MB after warm-up, peak {s['rss_peak_mb']:.0f} MB, bound {s['rss_bound_mb']:.0f} MB "
              f"(warm + {CACHE_MB} MB cache + {RSS_SLACK_MB} MB allocator slack).", "",
              "Failures: " + ("; ".join(s["failures"]) if s["failures"] else "none."), ""]
    return "\n".join(lines)


def measure_startup(runs: int, work: Path) -> dict:
    """Seconds from starting `sropt serve` (no argument: the demo model) to its first 200 on /healthz, ``runs`` times."""
    seconds = []
    for i in range(runs):
        with running_server([], work / f"startup-cache-{i}") as server:
            seconds.append(server.startup_s)
    return {"command": "python -m sropt serve --port P --cache-dir D", "runs_s": seconds,
            "median_s": statistics.median(seconds), "max_s": max(seconds)}


def demo_artifacts(work: Path) -> list[str]:
    """The bundled demo model (.pb, OpenCV) and its ONNX export (ONNX Runtime), built into ``work``."""
    from sropt.convert.onnx_export import export_onnx
    from sropt.models import resolve_model
    from sropt.serve.models import DEMO_MODEL

    onnx = work / f"{DEMO_MODEL}_onnx.onnx"  # its own served name (the file stem)
    if not onnx.is_file():
        export_onnx(resolve_model(DEMO_MODEL), onnx)
    return [DEMO_MODEL, str(onnx)]


def main(argv: list[str] | None = None) -> int:
    """Run the load, write benchmarks/results/<stem>.{json,md}; exit 1 when a check failed."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.serve_load", description=__doc__.split("\n")[0])
    p.add_argument("--artifacts", nargs="+", default=None, help="what to serve (default: the demo model and its ONNX export)")
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--bad-every", type=int, default=5, help="every N-th request is a bad one")
    p.add_argument("--min-size", type=int, default=48, help="smallest valid image side (LR px)")
    p.add_argument("--max-size", type=int, default=128, help="largest valid image side (LR px)")
    p.add_argument("--max-seconds", type=float, default=600, help="no request starts after this")
    p.add_argument("--threads", type=int, default=None, help="--threads of sropt serve (default: the runtimes' own)")
    p.add_argument("--startup-runs", type=int, default=5, help="times to measure start-up to the first /healthz 200 (0: skip)")
    add_output_options(p, "serve_load")
    args = p.parse_args(argv)
    record = start_record("serve_load", args.threads or os.cpu_count() or 1, args_settings(args))
    with tempfile.TemporaryDirectory(prefix="sropt-serve-load-") as tmp:
        if args.startup_runs:
            say(f"start-up with the demo model, {args.startup_runs} runs")
            record["startup"] = measure_startup(args.startup_runs, Path(tmp))
        artifacts = args.artifacts or demo_artifacts(Path(tmp))
        record["settings"]["served"] = artifacts
        say(f"serving {', '.join(artifacts)}; {args.requests} requests at concurrency {args.concurrency}")
        result = run_load(artifacts, Path(tmp) / "cache", requests=args.requests, concurrency=args.concurrency,
                          bad_every=args.bad_every, sizes=(args.min_size, args.max_size), max_seconds=args.max_seconds,
                          threads=args.threads)
    record["summary"] = summarize(result)
    record["outcomes"] = [asdict(o) for o in result.outcomes]
    finish_record(record)
    js, md = write_result(record, markdown(record), args.out, args.stem)
    say(markdown(record))
    say(f"wrote {js} and {md}")
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
