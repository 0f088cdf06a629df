"""Where benchmark source models come from: a synthesized EDSR layout, a zoo name in ../shared/models, or a path."""

from __future__ import annotations

from pathlib import Path

from sropt.core.errors import InputError
from sropt.core.locations import shared_dir

SYNTH_EDSR = "edsr"  # the synthesized released layout (FACTS.md §1), random weights
TRAINED_EDSR = "EDSR-T91-b8f64_x3"  # trained weights in the released layout (B=8, F=64)


def synth_key(blocks: int, filters: int, scale: int, seed: int) -> str:
    """Folder/file stem of a synthesized EDSR: ``EDSR_b32f256_x3_s0``."""
    return f"EDSR_b{blocks}f{filters}_x{scale}_s{seed}"


def resolve_source(name: str, work_dir: Path, *, blocks: int = 32, filters: int = 256, scale: int = 3,
                   seed: int = 0) -> tuple[str, Path]:
    """(key, .pb path) for ``name``: ``edsr`` synthesizes (cached), zoo names come from ../shared/models."""
    if name == SYNTH_EDSR:
        from sropt.models.synth import write_synthetic_edsr

        key = synth_key(blocks, filters, scale, seed)
        pb = work_dir / key / f"{key}.pb"
        if not pb.is_file():
            pb.parent.mkdir(parents=True, exist_ok=True)
            write_synthetic_edsr(pb, blocks=blocks, filters=filters, scale=scale, seed=seed)
        return key, pb
    path = Path(name)
    if path.suffix.lower() == ".pb":
        if not path.is_file():
            raise InputError(f"--models {name}: no such file.")
        return path.stem, path
    pb = shared_dir() / "models" / f"{name}.pb"
    if not pb.is_file():
        raise InputError(
            f"--models {name}: not found as {pb}. Give 'edsr' (synthesized), a model name from "
            "../shared/models (e.g. FSRCNN_x3), or a path to a .pb; SROPT_SHARED_DIR moves the shared folder."
        )
    return name, pb
