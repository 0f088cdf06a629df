"""Tiled vs whole-image output of the zoo models, and peak RSS of a large tiled `sropt upscale` (issue 20, items 7-8).

Seams: each model upscales one LR image whole and tiled at the default
overlap (the receptive field); the table gives the largest |difference| in
uint8 levels and the share of differing values. Memory: `sropt upscale
--tile` of a W x H image in its own process under `/usr/bin/time -v`
("Maximum resident set size"), so the figure includes the interpreter and
the libraries, as a user sees it.

    .venv/bin/python -m benchmarks.tiling --seams --image ../shared/datasets/Set14/barbara.png --tiles 64,256
    .venv/bin/python -m benchmarks.tiling --rss --model ../shared/models/FSRCNN_x3.pb --size 4000x3000 --tile 256
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SEAM_MODELS = ("FSRCNN_x3", "ESPCN_x3", "LapSRN_x4", "EDSR-T91-b8f64_x3")


def seams(image: Path, tiles: list[int], models_dir: Path, runtime: str) -> list[dict]:
    """Max |tiled - whole| (levels) per model and tile at the default overlap."""
    import cv2

    from sropt.validate.inference import upscale_image
    from sropt.validate.resolve import open_artifact
    from sropt.validate.runners import get_runner
    from sropt.validate.tiling import tiling_margin

    lr = cv2.imread(str(image))
    rows = []
    for name in SEAM_MODELS:
        art = open_artifact(models_dir / f"{name}.pb").artifact
        runner = get_runner(runtime)().load(art, 2)
        whole = upscale_image(runner, lr).astype(np.int16)
        for tile in tiles:
            d = np.abs(upscale_image(runner, lr, tile=tile).astype(np.int16) - whole)
            rows.append({"model": name, "tile": tile, "overlap": tiling_margin(art), "max": int(d.max()), "share": float((d > 0).mean())})
    return rows


def peak_rss_mb(model: str, size: tuple[int, int], tile: int) -> float:
    """Peak RSS (MiB) of `sropt upscale MODEL IMG --tile T` on a random-textured W x H image."""
    import cv2

    w, h = size
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "big.png"
        noise = np.random.default_rng(0).integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
        cv2.imwrite(str(src), cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC))
        sropt = Path(sys.executable).with_name("sropt")
        cmd = ["/usr/bin/time", "-v", str(sropt), "upscale", model, str(src), "-o", str(Path(tmp) / "out.png"), "--tile", str(tile)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    kb = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    assert kb, done.stderr[-2000:]
    return int(kb.group(1)) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seams", action="store_true")
    ap.add_argument("--rss", action="store_true")
    ap.add_argument("--image", type=Path, default=Path("../shared/datasets/Set14/barbara.png"))
    ap.add_argument("--tiles", default="64,256")
    ap.add_argument("--models-dir", type=Path, default=Path("../shared/models"))
    ap.add_argument("--runtime", default="opencv")
    ap.add_argument("--model", default="../shared/models/FSRCNN_x3.pb")
    ap.add_argument("--size", default="4000x3000")
    ap.add_argument("--tile", type=int, default=256)
    args = ap.parse_args()
    if args.seams:
        print("| model | tile | overlap (RF) | max diff (levels) | share differing |\n|---|---|---|---|---|")
        for r in seams(args.image, [int(t) for t in args.tiles.split(",")], args.models_dir, args.runtime):
            print(f"| {r['model']} | {r['tile']} | {r['overlap']} | {r['max']} | {r['share']:.1e} |")
    if args.rss:
        w, h = (int(v) for v in args.size.split("x"))
        print(f"peak RSS of sropt upscale {args.model} {w}x{h} --tile {args.tile}: {peak_rss_mb(args.model, (w, h), args.tile):.0f} MiB")


if __name__ == "__main__":
    main()
