"""sropt.core.quiet: native writes to fds 1/2 go to the log; Python's own output still reaches the terminal."""

from __future__ import annotations

import ctypes
import logging
import os
import subprocess
import sys
import textwrap

import pytest

from sropt.core.quiet import NATIVE_LOGGER, Verbosity, native_output_to_log, set_verbosity, verbosity


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def sropt_log():
    """A handler on the ``sropt`` logger, where `sropt run` attaches run.log's."""
    handler = _Records()
    logger = logging.getLogger("sropt")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_fd_writes_of_this_process_c_stdio_and_children_go_to_the_log(capfd, sropt_log):
    libc = ctypes.CDLL(None)
    with native_output_to_log() as captured:
        os.write(2, b"I0000 00:00:1 port.cc:153] oneDNN custom operations are on.\n")
        os.write(1, b"fully_quantize: 0, inference_type: 6\n")
        libc.printf(b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")  # C stdio, block-buffered
        subprocess.run(["sh", "-c", "echo 'E0000 cuda_platform.cc:52] failed call to cuInit' >&2"], check=True)
        print("sropt's own line", file=sys.stderr)
    out, err = capfd.readouterr()
    expected = [
        "I0000 00:00:1 port.cc:153] oneDNN custom operations are on.",
        "fully_quantize: 0, inference_type: 6",
        "E0000 cuda_platform.cc:52] failed call to cuInit",
        "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",  # flushed when the capture ends
    ]
    for line in expected:
        assert line not in out + err
    assert "sropt's own line" in err  # Python's stream is not the fd here (pytest's), and untouched
    native = [(r.name, r.levelno, r.getMessage()) for r in sropt_log.records if r.name == NATIVE_LOGGER]
    assert sorted(native) == sorted((NATIVE_LOGGER, logging.INFO, line) for line in expected)
    assert captured.lines == 4 and sorted(captured.tail) == sorted(expected)
    # Afterwards fds 1/2 are the original ones again.
    os.write(2, b"after the capture\n")
    assert "after the capture" in capfd.readouterr().err


def test_a_child_that_outlives_the_capture_does_not_hold_it_open(sropt_log):
    # multiprocessing's resource tracker and similar helpers inherit fds 1/2 (the pipe) and live
    # until the command ends: the capture must end when its own writes are forwarded, not at EOF.
    with native_output_to_log() as captured:
        lingering = subprocess.Popen(["sleep", "30"])  # holds the pipe's write end on its fds 1/2
        os.write(2, b"written before the end\n")
    try:
        assert lingering.poll() is None  # the capture ended while the holder still runs
        assert list(captured.tail) == ["written before the end"]
        assert captured.reached_marker.is_set()
        native = [r.getMessage() for r in sropt_log.records if r.name == NATIVE_LOGGER]
        assert native == ["written before the end"]  # the end marker itself is never logged
    finally:
        lingering.kill()
        lingering.wait()


def test_python_streams_keep_the_terminal_and_a_root_handler_on_stderr_does_not_loop(tmp_path):
    # TF/absl put a handler on the root logger writing to the original
    # sys.stderr, i.e. to fd 2, which is the capture pipe: a record fed back
    # into it would never end. A fresh interpreter, so fds 1/2 are its own.
    script = textwrap.dedent("""
        import logging, os, sys
        from sropt.core.quiet import native_output_to_log
        logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))
        logging.getLogger().setLevel(logging.INFO)
        with native_output_to_log() as captured:
            os.write(2, b"native-err\\n")
            os.write(1, b"native-out\\n")
            print("python-out")
            print("python-err", file=sys.stderr)
            sys.stderr.flush()
        print("captured", sorted(captured.tail))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["python-out", "captured ['native-err', 'native-out']"]
    assert proc.stderr.splitlines() == ["python-err"]


def test_verbosity_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("SROPT_VERBOSITY", raising=False)
    assert verbosity() is Verbosity.NORMAL
    set_verbosity(Verbosity.QUIET)
    assert os.environ["SROPT_VERBOSITY"] == "quiet" and verbosity() is Verbosity.QUIET
    monkeypatch.setenv("SROPT_VERBOSITY", "chatty")  # unknown: normal, not an error in a library
    assert verbosity() is Verbosity.NORMAL
