"""The prune stage's typed configuration, validated once on construction."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from sropt.core.errors import InputError

# Ratios the sensitivity scan measures for each group (issue 4).
SENSITIVITY_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5)


class Scope(str, enum.Enum):
    """Which channel groups a ratio applies to.

    * ``inner``: every prunable group that is not joined by a residual Add
      (EDSR: the ``blockN.inner`` groups; ESPCN/FSRCNN/LapSRN: every
      prunable group, since they have no residual trunk);
    * ``trunk``: the residual groups only (EDSR's ``trunk``; very sensitive);
    * ``all``: both.
    """

    INNER = "inner"
    TRUNK = "trunk"
    ALL = "all"


class Compensation(str, enum.Enum):
    """How removed channels' contribution is folded into the next conv (see prune.compensation)."""

    NONE = "none"  # plain pruning: removed channels are dropped
    MEAN = "mean"  # bias compensation: their mean activation into the bias
    LSTSQ = "lstsq"  # ridge regression from the kept channels into weights + bias


class WeightStore(str, enum.Enum):
    """How the written graph stores its weights."""

    FLOAT32 = "float32"
    QUINT8 = "quint8"  # graph_transforms quantize_weights form, like the released EDSR


@dataclass(frozen=True)
class PruneConfig:
    """What to prune and how; every field is checked in ``__post_init__``."""

    ratio: float = 0.25
    scope: Scope = Scope.INNER
    round_to: int = 1  # kept channel counts rounded to a multiple of this
    importance: str = "l1"  # a name in sropt.prune.importance.IMPORTANCE
    # lstsq by default: at 25% inner it costs the trained EDSR layout 0.08 dB
    # on T91 calibration crops where mean costs 1.2 dB (docs/prune.md).
    compensation: Compensation = Compensation.LSTSQ
    # Deprecated spelling kept for callers that have it: False is compensation="none"
    # (it always switched off every kind, not only the bias one); True changes nothing.
    bias_compensation: bool | None = None
    calib_dir: Path | None = None  # default: datasets_dir()/T91
    calib_count: int = 32
    calib_size: int = 48  # LR crop side for calibration
    sensitivity: bool = False
    max_psnr_drop: float | None = None  # budgeted search (implies sensitivity)
    eval_dataset: str = "Set5"  # confirms a budgeted search; never used for choices
    finetune_steps: int = 0
    finetune_batch: int = 16
    finetune_crop: int = 32
    finetune_lr: float = 2e-4
    store: WeightStore = WeightStore.FLOAT32
    strict: bool = False  # refuse (instead of skipping) groups the surgery cannot handle
    group_ratios: dict[str, float] = field(default_factory=dict)  # explicit per-group ratios
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "scope", Scope(self.scope))
        object.__setattr__(self, "store", WeightStore(self.store))
        object.__setattr__(self, "compensation", Compensation(self.compensation))
        if self.bias_compensation is False:
            object.__setattr__(self, "compensation", Compensation.NONE)
        object.__setattr__(self, "bias_compensation", None)
        problems = []
        from sropt.prune.importance import IMPORTANCE

        if self.importance not in IMPORTANCE:
            problems.append(f"--importance {self.importance!r}: choose one of {', '.join(IMPORTANCE)}")
        if not 0.0 <= self.ratio < 1.0:
            problems.append(f"--ratio {self.ratio}: must be in [0, 1) (0.25 removes a quarter of each group's channels)")
        for name, r in self.group_ratios.items():
            if not 0.0 <= r < 1.0:
                problems.append(f"ratio {r} for group {name}: must be in [0, 1)")
        if self.round_to < 1:
            problems.append(f"--round-to {self.round_to}: must be a positive integer (e.g. 8)")
        if self.calib_count < 1:
            problems.append(f"calib_count {self.calib_count}: need at least one calibration crop")
        if self.calib_size < 8:
            problems.append(f"calib_size {self.calib_size}: use crops of at least 8x8 LR pixels")
        if self.max_psnr_drop is not None and self.max_psnr_drop < 0:
            problems.append(f"--max-psnr-drop {self.max_psnr_drop}: must be >= 0 dB")
        if self.finetune_steps < 0:
            problems.append(f"--finetune-steps {self.finetune_steps}: must be >= 0")
        if self.finetune_batch < 1 or self.finetune_crop < 8:
            problems.append("fine-tuning needs a batch of >= 1 and crops of >= 8 pixels")
        if problems:
            raise InputError("invalid prune options", problems=problems)

    @property
    def compensates(self) -> bool:
        """Whether removed channels are compensated at all (mean or lstsq)."""
        return self.compensation is not Compensation.NONE

    def to_json(self) -> dict:
        """The JSON-safe form recorded in provenance."""
        return {
            "ratio": self.ratio,
            "scope": self.scope.value,
            "round_to": self.round_to,
            "importance": self.importance,
            "compensation": self.compensation.value,
            "calib_dir": str(self.calib_dir) if self.calib_dir else None,
            "calib_count": self.calib_count,
            "sensitivity": self.sensitivity,
            "max_psnr_drop": self.max_psnr_drop,
            "finetune_steps": self.finetune_steps,
            "store": self.store.value,
        }
