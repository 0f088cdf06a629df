"""Pipeline wall time per stage (issue 7 §1b): one pipeline, cold cache then warm cache.

    python -m benchmarks.pipeline_time --model /path/EDSR_b32f256_x3.pb
    python -m benchmarks.pipeline_time --model M.pb --validate-datasets Set5 --validate-repeats 1

Runs ``sropt run`` (the real CLI, in a subprocess, so imports and process
start-up are part of the wall time) twice against a fresh
``SROPT_CACHE_DIR``: the first run builds every step (cold), the second
finds them all cached (warm). Per-step seconds come from the run's
report.json (``pipeline.steps``). ``--validate-*`` overrides shrink the
validation step (a full-size EDSR on Set5+Set14 in three runtimes takes
tens of minutes) and ``--set STAGE.KEY=VALUE`` changes any stage setting;
the overrides are written into a derived pipelines file and recorded in
the result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.record import add_output_options, args_settings, environment_line, finish_record, start_record, write_result
from sropt.core.locations import PROJECT_ROOT


def build_parser() -> argparse.ArgumentParser:
    """The command line of this benchmark."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.pipeline_time", description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, required=True, help="frozen graph to run the pipeline on (sropt run --model)")
    p.add_argument("--pipelines", type=Path, default=PROJECT_ROOT / "pipelines.yaml", help="pipelines file")
    p.add_argument("--pipeline", default="edsr_x3_mobile", help="pipeline name")
    p.add_argument("--validate-datasets", default=None, help="override validate.datasets (comma list)")
    p.add_argument("--validate-runtimes", default=None, help="override validate.runtimes (comma list)")
    p.add_argument("--validate-repeats", type=int, default=None, help="override validate.repeats")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="STAGE.KEY=VALUE",
                   help="override one stage setting of the pipeline, e.g. prune.finetune_steps=0 (YAML value)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="recorded thread count (runtimes use all cores)")
    p.add_argument("--cache", type=Path, default=None, help="cache folder to use (default: a fresh temporary one)")
    p.add_argument("--runs", type=int, default=2, help="runs: the first cold, the rest warm")
    add_output_options(p, "pipeline_time")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and validate the command line."""
    p = build_parser()
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be >= 1")
    if args.validate_repeats is not None and args.validate_repeats < 1:
        p.error("--validate-repeats must be >= 1")
    for item in args.sets:
        key, eq, _ = item.partition("=")
        if not eq or key.count(".") != 1:
            p.error(f"--set {item!r}: write STAGE.KEY=VALUE, e.g. prune.finetune_steps=0")
    return args


def overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Stage overrides requested on the command line: {stage: {key: value}}."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in args.sets:
        key, _, value = item.partition("=")
        stage, field = key.split(".")
        out.setdefault(stage, {})[field] = yaml.safe_load(value)
    val: dict[str, Any] = {}
    if args.validate_datasets:
        val["datasets"] = [d.strip() for d in args.validate_datasets.split(",") if d.strip()]
    if args.validate_runtimes:
        val["runtimes"] = [r.strip() for r in args.validate_runtimes.split(",") if r.strip()]
    if args.validate_repeats is not None:
        val["repeats"] = args.validate_repeats
    if val:
        out.setdefault("validate", {}).update(val)
    return out


def derived_pipelines(src: Path, pipeline: str, changes: dict[str, dict[str, Any]], dest: Path) -> Path:
    """Write ``src`` with ``changes`` ({stage: {key: value}}) merged into ``pipeline`` (anchors resolved)."""
    import yaml

    doc = yaml.safe_load(src.read_text(encoding="utf-8"))
    if pipeline not in doc.get("pipelines", {}):
        raise SystemExit(f"--pipeline {pipeline}: not in {src}; it has {', '.join(doc.get('pipelines', {}))}.")
    for stage, values in changes.items():
        doc["pipelines"][pipeline].setdefault(stage, {}).update(values)
    dest.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return dest


def run_once(pipelines: Path, args: argparse.Namespace, out_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """One ``sropt run``; wall time, exit code and the per-step records of its report.json."""
    cmd = [str(Path(sys.executable).with_name("sropt")), "run", str(pipelines), "--pipeline", args.pipeline,
           "--model", str(args.model), "--out", str(out_dir)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = round(time.perf_counter() - t0, 2)
    out: dict[str, Any] = {"command": " ".join(cmd), "exit_code": proc.returncode, "wall_seconds": wall}
    report = out_dir / "report.json"
    if report.is_file():
        data = json.loads(report.read_text(encoding="utf-8"))
        out["steps"] = [{k: s.get(k) for k in ("name", "status", "seconds", "build_seconds", "size_bytes")}
                        for s in data.get("pipeline", {}).get("steps", [])]
    if proc.returncode not in (0, 1):  # 1 = a gate failed, everything still ran
        out["stderr_tail"] = proc.stderr[-2000:]
    return out


def render_markdown(record: dict[str, Any]) -> str:
    """Per-step seconds, one column per run."""
    runs = record["runs"]
    lines = ["# Pipeline wall time per stage", "", environment_line(record), "",
             f"Command: `{record['command']}`", "",
             f"Pipeline `{record['settings']['pipeline']}` on `{record['settings']['model']}`; "
             f"overrides of the pipeline's settings: `{json.dumps(record['overrides'])}`. Run 1 has an empty cache (cold); "
             "later runs reuse it (warm: cache lookups and hash checks only).", "",
             "| step | " + " | ".join(f"run {i + 1} ({'cold' if i == 0 else 'warm'}) s" for i in range(len(runs))) + " |",
             "|---|" + "---:|" * len(runs)]
    names = [s["name"] for s in (runs[0].get("steps") or [])]
    for name in names:
        cells = []
        for r in runs:
            s = next((x for x in r.get("steps") or [] if x["name"] == name), None)
            cells.append(f"{s['seconds']:.1f} ({s['status']})" if s else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| **whole `sropt run` (wall)** | " + " | ".join(f"{r['wall_seconds']:.1f} (exit {r['exit_code']})" for r in runs) + " |")
    lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the pipeline cold then warm and write the result; 0 on success."""
    args = parse_args(argv)
    if not args.model.is_file():
        raise SystemExit(f"--model {args.model}: no such file.")
    settings = args_settings(args)
    record = start_record("pipeline_time", args.threads, settings)
    record["overrides"] = overrides(args)
    with tempfile.TemporaryDirectory(prefix="sropt-pipetime-") as tmp:
        tmp_path = Path(tmp)
        pipelines = args.pipelines
        if record["overrides"]:
            pipelines = derived_pipelines(args.pipelines, args.pipeline, record["overrides"], tmp_path / "pipelines.yaml")
        env = dict(os.environ)
        env["SROPT_CACHE_DIR"] = str(args.cache or tmp_path / "cache")
        record["runs"] = []
        for i in range(args.runs):
            print(f"run {i + 1}/{args.runs} ({'cold' if i == 0 else 'warm'})", file=sys.stderr, flush=True)
            record["runs"].append(run_once(pipelines, args, tmp_path / f"run{i + 1}", env))
    finish_record(record)
    js, md = write_result(record, render_markdown(record), args.out, args.stem)
    print(f"wrote {js} and {md}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
