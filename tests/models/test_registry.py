"""The registry manifest, name lookup, checksums, and resolving through a folder mirror."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from sropt.core.locations import bundled_dir

from sropt.core.errors import FetchError, InputError
from sropt.core.families import Family
from sropt.models import (
    ModelSource,
    cached_model,
    fetch_model,
    get_model,
    git_blob_id,
    load_registry,
    model_cache_dir,
    resolve_model,
    verify_file,
)

ZOO = {
    "EDSR": (2, 3, 4),
    "ESPCN": (2, 3, 4),
    "FSRCNN": (2, 3, 4),
    "FSRCNN-small": (2, 3, 4),
    "LapSRN": (2, 4, 8),
}
# The files ../shared/models holds: 12 released files + the project-trained EDSR layout model.
SHARED_FILES = [
    f"{prefix}_x{s}" for prefix, scales in ZOO.items() if prefix != "EDSR" for s in scales
] + ["EDSR-T91-b8f64_x3"]


def test_manifest_lists_the_whole_zoo_plus_the_trained_edsr() -> None:
    names = [e.name for e in load_registry()]
    expected = [f"{p}_x{s}" for p, scales in ZOO.items() for s in scales] + ["EDSR-T91-b8f64_x3"]
    assert sorted(names) == sorted(expected)
    for entry in load_registry():
        assert entry.file == entry.name + ".pb"
        assert len(entry.git_blob) == 40  # every file can be verified
        family = entry.name.split("_")[0].split("-")[0].lower()
        assert entry.family is Family(family)


def test_released_edsr_has_blob_id_but_no_sha256_or_size() -> None:
    e = get_model("EDSR_x3")
    assert (e.family, e.scale, e.size, e.sha256) == (Family.EDSR, 3, None, None)
    assert e.git_blob == "9b9082ceca0d5a2fc6d6bae7456e2c7934b3aa4d"
    assert e.url == "https://github.com/Saafke/EDSR_Tensorflow/raw/master/models/EDSR_x3.pb"
    assert e.approx_size == 38_500_000


def test_trained_edsr_is_mirror_only_and_labelled_not_released() -> None:
    e = get_model("EDSR-T91-b8f64_x3")
    assert e.mirror_only and e.url is None
    assert e.source is ModelSource.PROJECT_TRAINED
    assert "NOT the released EDSR_x3" in e.description
    assert (e.size, e.sha256) == (663097, "1ba09118410ba46d938499de984315601cac8237136437cd4ee2f51ac54cfb31")


@pytest.mark.parametrize("ref", ["FSRCNN_x3", "fsrcnn_x3", "FSRCNN_X3.PB", " fsrcnn_x3.pb"])
def test_lookup_is_case_insensitive_with_optional_suffix(ref: str) -> None:
    assert get_model(ref).name == "FSRCNN_x3"


def test_unknown_name_lists_close_matches() -> None:
    with pytest.raises(InputError) as info:
        get_model("ESPCN_x5")
    msg = str(info.value)
    assert msg.startswith("ESPCN_x5: unknown model name")
    assert "Did you mean: ESPCN_x4, ESPCN_x3, ESPCN_x2?" in msg
    assert "sropt models list" in msg


def test_git_blob_id_matches_git_hash_object() -> None:
    # `printf 'hello\n' | git hash-object --stdin`
    assert git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    # `git hash-object /dev/null`
    assert git_blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


def test_resolve_returns_an_existing_file_as_is(tmp_path: Path) -> None:
    f = tmp_path / "my model.pb"
    f.write_bytes(b"x")
    assert resolve_model(f) == f
    assert resolve_model(str(f)) == f


def test_resolve_rejects_a_directory_and_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"is a directory, not a model file"):
        resolve_model(tmp_path)
    with pytest.raises(InputError, match=r"no such file\. Check the path"):
        resolve_model(tmp_path / "nope.pb")
    with pytest.raises(InputError, match=r"EDSR_x7: unknown model name \(and no such file\)\. Did you mean: EDSR_x"):
        resolve_model("EDSR_x7")


@pytest.mark.shared
def test_every_shared_file_verifies_and_resolves_through_the_folder_mirror(
    shared_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SROPT_MODEL_MIRROR", str(shared_models))
    monkeypatch.setenv("SROPT_CACHE_DIR", str(tmp_path / "cache"))
    assert len(SHARED_FILES) == 13
    for name in SHARED_FILES:
        entry = get_model(name)
        check = verify_file(shared_models / entry.file, entry)
        assert check.ok, check.problems
        assert check.checked == "size, sha256, git blob id"
        path = resolve_model(name.lower())
        # The package's verified stand-in is used before any mirror (models/fetch.py).
        bundled = bundled_dir() / entry.file
        assert path == (bundled if bundled.is_file() else model_cache_dir() / entry.file)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256
    fetched = sorted(f"{n}.pb" for n in SHARED_FILES if not (bundled_dir() / f"{n}.pb").is_file())
    assert sorted(p.name for p in model_cache_dir().iterdir()) == fetched


@pytest.mark.shared
def test_cache_hit_needs_no_mirror_and_a_corrupt_cache_copy_is_replaced(
    shared_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(shared_models / "FSRCNN-small_x2.pb", mirror)
    path = fetch_model("FSRCNN-small_x2", mirror=mirror, cache=cache)
    shutil.rmtree(mirror)
    monkeypatch.delenv("SROPT_MODEL_MIRROR", raising=False)
    assert fetch_model("FSRCNN-small_x2", cache=cache) == path  # no network, no mirror: cache hit

    path.write_bytes(path.read_bytes()[:-10])  # damage the cache copy
    assert cached_model(get_model("FSRCNN-small_x2"), cache) is None
    fetch_model("FSRCNN-small_x2", mirror=shared_models, cache=cache)
    assert verify_file(path, get_model("FSRCNN-small_x2")).ok


@pytest.mark.shared
def test_corrupt_mirror_copy_is_refused_and_nothing_is_cached(shared_models: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = bytearray((shared_models / "ESPCN_x3.pb").read_bytes())
    data[100] ^= 1
    (mirror / "ESPCN_x3.pb").write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(FetchError) as info:
        fetch_model("ESPCN_x3", mirror=mirror, cache=cache)
    msg = str(info.value)
    assert f"checksum mismatch for ESPCN_x3 from {mirror / 'ESPCN_x3.pb'}" in msg
    assert "sha256 is " + hashlib.sha256(bytes(data)).hexdigest() in msg
    assert "Nothing was written to the cache" in msg
    assert list(cache.iterdir()) == []


def test_edsr_x3_missing_from_the_mirror_says_how_to_provide_it(tmp_path: Path) -> None:
    empty_mirror = tmp_path / "mirror"
    empty_mirror.mkdir()
    with pytest.raises(FetchError) as info:
        resolve_model("EDSR_x3", mirror=empty_mirror, cache=tmp_path / "cache")
    msg = str(info.value)
    assert f"EDSR_x3.pb is not in the model mirror folder {empty_mirror}" in msg
    for remedy in ("SROPT_MODEL_MIRROR", "pass the path to the .pb file", "sropt models fetch EDSR_x3",
                   "sropt models synth edsr --blocks 32 --filters 256 --scale 3"):
        assert remedy in msg
    assert info.value.exit_code == 3


def test_mirror_only_model_comes_from_the_verified_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package ships EDSR-T91-b8f64_x3.pb; its bytes hash to the registry's sha256 (checked here by hashlib)."""
    monkeypatch.delenv("SROPT_MODEL_MIRROR", raising=False)
    path = resolve_model("EDSR-T91-b8f64_x3", cache=tmp_path / "cache")
    assert path.parent.name == "bundled"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == "1ba09118410ba46d938499de984315601cac8237136437cd4ee2f51ac54cfb31"


def test_mirror_only_model_without_a_mirror_or_a_good_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A corrupted bundled copy is detected by its checksum, not trusted."""
    import sropt.models.fetch as fetch

    monkeypatch.delenv("SROPT_MODEL_MIRROR", raising=False)
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "EDSR-T91-b8f64_x3.pb").write_bytes(b"not the model")
    monkeypatch.setattr(fetch, "bundled_dir", lambda: tmp_path / "bundle")
    with pytest.raises(FetchError, match=r"EDSR-T91-b8f64_x3 has no public URL: it is distributed only through a mirror"):
        resolve_model("EDSR-T91-b8f64_x3", cache=tmp_path / "cache")


def test_bad_mirror_setting_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"is neither an existing folder nor an http\(s\) URL"):
        fetch_model("ESPCN_x2", mirror=tmp_path / "nowhere", cache=tmp_path / "cache")


def test_the_bundle_wins_over_a_mirror_that_lacks_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh machine with an (empty or older) mirror configured still gets the verified bundled stand-in."""
    (tmp_path / "mirror").mkdir()
    monkeypatch.setenv("SROPT_MODEL_MIRROR", str(tmp_path / "mirror"))
    path = resolve_model("EDSR-T91-b8f64_x3", cache=tmp_path / "cache")
    assert path.parent.name == "bundled"
