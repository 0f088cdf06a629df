"""benchmarks/fuzz.py: how a judged case is classified and tabled (the run itself is the benchmark)."""

from __future__ import annotations

import sys

from sropt.core.locations import PROJECT_ROOT
from tests.fuzz.harness import Outcome

sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks import fuzz  # noqa: E402


def test_each_failure_kind_is_counted_once_per_case():
    ok = Outcome(["inspect", "x"], 2, "error: x: not a model")
    assert fuzz.classify(ok, [], {2}) == []
    assert fuzz.classify(ok, [], {0}) == ["wrong exit code"]  # refused, but this case must succeed
    crashed = Outcome(["validate", "x"], None, signal=11)
    assert fuzz.classify(crashed, ["validate x: killed by signal SIGSEGV"], None) == ["signal"]
    raised = Outcome(["prune", "x"], None, traceback="Traceback (most recent call last):\nKeyError: 'lr'")
    assert fuzz.classify(raised, ["prune x: traceback"], {2}) == ["traceback"]  # not also a wrong exit code
    left = Outcome(["export", "x"], 0)
    problems = ["export x: left a half-written file /t/.x.onnx.abc.part", "export x: modified its input /t/m.pb"]
    assert fuzz.classify(left, problems, None) == ["half-written file", "modified input"]
    assert fuzz.classify(Outcome(["x"], None, hung=True, seconds=180), ["x: hung"], None) == ["hang"]


def test_table_totals_add_up():
    tally = fuzz.Tally()
    tally.add("a", Outcome(["a"], 2, seconds=1.0), [], "a")
    tally.add("a", Outcome(["a"], None, signal=11, seconds=3.0), ["signal"], "a crash")
    tally.add("b", Outcome(["b"], 0, seconds=0.5), ["wrong exit code"], "b")
    rows = {k: {**r, "mean_s": r["seconds"] / r["cases"]} for k, r in tally.rows.items()}
    record = {"command": "python -m benchmarks.fuzz", "rows": rows, "started_utc": "t0", "finished_utc": "t1",
              "environment": {"cpu": "cpu", "cores": 2, "threads": 2, "python": "3.11", "packages": {}}}
    table = fuzz.markdown(record)
    assert "| a | 2 | 2: 1, none: 1 | 0 | 1 | 0 | 0 | 0 | 0 | 0 | 2.00 |" in table
    assert "| **all** | **3** | | **0** | **1** | **0** | **1** | **0** | **0** | **0** | |" in table
    assert "- a: signal: `a crash`" in table
