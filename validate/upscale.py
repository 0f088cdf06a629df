"""`sropt upscale`: super-resolve image files with any artifact in any runtime.

The runtime runs in a spawned worker process by default: a graph that
crashes the runtime's native code (OpenCV segfaults on some malformed graphs
that load) then ends in a StageError naming the artifact, runtime and image
instead of killing sropt with a signal (issue 20, item 1).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.errors import InputError, StageError
from sropt.validate.imageio import IMAGE_SUFFIXES, read_image, write_image
from sropt.validate.inference import DEFAULT_OVERLAP, upscale_image
from sropt.validate.resolve import open_artifact

# The runtime used when none is given: the lightest one that loads the file type.
DEFAULT_RUNTIME = {ArtifactKind.FROZEN_GRAPH: "opencv", ArtifactKind.ONNX: "ort", ArtifactKind.TFLITE: "tflite"}
# HR pixels an untiled image may have; above that the float planes need tiling.
UNTILED_MAX_PIXELS = 64_000_000


def output_paths(images: list[Path], out: Path, scale: int) -> list[Path]:
    """Where each upscaled image goes: ``out`` itself for one image with an image suffix, else ``out/<stem>_x<s>.png``.

    A name without a suffix (or an existing folder) is a folder. A name that
    cannot be what the user meant is refused rather than turned into a
    folder of that name: ``-o out.png`` for several images, or ``-o x.txt``
    (not an image suffix) for one.
    """
    if not out.is_dir():
        image_name = out.suffix.lower() in IMAGE_SUFFIXES
        if len(images) == 1 and image_name:
            return [out]
        if len(images) == 1 and (out.suffix or out.exists()):  # "x.txt": not an image we can encode, nor plainly a folder
            raise InputError(
                f"-o {out}: not an image file name (supported suffixes: {', '.join(IMAGE_SUFFIXES)}); "
                f"name the output image, or create the folder first to write {images[0].stem}_x{scale}.png into it."
            )
        if image_name or out.exists():
            raise InputError(f"-o {out}: names a file, but {len(images)} images are given; -o must be a folder for several images.")
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


def check_runtime(art: Artifact, runtime: str | None) -> str:
    """The runtime to use (given or the default for the file type); InputError naming --runtime otherwise."""
    from sropt.validate.runners import DEFAULT_RUNTIMES, get_runner

    name = runtime or DEFAULT_RUNTIME[art.kind]
    if art.kind not in get_runner(name, option="--runtime").kinds:
        fits = [r for r in DEFAULT_RUNTIMES if art.kind in get_runner(r).kinds]
        raise InputError(f"{art.path}: --runtime {name} cannot load .{art.kind.value} files; choose one of {', '.join(fits)}.")
    return name


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
    isolate: bool = True,
) -> list[Path]:
    """Upscale every image with ``model``; write atomically (never over an input); return the written paths.

    Every check (images, artifact, runtime, tiling, output names and
    writability) runs before the runtime loads. ``isolate`` runs the runtime
    in a spawned process, so a crash is a StageError, not a signal.
    """
    from sropt.core.atomic import check_writable
    from sropt.validate.tiling import check_tiling, tiling_margin

    if tile is not None:
        check_tiling(tile, overlap)
    images = [Path(p) for p in images]
    missing = [f"{p}: no such image file" for p in images if not p.is_file()]
    if missing:
        raise InputError("cannot upscale", problems=missing)
    art = open_artifact(model).artifact
    name = check_runtime(art, runtime)
    if tile is not None:  # before any image is read: the overlap must cover the receptive field
        check_tiling(tile, overlap, tiling_margin(art))
    dests = output_paths(images, Path(out), art.scale)
    check_not_inputs(dests, images)
    for dest in dests:
        check_writable(dest, inputs=(*images, art.path), what="upscaled image")
    jobs = list(zip(images, dests))
    if isolate:
        return _upscale_isolated(art, name, jobs, tile, overlap, threads, progress)
    from sropt.validate.runners import get_runner

    runner = get_runner(name)().load(art, threads)
    written = []
    for src, dest in jobs:
        if progress:
            progress(f"{src.name} -> {dest}")
        written.append(_upscale_one(runner, src, dest, tile, overlap))
    return written


def _upscale_one(runner: Any, src: Path, dest: Path, tile: int | None, overlap: int | None) -> Path:
    loaded = read_image(src, max_pixels=None if tile else UNTILED_MAX_PIXELS)
    sr = upscale_image(runner, loaded.bgr, tile=tile, overlap=overlap)
    return write_image(dest, sr, inputs=(src, runner.artifact.path))


def _upscale_isolated(art: Artifact, name: str, jobs: list[tuple[Path, Path]], tile: int | None, overlap: int | None,
                      threads: int | None, progress: Callable[[str], None] | None) -> list[Path]:
    """Run every job in one spawned worker (the runtime loads once); a dead worker is a StageError."""
    import concurrent.futures as cf
    import multiprocessing as mp

    from sropt.validate.runners import runner_ref

    ref = runner_ref(name)
    written = []
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        for src, dest in jobs:
            if progress:
                progress(f"{src.name} -> {dest}")
            try:
                written.append(pool.submit(_upscale_in_worker, ref, art, threads, src, dest, tile, overlap).result())
            except cf.process.BrokenProcessPool:
                raise StageError(
                    f"{art.path}: runtime '{name}' crashed its process while upscaling {src} (its native code died, "
                    f"e.g. a segmentation fault); this graph cannot run in '{name}'. Nothing was written for {src.name}."
                ) from None
    return written


_WORKER_RUNNER: dict[tuple[Any, str, int | None], Any] = {}  # the worker's loaded runtime, reused for every image


def _upscale_in_worker(ref: Any, art: Artifact, threads: int | None, src: Path, dest: Path,
                       tile: int | None, overlap: int | None) -> Path:
    """One image in the worker process; loads the runtime on the first call."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from sropt.validate.runners import resolve_runner

    key = (ref, str(art.path), threads)
    if key not in _WORKER_RUNNER:
        _WORKER_RUNNER[key] = resolve_runner(ref)().load(art, threads)
    return _upscale_one(_WORKER_RUNNER[key], src, dest, tile, overlap)
