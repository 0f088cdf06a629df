"""`sropt cache info|clean` on a hand-built cache root: sizes, ages, in-progress entries, bad input."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from sropt.cli import main

DAY = 86400
KEY_OLD, KEY_NEW = "a" * 64, "b" * 64


def _stage_entry(root: Path, key: str, files: dict[str, bytes], step: str) -> int:
    """A finished stage entry; returns its byte size counted by hand (files + manifest)."""
    entry = root / "stages" / key
    entry.mkdir(parents=True)
    for name, data in files.items():
        (entry / name).parent.mkdir(parents=True, exist_ok=True)
        (entry / name).write_bytes(data)
    manifest = json.dumps({"manifest_version": 1, "key": key, "step": step, "files": {},
                           "key_inputs": {"environment": {"libraries": {"tensorflow": "2.99.0", "numpy": "1.26.4"}}}})
    (entry / "manifest.json").write_text(manifest)
    return sum(len(d) for d in files.values()) + len(manifest.encode())


def _age(path: Path, seconds: float) -> None:
    """Set the mtime of ``path`` and everything under it to ``seconds`` ago."""
    t = time.time() - seconds
    for p in [*path.rglob("*"), path] if path.is_dir() else [path]:
        os.utime(p, (t, t))


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    r = tmp_path / "cache"
    monkeypatch.setenv("SROPT_CACHE_DIR", str(r))
    return r


def _json(capsys, args: list[str]) -> dict:
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def test_info_reports_true_sizes_and_counts_per_kind(root, capsys):
    stages = _stage_entry(root, KEY_OLD, {"m.pb": b"x" * 1000, "m.pb.json": b"{}"}, "prune")
    stages += _stage_entry(root, KEY_NEW, {"r.json": b"y" * 333, "crops/deep.png": b"q" * 17}, "validate")
    (root / "models").mkdir()
    (root / "models" / "FSRCNN_x3.pb").write_bytes(b"z" * 40_000)
    (root / "logs").mkdir()
    (root / "logs" / "ci-1.log").write_text("boom\n")
    (root / "notes.txt").write_text("mine")  # not sropt's: listed as other
    (root / "datasets" / "Set5").mkdir(parents=True)
    (root / "datasets" / "Set5" / "baby.png").write_bytes(b"d" * 700)
    (root / "parity").mkdir()
    (root / "parity" / f"{KEY_OLD}.npz").write_bytes(b"p" * 60)
    (root / "sets").mkdir()
    (root / "sets" / f"{KEY_NEW}.npz").write_bytes(b"s" * 90)

    out = _json(capsys, ["cache", "info", "--json"])
    kinds = out["kinds"]
    assert kinds["stages"] == {"entries": 2, "size_bytes": stages, "building": 0, "stale": 0}
    assert kinds["models"]["entries"] == 1 and kinds["models"]["size_bytes"] == 40_000
    assert kinds["logs"]["size_bytes"] == 5 and kinds["other"]["size_bytes"] == 4
    assert kinds["benchmarks"]["entries"] == 0
    # The image sets, parity crops and prepared sets are sropt's own kinds, not "other".
    assert {k: (kinds[k]["entries"], kinds[k]["size_bytes"]) for k in ("datasets", "parity", "sets")} == {
        "datasets": (1, 700), "parity": (1, 60), "sets": (1, 90)}
    assert out["size_bytes"] == stages + 40_000 + 5 + 4 + 700 + 60 + 90
    # The bytes agree with an independent walk of the folder.
    assert out["size_bytes"] == sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    prune = next(i for i in out["items"] if i.get("step") == "prune")
    assert prune["environment"]["libraries"]["tensorflow"] == "2.99.0"


def test_info_entries_table_shows_library_versions(root, capsys):
    _stage_entry(root, KEY_OLD, {"m.pb": b"x"}, "prune")
    assert main(["cache", "info", "--kind", "stages", "--entries"]) == 0
    text = capsys.readouterr().out
    assert "tensorflow=2.99.0" in text and "prune" in text


def test_clean_older_than_removes_exactly_the_old_entries(root, capsys):
    _stage_entry(root, KEY_OLD, {"m.pb": b"x" * 10}, "prune")
    _stage_entry(root, KEY_NEW, {"m.pb": b"x" * 10}, "prune")
    (root / "models").mkdir()
    old_model, new_model = root / "models" / "old.pb", root / "models" / "new.pb"
    old_model.write_bytes(b"o" * 7)
    new_model.write_bytes(b"n" * 7)
    _age(root / "stages" / KEY_OLD, 8 * DAY)
    _age(old_model, 8 * DAY)
    _age(root / "stages" / KEY_NEW, 6 * DAY)
    _age(new_model, 1 * 3600)

    dry = _json(capsys, ["cache", "clean", "--older-than", "7d", "--dry-run", "--json"])
    assert sorted(i["name"] for i in dry["removed"]) == sorted([KEY_OLD, "old.pb"])
    assert (root / "stages" / KEY_OLD).exists() and old_model.exists()  # dry run touches nothing

    assert main(["cache", "clean", "--older-than", "7d"]) == 0
    printed = capsys.readouterr().out
    assert f"removed stages/{KEY_OLD}" in printed and "removed models/old.pb" in printed
    assert "removed 2 entries" in printed
    assert sorted(p.name for p in (root / "stages").iterdir()) == [KEY_NEW]
    assert sorted(p.name for p in (root / "models").iterdir()) == ["new.pb"]


def test_clean_by_kind_leaves_other_kinds(root, capsys):
    _stage_entry(root, KEY_OLD, {"m.pb": b"x"}, "prune")
    (root / "models").mkdir()
    (root / "models" / "m.pb").write_bytes(b"m")
    out = _json(capsys, ["cache", "clean", "--kind", "stages", "--json"])
    assert [i["name"] for i in out["removed"]] == [KEY_OLD]
    assert (root / "models" / "m.pb").exists() and not (root / "stages" / KEY_OLD).exists()


def test_clean_never_removes_an_entry_being_built(root, capsys):
    stages = root / "stages"
    building = stages / f".tmp-{KEY_NEW}-{os.getpid()}-1"  # this process is alive: a run building it
    dead = stages / f".tmp-{KEY_OLD}-999999999-1"  # a killed run's leftover
    for p in (building, dead):
        p.mkdir(parents=True)
        (p / "half.pb").write_bytes(b"h" * 3)
    (root / "models").mkdir()
    part = root / "models" / ".EDSR_x4.pb.abc123.part"  # a download being written now
    part.write_bytes(b"p" * 5)
    _age(building, 10 * 3600)  # a long build: older than the limit below, still running
    _age(dead, 2 * 3600)

    out = _json(capsys, ["cache", "clean", "--older-than", "1h", "--json"])
    assert [i["name"] for i in out["removed"]] == [dead.name]
    assert out["kept_building"] == 2
    assert building.exists() and part.exists() and not dead.exists()
    info = _json(capsys, ["cache", "info", "--json"])
    assert info["kinds"]["stages"]["building"] == 1 and info["kinds"]["models"]["building"] == 1


def test_clean_never_touches_files_it_does_not_own(root, capsys):
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    out = _json(capsys, ["cache", "clean", "--json"])
    assert out["removed"] == [] and (root / "notes.txt").exists()
    assert main(["cache", "clean", "--kind", "other"]) == 2
    assert "never removes files it does not own" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["7", "7x", "d7", "-1d", "seven days", ""])
def test_bad_older_than_exits_2_with_the_accepted_format(root, capsys, value):
    assert main(["cache", "clean", "--older-than", value]) == 2
    err = capsys.readouterr().err
    assert f"--older-than '{value}'" in err and "12h, 7d" in err


def test_unknown_kind_exits_2_with_the_choices(root, capsys):
    assert main(["cache", "info", "--kind", "wheels"]) == 2
    assert "stages, models, logs, benchmarks, datasets, parity, sets, other" in capsys.readouterr().err


def test_clean_removes_prepared_sets_and_parity_crops_by_kind(root, capsys):
    (root / "sets").mkdir(parents=True)
    (root / "sets" / f"{KEY_OLD}.npz").write_bytes(b"s")
    (root / "parity").mkdir()
    (root / "parity" / f"{KEY_NEW}.npz").write_bytes(b"p")
    out = _json(capsys, ["cache", "clean", "--kind", "sets", "--json"])
    assert [i["name"] for i in out["removed"]] == [f"{KEY_OLD}.npz"]
    assert list((root / "sets").iterdir()) == [] and (root / "parity" / f"{KEY_NEW}.npz").exists()


def test_clean_never_removes_a_dataset_being_fetched(root, capsys):
    # A set is fetched file by file into datasets/<name>/: pooch's temp file (tmp + 8 characters) or an
    # atomic copy's .part inside the folder means a fetch is running; an old one is a dead fetch's leftover.
    fetching, copying, done = (root / "datasets" / n for n in ("Set14", "T91", "Set5"))
    for folder in (fetching, copying, done):
        folder.mkdir(parents=True)
        (folder / "baby.png").write_bytes(b"b")
    (fetching / "tmpa1b2c3d4").write_bytes(b"half")
    (copying / ".t1.png.x7.part").write_bytes(b"half")
    (done / "tmpa1b2c3d4").write_bytes(b"old")
    _age(done, 2 * 3600)

    out = _json(capsys, ["cache", "clean", "--kind", "datasets", "--json"])
    assert [i["name"] for i in out["removed"]] == ["Set5"]
    assert out["kept_building"] == 2 and fetching.exists() and copying.exists() and not done.exists()
