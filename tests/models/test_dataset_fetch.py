"""Image sets are fetched like models: verified, cached, atomic, retried; resolved in a stated order.

The HTTP tests serve the bundled Set5 files (whose sha256 and git blob ids
are in the registry) from a server this test starts on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sropt.core.errors import FetchError, InputError
from sropt.core.locations import bundled_dir
from sropt.models import datasets as ds
from tests.models.test_fetch_http import _send, server  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(60)

SET5 = bundled_dir() / "datasets" / "Set5"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SROPT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SROPT_DATASETS_DIR", str(tmp_path / "nothing-here"))
    monkeypatch.delenv("SROPT_DATASET_MIRROR", raising=False)
    return tmp_path


def _serve_set5(server, counts: dict[str, int], *, corrupt: dict[str, int] | None = None) -> None:  # noqa: F811
    """Routes /Set5/<file>; the first ``corrupt[file]`` requests of a file get one byte flipped."""
    for spec in ds.get_dataset("Set5").files:
        good = (SET5 / spec["file"]).read_bytes()
        bad = bytes([good[0] ^ 0xFF]) + good[1:]

        def route(h, name=spec["file"], good=good, bad=bad) -> None:
            counts[name] = counts.get(name, 0) + 1
            _send(bad if counts[name] <= (corrupt or {}).get(name, 0) else good)(h)

        server.routes[f"/Set5/{spec['file']}"] = route


def test_http_mirror_fetch_is_verified_and_cached(server, env, monkeypatch) -> None:  # noqa: F811
    counts: dict[str, int] = {}
    _serve_set5(server, counts)
    monkeypatch.setenv("SROPT_DATASET_MIRROR", server.base)
    folder = ds.fetch_dataset("Set5")
    assert folder == env / "cache" / "datasets" / "Set5"
    for spec in ds.get_dataset("Set5").files:
        assert (folder / spec["file"]).read_bytes() == (SET5 / spec["file"]).read_bytes()
    assert sorted(counts.values()) == [1] * 5
    ds.fetch_dataset("Set5")  # every file present with the right hash: no request
    assert sorted(counts.values()) == [1] * 5


def test_a_corrupted_attempt_is_retried(server, env, monkeypatch) -> None:  # noqa: F811
    counts: dict[str, int] = {}
    _serve_set5(server, counts, corrupt={"bird.png": 1})
    monkeypatch.setenv("SROPT_DATASET_MIRROR", server.base)
    folder = ds.fetch_dataset("Set5")
    assert counts["bird.png"] == 2
    assert not ds.file_problems(folder / "bird.png", next(f for f in ds.get_dataset("Set5").files if f["file"] == "bird.png"))


def test_a_file_that_never_verifies_is_exit_3_and_nothing_is_kept(server, env, monkeypatch) -> None:  # noqa: F811
    counts: dict[str, int] = {}
    _serve_set5(server, counts, corrupt={"bird.png": 99})
    monkeypatch.setenv("SROPT_DATASET_MIRROR", server.base)
    with pytest.raises(FetchError) as info:
        ds.fetch_dataset("Set5")
    assert info.value.exit_code == 3
    assert "Set5/bird.png" in str(info.value) and f"{server.base}/Set5/bird.png" in str(info.value)
    assert counts["bird.png"] == ds.RETRIES + 1
    cached = env / "cache" / "datasets" / "Set5"
    assert not (cached / "bird.png").exists()
    specs = {f["file"]: f for f in ds.get_dataset("Set5").files}
    for left in cached.iterdir():  # files fetched before bird.png: each verified, and no temp file
        assert left.name in specs and not ds.file_problems(left, specs[left.name]), left


def test_a_404_names_the_file_and_url(server, env, monkeypatch) -> None:  # noqa: F811
    _serve_set5(server, {})
    del server.routes["/Set5/head.png"]
    monkeypatch.setenv("SROPT_DATASET_MIRROR", server.base)
    monkeypatch.setattr(ds, "RETRIES", 0)
    with pytest.raises(FetchError, match=r"Set5/head.png failed: http://127\.0\.0\.1:\d+/Set5/head\.png answered HTTP 404"):
        ds.fetch_dataset("Set5")


def test_folder_mirror_lacking_files_is_named(env, monkeypatch, tmp_path) -> None:
    (tmp_path / "mirror" / "Set14").mkdir(parents=True)
    monkeypatch.setenv("SROPT_DATASET_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(FetchError, match=r"mirror/Set14 lacks 14 of the 14 files of Set14"):
        ds.fetch_dataset("Set14")


def test_t91_without_a_mirror_says_how_to_provide_it(env) -> None:
    with pytest.raises(FetchError, match="T91 has no verified public URL. Point SROPT_DATASET_MIRROR"):
        ds.fetch_dataset("T91")


def test_resolution_order_and_corrupt_copies_are_not_trusted(env, monkeypatch, tmp_path) -> None:
    # 1. an explicit path is taken as given
    assert ds.resolve_dataset("some/folder") == Path("some/folder")
    # 2. SROPT_DATASETS_DIR holding the name wins over everything
    mine = tmp_path / "mine" / "Set5"
    mine.mkdir(parents=True)
    monkeypatch.setenv("SROPT_DATASETS_DIR", str(tmp_path / "mine"))
    assert ds.resolve_dataset("Set5") == mine
    monkeypatch.setenv("SROPT_DATASETS_DIR", str(tmp_path / "nothing-here"))
    # 4. with no cache, the bundled copy (verified file by file)
    assert ds.resolve_dataset("Set5") == SET5
    # 3. a verified cache copy comes before the bundle; a corrupted one is not trusted
    cache = env / "cache" / "datasets" / "Set5"
    cache.mkdir(parents=True)
    for p in SET5.iterdir():
        (cache / p.name).write_bytes(p.read_bytes())
    assert ds.resolve_dataset("Set5") == cache
    (cache / "baby.png").write_bytes(b"\x89PNG corrupted")
    assert ds.resolve_dataset("Set5") == SET5
    # 5. nothing anywhere and no download: every place tried is named
    with pytest.raises(InputError) as info:
        ds.resolve_dataset("Set14", download=False)
    text = str(info.value)
    assert "nothing-here/Set14: not there" in text and "cache absent" in text and "sropt datasets fetch Set14" in text
