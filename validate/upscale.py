"""`sropt upscale`: super-resolve image files with any artifact in any runtime."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sropt.core.artifacts import ArtifactKind
from sropt.core.errors import InputError
from sropt.validate.imageio import read_image, write_image
from sropt.validate.inference import DEFAULT_OVERLAP, upscale_image
from sropt.validate.resolve import open_artifact

# The runtime used when none is given: the lightest one that loads the file type.
DEFAULT_RUNTIME = {ArtifactKind.FROZEN_GRAPH: "opencv", ArtifactKind.ONNX: "ort", ArtifactKind.TFLITE: "tflite"}


def output_paths(images: list[Path], out: Path, scale: int) -> list[Path]:
    """Where each upscaled image goes: ``out`` itself for one image with an image suffix, else ``out/<stem>_x<s>.png``."""
    from sropt.validate.imageio import IMAGE_SUFFIXES

    if len(images) == 1 and out.suffix.lower() in IMAGE_SUFFIXES and not out.is_dir():
        return [out]
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: with several images, -o must be a folder.")
    paths = [out / f"{p.stem}_x{scale}.png" for p in images]
    if len(set(paths)) != len(paths):
        raise InputError(f"-o {out}: two input images share a file name stem; upscale them in separate runs.")
    return paths


def check_not_inputs(dests: list[Path], images: list[Path]) -> None:
    """InputError naming the image if any output path is one of the input images."""
    sources = {p.resolve(): p for p in images}
    for dest in dests:
        if dest.resolve() in sources:
            raise InputError(f"-o {dest}: would overwrite the input image {sources[dest.resolve()]}; choose another output path.")


def upscale_files(
    model: str | Path,
    images: list[Path],
    out: Path,
    *,
    runtime: str | None = None,
    tile: int | None = None,
    overlap: int | None = DEFAULT_OVERLAP,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Upscale every image with ``model``; write atomically (never over an input); return the written paths."""
    from sropt.validate.runners import get_runner
    from sropt.validate.tiling import check_tiling, tiling_margin

    if tile is not None:
        check_tiling(tile, overlap)
    images = [Path(p) for p in images]
    missing = [f"{p}: no such image file" for p in images if not p.is_file()]
    if missing:
        raise InputError("cannot upscale", problems=missing)
    opened = open_artifact(model)
    art = opened.artifact
    if tile is not None:  # before any image is read: the overlap must cover the receptive field
        check_tiling(tile, overlap, tiling_margin(art))
    dests = output_paths(images, Path(out), art.scale)
    check_not_inputs(dests, images)
    runner = get_runner(runtime or DEFAULT_RUNTIME[art.kind])().load(art, threads)
    written = []
    for src, dest in zip(images, dests):
        if progress:
            progress(f"{src.name} -> {dest}")
        loaded = read_image(src, max_pixels=None if tile else 64_000_000)
        sr = upscale_image(runner, loaded.bgr, tile=tile, overlap=overlap)
        written.append(write_image(dest, sr, inputs=(src, art.path)))
    return written
