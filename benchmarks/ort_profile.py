"""Where ONNX Runtime spends an inference: time per op type from ORT's own profiler.

    python -m benchmarks.ort_profile MODEL.onnx [MODEL2.onnx ...] --size 128

Answers "what limits further speed" for an ORT artifact: after fusion, is it
the convolutions, the residual adds, layout transposes or Q/DQ? Runs
``--runs`` calls after one warm-up with ``--threads`` intra-op threads and
ORT's default optimization level (what the ``ort`` runner uses).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.record import add_output_options, environment_line, finish_record, start_record, write_result


def profile_model(path: Path, size: int, threads: int, runs: int) -> dict[str, Any]:
    """Per-op-type milliseconds per call, from an ORT profiling session."""
    import onnxruntime as ort

    from sropt.convert.onnx_export import onnx_input_is_nchw

    with tempfile.TemporaryDirectory(prefix="sropt-ortprof-") as tmp:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "prof")
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        channels = 3 if 3 in inp.shape else 1
        shape = (1, channels, size, size) if onnx_input_is_nchw(inp.shape, channels) else (1, size, size, channels)
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        sess.run(None, {inp.name: x})  # warm-up, excluded below by skipping the first run's events
        for _ in range(runs):
            sess.run(None, {inp.name: x})
        events = json.loads(Path(sess.end_profiling()).read_text())
    runs_seen = [e for e in events if e.get("name") == "model_run"]
    start = runs_seen[1]["ts"] if len(runs_seen) > 1 else 0
    per_op: collections.Counter = collections.Counter()
    count: collections.Counter = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= start:
            per_op[e["args"]["op_name"]] += e["dur"]
            count[e["args"]["op_name"]] += 1
    total = sum(per_op.values()) or 1
    return {"model": str(path), "size": size, "runs": runs,
            "ops": [{"op": op, "ms_per_call": round(us / 1000 / runs, 2), "share": round(us / total, 4),
                     "nodes": count[op] // runs} for op, us in per_op.most_common()]}


def main(argv: list[str] | None = None) -> int:
    """Profile each model and write ort_profile.json/.md."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.ort_profile", description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="+", type=Path, help=".onnx files")
    p.add_argument("--size", type=int, default=128, help="LR input side")
    p.add_argument("--runs", type=int, default=2, help="profiled calls after the warm-up")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="intra-op threads")
    add_output_options(p, "ort_profile")
    args = p.parse_args(argv)
    missing = [str(m) for m in args.models if not m.is_file()]
    if missing:
        p.error(f"no such file: {', '.join(missing)}")
    record = start_record("ort_profile", args.threads, {"models": [str(m) for m in args.models], "size": args.size, "runs": args.runs})
    record["profiles"] = [profile_model(m, args.size, args.threads, args.runs) for m in args.models]
    finish_record(record)
    lines = ["# ONNX Runtime time per op type", "", environment_line(record), "", f"Command: `{record['command']}`", ""]
    for prof in record["profiles"]:
        lines += [f"## {Path(prof['model']).name} ({prof['size']}x{prof['size']}, {prof['runs']} calls)", "",
                  "| op | nodes | ms per call | share |", "|---|---:|---:|---:|"]
        lines += [f"| {o['op']} | {o['nodes']} | {o['ms_per_call']:.1f} | {100 * o['share']:.1f}% |" for o in prof["ops"]]
        lines.append("")
    js, md = write_result(record, "\n".join(lines) + "\n", args.out, args.stem)
    print(f"wrote {js} and {md}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
