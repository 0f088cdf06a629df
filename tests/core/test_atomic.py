"""Preflight of atomic writes (core/atomic.check_writable) and the refusal messages of core/atomic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sropt.core.atomic import check_writable, ensure_not_input, write_text_atomic
from sropt.core.errors import InputError


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_probe_leaves_nothing_behind_and_creates_no_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    check_writable(tmp_path / "new" / "deeper" / "out.pb")
    check_writable(tmp_path / "report-dir", folder=True)
    assert _tree(tmp_path) == ["keep.txt"]


def test_parent_that_is_a_file_is_refused_naming_it(tmp_path: Path) -> None:
    # Runs as root too: no permission bit stops root, but a file cannot hold a folder.
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(InputError) as exc:
        check_writable(blocker / "sub" / "out.onnx", what="ONNX export")
    assert str(exc.value) == f"{blocker / 'sub' / 'out.onnx'}: cannot write the ONNX export: {blocker} is a file, not a folder. Choose another path."
    with pytest.raises(InputError, match="afile is a file, not a folder"):
        check_writable(blocker, folder=True)
    assert _tree(tmp_path) == ["afile"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0500 folder; the parent-is-a-file test covers root")
def test_read_only_folder_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(InputError, match=r"ro: cannot write the output there \(Permission denied\)"):
            check_writable(ro / "out.pb")
    finally:
        ro.chmod(0o700)


def test_atomic_write_under_a_file_is_an_input_error_not_an_oserror(tmp_path: Path) -> None:
    # A caller that skipped the preflight still gets exit 2 with the folder named, never a traceback.
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match=r"afile: cannot write out.json there"):
        write_text_atomic(tmp_path / "afile" / "out.json", "{}")


@pytest.mark.parametrize("name, kind", [("report.json", "report"), ("m.pb", "model"), ("in.png", "image"), ("notes.txt", "file")])
def test_overwrite_refusal_names_what_the_input_is(tmp_path: Path, name: str, kind: str) -> None:
    src = tmp_path / name
    src.write_text("x")
    with pytest.raises(InputError) as exc:
        ensure_not_input(src, src)
    assert str(exc.value) == f"{src}: output would overwrite the input {kind} {src}. Choose another output path (-o)."
    with pytest.raises(InputError, match=f"overwrite the input {kind}"):
        check_writable(src, inputs=(src,))
    assert src.read_text() == "x"


def test_output_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory; give a file path for the baseline"):
        check_writable(tmp_path, what="baseline")
