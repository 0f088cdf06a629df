"""The model families of the OpenCV dnn_superres zoo and their contracts.

A *family* fixes how an image is turned into the model's input tensor and
how the output tensor is turned back into an image (../shared/FACTS.md §1-2).
Adding a family means adding one ``FamilySpec`` to ``FAMILIES``; structural
detection lives in ``sropt.convert.detect``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sropt.core.contracts import BGR_MEAN_CONTRACT, Y_CHANNEL_CONTRACT, Contract


class Family(str, enum.Enum):
    """A super-resolution model family, named as OpenCV dnn_superres names it."""

    EDSR = "edsr"
    ESPCN = "espcn"
    FSRCNN = "fsrcnn"
    LAPSRN = "lapsrn"


@dataclass(frozen=True)
class FamilySpec:
    """What sropt knows about a family independent of any one file."""

    family: Family
    contract: Contract
    opencv_algorithm: str  # the name cv2.dnn_superres.setModel expects
    scales: tuple[int, ...]


FAMILIES: dict[Family, FamilySpec] = {
    Family.EDSR: FamilySpec(Family.EDSR, BGR_MEAN_CONTRACT, "edsr", (2, 3, 4)),
    Family.ESPCN: FamilySpec(Family.ESPCN, Y_CHANNEL_CONTRACT, "espcn", (2, 3, 4)),
    Family.FSRCNN: FamilySpec(Family.FSRCNN, Y_CHANNEL_CONTRACT, "fsrcnn", (2, 3, 4)),
    Family.LAPSRN: FamilySpec(Family.LAPSRN, Y_CHANNEL_CONTRACT, "lapsrn", (2, 4, 8)),
}


def family_spec(family: Family | str) -> FamilySpec:
    """Return the spec of ``family`` (an enum member or its string value)."""
    return FAMILIES[Family(family)]
