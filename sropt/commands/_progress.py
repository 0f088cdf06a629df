"""Step progress of `sropt run` that a person at a terminal and a CI log can both follow.

On a terminal: one rich status line per step, its elapsed time ticking and,
when the stage says "k of N", an estimate of the time left. Without a
terminal rich draws no status line at all, which left a CI log silent for
the minutes a validation takes (issue 13, item 5), so there the same text is
printed as plain lines: a stage's message when at least ``MIN_GAP_SECONDS``
passed since the last line, and a heartbeat when ``HEARTBEAT_SECONDS`` passed
without one. Steps that finish quickly print only their outcome line.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

#: Longest silence of a running step in a non-terminal log (issue 13: "at least every 30 seconds").
HEARTBEAT_SECONDS = 30.0
#: Stage messages closer together than this are folded into the next line (a CI log, not a ticker).
MIN_GAP_SECONDS = 5.0
#: How often the terminal's status line refreshes its elapsed time.
TICK_SECONDS = 1.0

# "candidate 2 of 5", "step 150/500": the count a stage reports, for the estimate of the time left.
_COUNT = re.compile(r"(\d+)\s*(?:of|/)\s*(\d+)")


@dataclass
class _Count:
    """A "k of N" phase: where its rate is measured from, and the last estimate of the time left."""

    label: str
    total: int
    first_done: int
    first_seen: float
    left: float | None = None  # seconds left, estimated at ``left_at``
    left_at: float = 0.0

    def seconds_left(self, now: float) -> float | None:
        """The estimate, counted down since it was made (messages without a count keep it alive)."""
        return None if self.left is None else max(0.0, self.left - (now - self.left_at))


@dataclass
class _StepState:
    prefix: str
    name: str
    started: float
    message: str = ""
    last_line: float = 0.0
    count: _Count | None = None
    done: threading.Event = field(default_factory=threading.Event)


def format_seconds(seconds: float) -> str:
    """45 s, 3 min 05 s, 1 h 02 min."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def track_count(count: _Count | None, message: str, now: float) -> _Count | None:
    """The "k of N" phase after ``message``, with its estimate of the time left updated.

    The rate is measured from the first message of the phase (same text
    before the count, same N), so time spent before the phase started does
    not skew it. "k of N" is read as "item k is under way" (how the
    validator's rows and the quantizer's candidates are announced), so item
    k is still counted as left: a step never claims "0 s left" while its last
    item runs. A message without a count leaves the phase as it was.
    """
    match = _COUNT.search(message)
    if match is None:
        return count
    done, total = int(match.group(1)), int(match.group(2))
    label = message[: match.start()]
    if count is None or count.label != label or count.total != total or done < count.first_done:
        return _Count(label, total, done, now)
    if done > count.first_done:
        rate = (now - count.first_seen) / (done - count.first_done)
        count.left, count.left_at = max(0.0, rate * (total - done + 1)), now
    return count


class StepProgress:
    """A ``RunObserver``: shows each step while it runs and prints its outcome line."""

    def __init__(self, console, *, interactive: bool | None = None, heartbeat: float | None = None, clock=time.monotonic) -> None:
        self.console = console
        self.interactive = console.is_terminal if interactive is None else interactive
        self.heartbeat = HEARTBEAT_SECONDS if heartbeat is None else heartbeat
        self.clock = clock
        self.lock = threading.Lock()
        self.state: _StepState | None = None
        self.status = None
        self.thread: threading.Thread | None = None

    def step_started(self, name: str, index: int, total: int) -> None:
        now = self.clock()
        self.state = _StepState(prefix=f"[{index + 1}/{total}]", name=name, started=now, last_line=now)
        if self.interactive:
            self.status = self.console.status(self._text(now))
            self.status.start()
        self.thread = threading.Thread(target=self._watch, args=(self.state,), name="sropt-progress", daemon=True)
        self.thread.start()

    def step_progress(self, name: str, message: str) -> None:
        with self.lock:
            st = self.state
            if st is None:
                return
            now = self.clock()
            st.message = message
            st.count = track_count(st.count, message, now)
            if self.interactive:
                self.status.update(self._text(now))
            elif now - st.last_line >= MIN_GAP_SECONDS:
                self._print_line(st, now)

    def step_failed(self, name: str, exc: BaseException) -> None:
        prefix = self._stop()
        self.console.print(f"{prefix} {name}: [red]failed[/]")

    def step_finished(self, record) -> None:
        prefix = self._stop()
        mark = {"cached": "[dim]cached[/]", "ran": "[green]ran[/]", "rebuilt": "[yellow]rebuilt[/]"}[record.status]
        size = f", {record.size_bytes / 1024:.1f} KB" if record.size_bytes is not None else ""
        extra = f" (built in {record.build_seconds:.1f} s)" if record.status == "cached" else ""
        note = f" [yellow]{record.note}[/]" if record.note else ""
        self.console.print(f"{prefix} {record.name}: {mark} {record.seconds:.1f} s{extra}{size}{note}")

    def _watch(self, st: _StepState) -> None:
        """Refresh the terminal's status line, or print the heartbeat of a silent step in a log."""
        period = TICK_SECONDS if self.interactive else min(TICK_SECONDS, self.heartbeat / 4)
        while not st.done.wait(period):
            with self.lock:
                if st.done.is_set():
                    return
                now = self.clock()
                if self.interactive:
                    self.status.update(self._text(now))
                elif now - st.last_line >= self.heartbeat:
                    self._print_line(st, now)

    def _stop(self) -> str:
        with self.lock:
            st, self.state = self.state, None
            if st is not None:
                st.done.set()
            if self.status is not None:
                self.status.stop()
                self.status = None
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None
        return st.prefix if st is not None else ""

    def _print_line(self, st: _StepState, now: float) -> None:
        st.last_line = now
        self.console.print(self._text(now), highlight=False)

    def _text(self, now: float) -> str:
        """The step's line as rich markup (stage messages escaped: shapes like [1,H,W,1] are not tags)."""
        from rich.markup import escape

        st = self.state
        if st is None:
            return ""
        parts = [escape(f"{st.prefix} {st.name}" + (f": {st.message}" if st.message else " …")), f"{format_seconds(now - st.started)} elapsed"]
        left = st.count.seconds_left(now) if st.count is not None else None
        if left is not None:
            parts.append(f"about {format_seconds(left)} left")
        return ", ".join(parts)
