"""The image-set registry and the bundled copies it describes."""

from __future__ import annotations

import hashlib

import pytest

from sropt.core.errors import InputError
from sropt.core.locations import bundled_dir
from sropt.models.datasets import dataset_registry, get_dataset


def test_registry_counts_match_the_published_sets() -> None:
    assert {n: len(e.files) for n, e in dataset_registry().items()} == {"Set5": 5, "Set14": 14, "T91": 91}


def test_every_bundled_image_matches_its_registered_sha256_and_git_blob() -> None:
    """Hashes computed here with hashlib (git blob = sha1 over b'blob <len>\\0' + data)."""
    checked = 0
    for name in ("Set5", "T91"):
        by_file = {f["file"]: f for f in get_dataset(name).files}
        for path in sorted((bundled_dir() / "datasets" / name).iterdir()):
            data = path.read_bytes()
            entry = by_file[path.name]
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == entry["git_blob"]
            checked += 1
    assert checked == 5 + 16


def test_bundle_stays_under_3_mb() -> None:
    assert sum(p.stat().st_size for p in bundled_dir().rglob("*") if p.is_file()) <= 3_000_000


def test_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"unknown dataset 'Set99'; known: Set5, Set14, T91"):
        get_dataset("Set99")
