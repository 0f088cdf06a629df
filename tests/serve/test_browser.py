"""The page in a real browser: Debian's headless Chromium, driven by Playwright, against a real `sropt serve`.

The server runs with no argument (the bundled demo model, x3) on a free
loopback port. The test uploads an image through the file picker, presses
Upscale and reads the result image's natural size; then uploads a file over
the server's size limit and reads the error the page shows. Playwright drives
the system Chromium (`executable_path`): no browser is downloaded.

Screenshots go to tmp_path; with SROPT_SERVE_SCREENSHOTS=docs/img they are
also written there (the ones docs/serve.md shows).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks.serve_load import running_server

CHROMIUM = Path("/usr/bin/chromium")
# As root, without a sandbox; and no background connections: this machine's closed network refuses them, many at a time.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
UPLOAD_LIMIT_MB = 0.1

if not CHROMIUM.exists():  # CI may run on a fresh machine without Debian's chromium package; nothing to drive then
    pytest.skip(f"{CHROMIUM} is absent (Debian package `chromium`); the browser test needs it", allow_module_level=True)
if os.environ.get("CI") == "true" or os.environ.get("SROPT_REQUIRE_SHARED") == "1":
    import playwright.sync_api as playwright  # in the [test] extra, so CI has it: a missing one fails here
else:
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the [test] extra: pip install -e '.[test]'")


def _photo(tmp_path: Path) -> tuple[Path, tuple[int, int]]:
    """Set5's baby.png (bundled) reduced 3x: the LR photo to upload, and its (width, height)."""
    import cv2

    from sropt.core.locations import PROJECT_ROOT

    hr = cv2.imread(str(PROJECT_ROOT / "models" / "bundled" / "datasets" / "Set5" / "baby.png"))
    lr = cv2.resize(hr, (hr.shape[1] // 3, hr.shape[0] // 3), interpolation=cv2.INTER_AREA)
    path = tmp_path / "baby_lr.png"
    cv2.imwrite(str(path), lr)
    return path, (lr.shape[1], lr.shape[0])


def _oversized(tmp_path: Path) -> Path:
    """A real PNG larger than the upload limit (random pixels do not compress)."""
    import cv2

    path = tmp_path / "big.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8))
    assert path.stat().st_size > UPLOAD_LIMIT_MB * 1024 * 1024
    return path


def _shoot(page, tmp_path: Path, name: str) -> Path:
    shot = page.screenshot(path=str(tmp_path / name), full_page=True)
    keep = os.environ.get("SROPT_SERVE_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, Path(keep) / name)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    return tmp_path / name


def _upscale_in_page(page, photo: Path) -> None:
    page.wait_for_selector("#artifact option", state="attached")  # the page filled the artifact list from GET /v1/models
    page.set_input_files("#file", str(photo))
    page.click("#go")
    page.wait_for_function("document.getElementById('result').naturalWidth > 0 && !document.getElementById('compare').hidden",
                           timeout=60_000)


@pytest.mark.slow
def test_page_upscales_an_upload_and_shows_the_limit_error(tmp_path: Path) -> None:
    from PIL import Image

    photo, (w, h) = _photo(tmp_path)
    extra = ("--max-upload-mb", str(UPLOAD_LIMIT_MB))
    with running_server([], tmp_path / "cache", extra=extra, cwd=tmp_path) as server, playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(server.url)
        assert page.inner_text("#artifact") == "EDSR-T91-b8f64_x3 (x3, opencv)"
        _upscale_in_page(page, photo)
        size = page.evaluate("[document.getElementById('result').naturalWidth, document.getElementById('result').naturalHeight]")
        assert size == [3 * w, 3 * h]
        assert page.inner_text("#error") == ""
        assert "model latency" in page.inner_text("#latency") and "opencv" in page.inner_text("#latency")
        with Image.open(_shoot(page, tmp_path, "serve-wide.png")) as wide:
            assert wide.size[0] == 1400

        page.set_input_files("#file", str(_oversized(tmp_path)))
        page.click("#go")
        page.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=30_000)
        limit = int(UPLOAD_LIMIT_MB * 1024 * 1024)
        assert page.inner_text("#error").startswith("Error: upload is ")
        assert page.inner_text("#error").endswith(f"bytes; this server accepts at most {limit} bytes.")
        _shoot(page, tmp_path, "serve-error.png")

        narrow = browser.new_page(viewport={"width": 420, "height": 900})
        narrow.goto(server.url)
        _upscale_in_page(narrow, photo)
        assert "(result from the cache)" in narrow.inner_text("#latency")  # the same photo again
        with Image.open(_shoot(narrow, tmp_path, "serve-narrow.png")) as shot:
            assert shot.size[0] == 420
        browser.close()
