"""Evaluation datasets: a folder of HR images, or paired HR / LR folders.

Accepted layouts:

* ``DIR`` holding images: each is an HR image; LR is made by the degradation;
* ``DIR/HR`` (+ optional ``DIR/LR_x{s}`` or ``DIR/LR_bicubic/X{s}``): paired,
  LR files matched to HR files by stem (``baby.png`` or ``babyx3.png``);
* an explicit ``lr_dir`` (``--lr DIR``) paired with the HR folder.

Registry shortcuts ``Set5``, ``Set14``, ``T91`` resolve under
``sropt.models.datasets.resolve_dataset`` (``SROPT_DATASETS_DIR``, the cache, the bundled copy, a download).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sropt.core.errors import InputError
from sropt.validate.imageio import IMAGE_SUFFIXES

DATASET_SHORTCUTS = ("Set5", "Set14", "T91")


@dataclass
class ImagePair:
    """One evaluation item: an HR file and, if the dataset is paired, its LR file."""

    name: str
    hr_path: Path
    lr_path: Path | None = None


@dataclass
class Dataset:
    """A named list of evaluation items."""

    name: str
    root: Path
    items: list[ImagePair] = field(default_factory=list)

    @property
    def paired(self) -> bool:
        """True when LR images come from files rather than a degradation."""
        return any(item.lr_path is not None for item in self.items)


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def resolve_dataset_dir(ref: str | Path) -> Path:
    """A dataset folder from a path or a shortcut name (Set5, Set14, T91)."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return path
    for short in DATASET_SHORTCUTS:
        if str(ref).lower() == short.lower():
            # SROPT_DATASETS_DIR, the cache, the bundled copy, then a download;
            # the error names every place tried and what to do.
            from sropt.models.datasets import resolve_dataset

            return resolve_dataset(short)
    if path.exists():
        raise InputError(f"--dataset {ref}: not a folder; give a folder of HR images.")
    raise InputError(
        f"--dataset {ref}: no such folder (shortcuts: {', '.join(DATASET_SHORTCUTS)}); give a folder of HR images."
    )


def _find_lr_dir(root: Path, scale: int) -> Path | None:
    for rel in (f"LR_x{scale}", f"LR_X{scale}", f"LR_bicubic/X{scale}", f"LR_bicubic/x{scale}"):
        if (root / rel).is_dir():
            return root / rel
    return None


def _match_lr(hr: Path, lr_files: dict[str, Path], scale: int) -> Path | None:
    for key in (hr.stem, f"{hr.stem}x{scale}", f"{hr.stem}_x{scale}", f"{hr.stem}X{scale}"):
        if key in lr_files:
            return lr_files[key]
    return None


def load_dataset(ref: str | Path, *, scale: int, lr_dir: str | Path | None = None) -> Dataset:
    """Resolve ``ref`` into a Dataset; InputError for a missing/empty folder or unpaired LR."""
    root = resolve_dataset_dir(ref)
    hr_dir = root / "HR" if (root / "HR").is_dir() else root
    hr_files = list_images(hr_dir)
    if not hr_files:
        raise InputError(
            f"--dataset {ref}: {hr_dir} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
            "point --dataset at a folder of HR images."
        )
    lr_folder = Path(lr_dir).expanduser() if lr_dir is not None else (_find_lr_dir(root, scale) if hr_dir != root else None)
    if lr_dir is not None and not lr_folder.is_dir():
        raise InputError(f"--lr {lr_dir}: not a folder; give the folder of LR images matching the HR images.")
    items: list[ImagePair] = []
    if lr_folder is None:
        items = [ImagePair(p.name, p) for p in hr_files]
    else:
        lr_files = {p.stem: p for p in list_images(lr_folder)}
        missing = []
        for hr in hr_files:
            lr = _match_lr(hr, lr_files, scale)
            if lr is None:
                missing.append(f"{hr.name}: no LR image in {lr_folder}")
            items.append(ImagePair(hr.name, hr, lr))
        if missing:
            raise InputError(f"--dataset {ref}: LR folder {lr_folder} does not pair every HR image", problems=missing)
    name = root.name if root.name.upper() != "HR" else root.parent.name
    return Dataset(name=name, root=root, items=items)
