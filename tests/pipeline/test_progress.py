"""What `sropt run` prints without a terminal (a CI log): heartbeat lines, unwrapped tables, -q.

Fake stages (tests/pipeline/conftest.py); capsys makes both streams
non-terminals, as in CI.
"""

from __future__ import annotations

import re
import time

import pytest

from sropt.cli import main
from sropt.commands import _progress
from sropt.commands._progress import format_seconds, track_count
from sropt.pipeline import steps as steps_mod


@pytest.fixture(autouse=True)
def _normal_verbosity(monkeypatch):
    # -q/-v are recorded in the environment (for stage processes); restore it after each test.
    monkeypatch.setenv("SROPT_VERBOSITY", "normal")
    monkeypatch.delenv("COLUMNS", raising=False)


def test_slow_step_prints_plain_progress_lines_at_the_heartbeat(pipeline_file, fake_stages, capsys, monkeypatch):
    monkeypatch.setattr(_progress, "HEARTBEAT_SECONDS", 1.0)
    fast_prune = fake_stages.prune

    def slow_prune(ctx):
        for k in (1, 2, 3):
            ctx.say(f"measuring {k} of 3")
            time.sleep(1.2)
        return fast_prune(ctx)

    steps_mod.ADAPTERS["prune"] = slow_prune
    assert main(["run", str(pipeline_file), "-p", "small", "--in-process"]) == 0
    err = capsys.readouterr().err.splitlines()
    beats = [line for line in err if re.fullmatch(r"\[2/6\] prune: measuring [123] of 3, \d+ s elapsed(, about \d+ s left)?", line)]
    # 3.6 s of a silent step with a 1 s heartbeat: a line about every second, not one per message.
    assert len(beats) >= 2, err
    # The rate is known from the second count on (1.2 s per item), so later lines say what is left.
    assert any(line.endswith(" left") for line in beats), beats
    assert "[2/6] prune: ran" in "\n".join(err)
    # Steps that finish at once print only their outcome line.
    assert not [line for line in err if line.startswith(("[1/6]", "[3/6]")) and "elapsed" in line]


def test_gate_table_is_not_wrapped_without_a_terminal(pipeline_file, fake_stages, capsys):
    assert main(["run", str(pipeline_file), "-p", "small"]) == 0
    err = capsys.readouterr().err.splitlines()
    # FAKE_PSNR: quantize.tflite.int8 29.40 dB vs source 30.50 dB under max_drop 1.5 (conftest).
    message = "drop +1.100 (value 29.40 dB, source 30.50 dB); allowed 1.5"
    (row,) = [line for line in err if message in line]
    assert re.search(r"│ pass\s+│ psnr_y max_drop 1\.5 vs source\s+│ quantize\.tflite\.int8\s+│ tflite\s+│ Set5\s+│", row)
    assert len(row) > 80
    assert "COLUMNS" not in __import__("os").environ  # the width is only set for the command's lifetime


def test_quiet_prints_only_the_result_line(pipeline_file, fake_stages, capsys):
    assert main(["-q", "run", str(pipeline_file), "-p", "small"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["run folder: runs/small (0/6 steps from cache; gates passed)"]


def test_time_left_comes_from_the_rate_of_the_current_count():
    count = track_count(None, "int8 candidate 1 of 5: nearest", now=10.0)
    assert count.seconds_left(10.0) is None  # one sighting: no rate yet
    count = track_count(count, "int8 candidate 3 of 5: gptq", now=20.0)
    # 5 s per candidate; the 3rd is under way, so 3 of 5 are left.
    assert count.seconds_left(20.0) == pytest.approx(15.0)
    assert count.seconds_left(26.0) == pytest.approx(9.0)  # counted down between messages
    same = track_count(count, "opening the artifact", now=27.0)  # no count: the estimate stays
    assert same is count and same.seconds_left(27.0) == pytest.approx(8.0)
    fresh = track_count(count, "step 50/500 L1 0.01", now=30.0)  # another phase starts its own rate
    assert fresh.total == 500 and fresh.seconds_left(30.0) is None
    fresh = track_count(fresh, "step 100/500 L1 0.01", now=40.0)
    assert fresh.seconds_left(40.0) == pytest.approx(80.2)  # 0.2 s per step, 401 to go


def test_format_seconds():
    assert [format_seconds(s) for s in (0.4, 45, 185, 3720)] == ["0 s", "45 s", "3 min 05 s", "1 h 02 min"]
