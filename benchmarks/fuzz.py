"""The reliability audit of issue 20, re-run: bad inputs, fuzzed `inspect`, fuzzed `validate` (and prune/export).

    python -m benchmarks.fuzz                    # 143 bad inputs, 1,300 inspect inputs, 100 validate inputs, 100 prune, 100 export
    python -m benchmarks.fuzz --quick            # a few of each (smoke)

Every case runs the CLI in one spawned worker process (tests/fuzz/harness.py),
so a signal or a hang is counted, not fatal, and is judged the way the fuzz
tests judge it: a documented exit code (the expected one, for bad inputs and
random bytes), no traceback, no signal, no hang, no half-written file, every
input byte-identical. ``inspect`` gets random files (1,000 by default) and
GraphDef/byte mutations of FSRCNN_x3.pb (300; the audit's seed, from
../shared/models, else the tiny FSRCNN of tests/graphs_tiny.py); ``validate``
gets mutations of the same seed with its default isolation (the crash it
contains is exit 4). Mutations are drawn from a seeded ``random.Random``
through the same edit functions as the Hypothesis strategies, so a run is
reproducible and its counts are exact.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sropt.core.locations import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT))  # tests/ holds the harness, the mutations and the bad-input table

from benchmarks.record import add_output_options, args_settings, environment_line, finish_record, say, start_record, write_result  # noqa: E402
from tests.fuzz.bad_inputs import BAD_INPUTS, make_bad_input_files  # noqa: E402
from tests.fuzz.harness import CliWorker, Outcome, digest, half_written, judge, new_case_dir  # noqa: E402
from tests.fuzz.mutations import BYTE_EDITS, GRAPH_EDITS, apply_byte_edits, apply_graph_edits  # noqa: E402

#: The columns of the audit table: what a case can do wrong.
FAILURE_KINDS = ("traceback", "signal", "hang", "wrong exit code", "input not named", "half-written file", "modified input")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inspect-random", type=int, default=1000, help="random files through inspect")
    p.add_argument("--inspect-mutated", type=int, default=300, help="mutated seed graphs through inspect")
    p.add_argument("--inspect-exports", type=int, default=100, help="byte-edited tiny .onnx and .tflite files each through inspect")
    p.add_argument("--validate-mutated", type=int, default=100, help="mutated seed graphs through validate (default isolation)")
    p.add_argument("--prune-mutated", type=int, default=100)
    p.add_argument("--export-mutated", type=int, default=100)
    p.add_argument("--seed", type=int, default=20)
    p.add_argument("--timeout", type=float, default=180.0, help="seconds one case may take before it counts as a hang")
    p.add_argument("--quick", action="store_true", help="5 of each fuzzed kind and every bad input")
    add_output_options(p, "fuzz")
    args = p.parse_args(argv)
    if args.quick:
        for name in ("inspect_random", "inspect_mutated", "inspect_exports", "validate_mutated", "prune_mutated", "export_mutated"):
            setattr(args, name, min(getattr(args, name), 5))
    return args


def classify(outcome: Outcome, problems: list[str], expected: set[int] | None) -> list[str]:
    """The failure kinds of one judged case (``expected``: the exit codes allowed, None = any documented one)."""
    kinds = []
    if outcome.traceback or "Traceback (most recent call last)" in outcome.stderr:
        kinds.append("traceback")
    if outcome.signal is not None:
        kinds.append("signal")
    if outcome.hung:
        kinds.append("hang")
    if outcome.code is not None and not outcome.traceback and (
            any("not a documented one" in p for p in problems) or (expected is not None and outcome.code not in expected)):
        kinds.append("wrong exit code")
    if any("half-written" in p for p in problems):
        kinds.append("half-written file")
    if any("modified its input" in p for p in problems):
        kinds.append("modified input")
    return kinds


class Tally:
    """Counts per kind of case: examples, exit codes, failures (with the first few examples of each)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def add(self, kind: str, outcome: Outcome, failures: list[str], detail: str) -> None:
        row = self.rows.setdefault(kind, {"cases": 0, "codes": Counter(), "failures": Counter(), "examples": [], "seconds": 0.0})
        row["cases"] += 1
        row["codes"][str(outcome.code if outcome.code is not None else "none")] += 1
        row["seconds"] += outcome.seconds
        for f in failures:
            row["failures"][f] += 1
        if failures and len(row["examples"]) < 5:
            row["examples"].append({"failures": failures, "detail": detail, "stderr": outcome.stderr[-600:]})


def run_bad_inputs(worker: CliWorker, tally: Tally, work: Path, models: dict[str, Path]) -> None:
    """Every row of tests/fuzz/bad_inputs.py, against its documented exit code."""
    files = make_bad_input_files(work / "files", models)
    report = files.root / "report"
    worker.run(["validate", str(models["pb"]), "-d", str(files.root / "images"), "-r", "opencv", "--repeats", "1",
                "--bench-size", "0", "--no-isolate", "-o", str(report)])
    for row in BAD_INPUTS:
        case = new_case_dir(work)
        argv, names, env = files.argv(row, case)
        before = digest([files.root])
        outcome = worker.run(argv, env)
        problems = judge(outcome, before, [files.root, case])
        failures = classify(outcome, problems, {row.code})
        if names not in " ".join(outcome.stderr.split()):
            failures.append("input not named")
        tally.add(f"bad inputs ({row.command})", outcome, failures, f"{row.what}: {' '.join(argv)}")


def _random_file(rng: random.Random) -> bytes:
    size = rng.choice([rng.randrange(0, 65), rng.randrange(1, 4097), rng.randrange(4096, 65537)])
    data = rng.randbytes(size)
    return b"\x0a" + data if rng.random() < 0.3 else data  # a third look like a GraphDef's first field


def _byte_edited(rng: random.Random, seed: bytes) -> bytes:
    """``seed`` after 1-4 byte edits (flip, truncate, splice, overwrite, delete, duplicate)."""
    edits = [(rng.choice(sorted(BYTE_EDITS)), rng.randrange(2**24), rng.randrange(2**16), rng.randbytes(rng.randint(1, 32)))
             for _ in range(rng.randint(1, 4))]
    return apply_byte_edits(seed, edits)


def _mutated(rng: random.Random, seed: bytes) -> bytes:
    """The seed after 1-3 GraphDef edits (two thirds) or 1-4 byte edits, drawn like mutations.mutated_graphs."""
    if rng.random() < 2 / 3:
        edits = [(rng.choice(sorted(GRAPH_EDITS)), rng.randrange(2**16), rng.randrange(2**16)) for _ in range(rng.randint(1, 3))]
        return apply_graph_edits(seed, edits)
    return _byte_edited(rng, seed)


def run_fuzzed(worker: CliWorker, tally: Tally, work: Path, kind: str, count: int, make: Callable[[], bytes],
               argv_of: Callable[[Path, Path], list[str]], expected: set[int] | None, images: Path,
               file_name: str = "m.pb") -> None:
    """``count`` files from ``make``, each saved as ``file_name``, through the command ``argv_of(model, case)``."""
    for i in range(count):
        case = new_case_dir(work)
        model = case / file_name
        model.write_bytes(make())
        argv = argv_of(model, case)
        before = digest([model, images])
        outcome = worker.run(argv, {"SROPT_CACHE_DIR": str(case / "cache")})
        problems = judge(outcome, before, [case, images])
        tally.add(kind, outcome, classify(outcome, problems, expected), " ".join(argv))
        if (i + 1) % 100 == 0:
            say(f"{kind}: {i + 1}/{count}")


def _seed_models(work: Path, worker: CliWorker) -> tuple[bytes, str, dict[str, Path]]:
    """(seed graph bytes, its name, the bad-input table's models: a tiny ESPCN .pb, its exports, a classifier)."""
    from tests.fuzz.bad_inputs import classifier_graph
    from tests.graphs_tiny import build_tiny_graph

    shared = PROJECT_ROOT.parent / "shared" / "models" / "FSRCNN_x3.pb"
    seed, seed_name = (shared.read_bytes(), "FSRCNN_x3.pb") if shared.is_file() else (
        build_tiny_graph("fsrcnn")[0].SerializeToString(deterministic=True), "tiny fsrcnn (tests/graphs_tiny.py)")
    src = work / "models"
    src.mkdir(parents=True)
    models = {"pb": src / "m.pb", "onnx": src / "m.onnx", "tflite": src / "m.tflite", "classifier_pb": src / "c.pb"}
    models["pb"].write_bytes(build_tiny_graph("espcn")[0].SerializeToString(deterministic=True))
    models["classifier_pb"].write_bytes(classifier_graph().SerializeToString())
    for to in ("onnx", "tflite"):
        worker.run(["export", str(models["pb"]), "--to", to, "-o", str(models[to])])
    return seed, seed_name, models


def run_audit(args: argparse.Namespace, work: Path) -> tuple[Tally, str]:
    """Run every kind of case; return the tally and the seed graph's name."""
    import os

    rng = random.Random(args.seed)
    os.environ["SROPT_CACHE_DIR"] = str(work / "cache")  # the worker (spawned next) never touches the user's cache
    worker = CliWorker(timeout_s=args.timeout)
    tally = Tally()
    try:
        seed, seed_name, models = _seed_models(work, worker)
        say(f"bad inputs: {len(BAD_INPUTS)}")
        run_bad_inputs(worker, tally, work, models)
        images = work / "files" / "images"
        run_fuzzed(worker, tally, work, "inspect: random files", args.inspect_random, lambda: _random_file(rng),
                   lambda m, c: ["inspect", str(m), "--json"], {2}, images)
        mutated = lambda: _mutated(rng, seed)  # noqa: E731
        run_fuzzed(worker, tally, work, f"inspect: mutated {seed_name}", args.inspect_mutated, mutated,
                   lambda m, c: ["inspect", str(m), "--json"], None, images)
        exports = {to: models[to].read_bytes() for to in ("onnx", "tflite")}
        for to in ("onnx", "tflite"):
            run_fuzzed(worker, tally, work, f"inspect: byte-edited tiny .{to}", args.inspect_exports,
                       lambda: _byte_edited(rng, exports[to]), lambda m, c: ["inspect", str(m), "--json"], None, images,
                       file_name=f"m.{to}")
        run_fuzzed(worker, tally, work, f"validate: mutated {seed_name}", args.validate_mutated, mutated,
                   lambda m, c: ["validate", str(m), "-d", str(images), "-r", "opencv", "--repeats", "1", "--bench-size", "0",
                                 "-o", str(c / "report")], None, images)
        run_fuzzed(worker, tally, work, f"prune: mutated {seed_name}", args.prune_mutated, mutated,
                   lambda m, c: ["prune", str(m), "--ratio", "0.25", "--scope", "all", "--no-bias-compensation",
                                 "-o", str(c / "out" / "p.pb")], None, images)
        run_fuzzed(worker, tally, work, f"export: mutated {seed_name}", args.export_mutated, mutated,
                   lambda m, c: (lambda to: ["export", str(m), "--to", to, "-o", str(c / "out" / f"x.{to}")])(rng.choice(["onnx", "tflite"])),
                   None, images)
    finally:
        worker.close()
    return tally, seed_name


def markdown(record: dict[str, Any]) -> str:
    """The audit table: one row per kind of case, one column per failure kind, then totals."""
    rows = record["rows"]
    head = ["kind of case", "cases", "exit codes", *FAILURE_KINDS, "mean s"]
    lines = ["# Reliability audit (issue 20): bad inputs and fuzzed inputs", "", f"`{record['command']}`", "",
             environment_line(record), "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    total = Counter()
    for kind, row in rows.items():
        codes = ", ".join(f"{c}: {n}" for c, n in sorted(row["codes"].items()))
        fails = [row["failures"].get(f, 0) for f in FAILURE_KINDS]
        total.update({"cases": row["cases"], **{f: n for f, n in zip(FAILURE_KINDS, fails)}})
        lines.append(f"| {kind} | {row['cases']} | {codes} | " + " | ".join(map(str, fails)) + f" | {row['mean_s']:.2f} |")
    lines.append(f"| **all** | **{total['cases']}** | | " + " | ".join(f"**{total[f]}**" for f in FAILURE_KINDS) + " | |")
    examples = [(k, e) for k, r in rows.items() for e in r["examples"]]
    if examples:
        lines += ["", "## Failures (first five per kind)", ""]
        lines += [f"- {k}: {', '.join(e['failures'])}: `{e['detail']}`" for k, e in examples]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    record = start_record("fuzz", 2, args_settings(args))
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sropt-fuzz-") as tmp:
        tally, seed_name = run_audit(args, Path(tmp))
        leftovers = [str(p) for p in half_written([Path(tmp)])]
    record["seed_graph"] = seed_name
    record["rows"] = {k: {**r, "codes": dict(r["codes"]), "failures": dict(r["failures"]), "mean_s": r["seconds"] / max(r["cases"], 1)}
                      for k, r in tally.rows.items()}
    record["half_written_anywhere"] = leftovers
    record["wall_s"] = round(time.monotonic() - start, 1)
    finish_record(record)
    js, md = write_result(record, markdown(record), args.out, args.stem)
    say(f"wrote {md} and {js} in {record['wall_s']} s")
    print(markdown(record))
    return 0 if not any(r["failures"] for r in record["rows"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
