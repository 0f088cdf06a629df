"""--engine ray's bad input: Ray missing, an address nothing answers at (exit 2, nothing run)."""

from __future__ import annotations

import socket
import sys
import time

from sropt.cli import main


def _free_port() -> int:
    with socket.socket() as s:  # bound then closed: nothing listens there afterwards
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_without_ray_installed_engine_ray_says_how_to_install(sweep_file, fake_stages, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as on a machine without it
    assert main(["sweep", str(sweep_file), "-s", "grid4", "--engine", "ray", "--out", str(sweep_file.parent / "out")]) == 2
    err = capsys.readouterr().err
    assert "--engine ray needs Ray, which is not installed. Install it with: pip install -e \".[ray]\"" in err
    assert fake_stages.calls == []


def test_unreachable_address_is_exit_2_naming_it_within_seconds(sweep_file, fake_stages, capsys):
    port = _free_port()
    t0 = time.monotonic()
    code = main(["sweep", str(sweep_file), "-s", "grid4", "--engine", "ray", "--address", f"ray://127.0.0.1:{port}"])
    assert code == 2 and time.monotonic() - t0 < 15
    err = capsys.readouterr().err
    assert f"--address ray://127.0.0.1:{port}: nothing answers at 127.0.0.1:{port}" in err
    assert "ray start --head" in err
    assert fake_stages.calls == []


def test_malformed_address_and_local_engine_address(sweep_file, fake_stages, capsys):
    assert main(["sweep", str(sweep_file), "-s", "grid4", "--engine", "ray", "--address", "headnode"]) == 2
    assert "expected ray://HOST:PORT, HOST:PORT or auto" in capsys.readouterr().err
    assert main(["sweep", str(sweep_file), "-s", "grid4", "--address", "ray://x:1"]) == 2
    assert "--address applies to --engine ray only" in capsys.readouterr().err
    assert main(["sweep", str(sweep_file), "-s", "grid4", "--engine", "dask"]) == 2
    assert "'dask' is not one of 'local', 'ray'" in capsys.readouterr().err
