"""Work this process runs in the background only until something is timed.

A sweep's Ray engine stops its local Ray instance after the build phase, in
a thread, so the first point's measure phase can start at once (cache
checks, set preparation, worker start). Stopping takes 1.1-2.0 s on the
2-core Xeon and used to reach into that point's first latency cells
(measured: the first row started 1.05 s after the stop began, the stop ended
at 1.7-2.0 s, at load 3-5). Validation therefore waits here before its first
row runs: the background work overlaps the untimed set-up, never a timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_pending: list[threading.Thread] = []
_lock = threading.Lock()


def run_until_timing(target: Callable[[], object], name: str) -> threading.Thread:
    """Run ``target`` in a daemon thread that ``wait_before_timing`` joins."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    with _lock:
        _pending.append(thread)
    thread.start()
    return thread


def wait_before_timing() -> None:
    """Block until every background job started with ``run_until_timing`` has ended."""
    with _lock:
        pending = list(_pending)
        _pending.clear()
    for thread in pending:
        thread.join()
