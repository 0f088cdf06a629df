"""The frame every benchmark result shares: schema, when, where (CPU, threads, versions), how.

Each result file holds one run, so every ratio in it compares numbers taken
on the same machine, in the same state, with the same packages. The load
average before and after is kept because the benchmark machines are shared:
a figure taken under load says so.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from sropt.core.atomic import write_text_atomic
from sropt.core.locations import PROJECT_ROOT, cache_dir

SCHEMA_VERSION = 1
RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
# CPU flags that decide which kernels the runtimes pick (VNNI/AMX for INT8, AVX-512 for fp32).
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
                "amx_tile", "amx_int8", "amx_bf16")


def utc_now() -> str:
    """Current UTC time, ISO 8601 to the second."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def load_average() -> list[float] | None:
    """1/5/15-minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def kernel_flags() -> list[str]:
    """The kernel-relevant CPU flags this machine has."""
    from sropt.core.machine import machine

    flags = set(machine()["isa"])
    return [f for f in KERNEL_FLAGS if f in flags]


def args_settings(args: Any) -> dict[str, Any]:
    """An argparse Namespace as JSON-safe settings (paths as strings), for ``start_record``."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}


def say(msg: str) -> None:
    """Progress for the person running the benchmark: stderr, so stdout stays clean."""
    print(msg, file=sys.stderr, flush=True)


def start_record(benchmark: str, threads: int, settings: dict[str, Any]) -> dict[str, Any]:
    """A result dict with schema, command, start time, environment and the run's settings."""
    from sropt.validate.environment import describe_environment

    env = describe_environment(threads)
    env["cpu_flags"] = kernel_flags()
    env["load_average_start"] = load_average()
    return {
        "schema_version": SCHEMA_VERSION,
        "benchmark": benchmark,
        "command": " ".join([Path(sys.executable).name, "-m", f"benchmarks.{benchmark}", *sys.argv[1:]]),
        "started_utc": utc_now(),
        "environment": env,
        "settings": settings,
    }


def finish_record(record: dict[str, Any]) -> dict[str, Any]:
    """Stamp the end time and the closing load average; return ``record``."""
    record["finished_utc"] = utc_now()
    record["environment"]["load_average_end"] = load_average()
    return record


def environment_line(record: dict[str, Any]) -> str:
    """One markdown line naming CPU, cores, threads, versions and load, for every table."""
    env = record["environment"]
    pk = env["packages"]
    versions = ", ".join(f"{k} {v}" for k, v in pk.items() if v and k != "sropt")
    return (f"CPU: {env['cpu']} ({env['cores']} cores; flags {' '.join(env.get('cpu_flags', []))}); "
            f"threads {env['threads']}; Python {env['python']}; {versions}; "
            f"load average {env.get('load_average_start')} -> {env.get('load_average_end')}; "
            f"{record['started_utc']} .. {record.get('finished_utc', '?')}")


def write_result(record: dict[str, Any], markdown: str, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` atomically into ``out_dir``; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js = write_text_atomic(out_dir / f"{stem}.json", json.dumps(record, indent=2, allow_nan=False, default=str) + "\n")
    md = write_text_atomic(out_dir / f"{stem}.md", markdown)
    return js, md


def add_output_options(p: Any, stem: str, *, work: bool = False) -> None:
    """The argparse options every benchmark shares: [--work,] --out and --stem (default ``stem``)."""
    if work:
        p.add_argument("--work", type=Path, default=None, help="artifact folder (default $SROPT_CACHE_DIR/benchmarks)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="results folder")
    p.add_argument("--stem", default=stem, help="result file name stem")


def default_work_dir() -> Path:
    """Where benchmark artifacts (models: never committed) are built and cached."""
    return cache_dir() / "benchmarks"
