"""What a quantization run produced: the artifact plus the decisions made on the way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sropt.core.artifacts import Artifact


@dataclass(frozen=True)
class FloatLayer:
    """A layer kept in float by the quality budget, and why."""

    tensor: str  # output tensor name in the TFLite model
    op: str
    rmse_over_scale: float  # QuantizationDebugger: RMSE of the quantized output / its quantization step
    reason: str
    measured_gain_db: float | None = None  # drop recovered by keeping only this op in float (budget ranking)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form."""
        out = {"tensor": self.tensor, "op": self.op, "rmse_over_scale": round(self.rmse_over_scale, 4), "reason": self.reason}
        if self.measured_gain_db is not None:
            out["measured_gain_db"] = round(self.measured_gain_db, 4)
        return out


@dataclass(frozen=True)
class BudgetAttempt:
    """One candidate tried by the quality budget."""

    description: str
    psnr_drop: float  # the budget statistic (quality.DropStats.smooth_half on the budget images)
    fits: bool
    stats: dict[str, Any] | None = None  # quality.DropStats.to_json(): mean, p90, worst, images
    size_bytes: int | None = None  # the converter's output, before names, signature and metadata are added

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form."""
        out: dict[str, Any] = {"candidate": self.description, "psnr_drop_db": round(self.psnr_drop, 4), "fits": self.fits}
        if self.stats is not None:
            out["drop_stats"] = self.stats
        if self.size_bytes is not None:
            out["size_bytes"] = self.size_bytes
        return out


@dataclass(frozen=True)
class QuantizeResult:
    """The written artifact and everything the user should know about how it was made."""

    artifact: Artifact
    mode: str
    io: str
    calibration: dict[str, Any] | None = None
    float_psnr: float | None = None  # dB on the budget images (float reference)
    psnr: float | None = None  # dB of the written artifact on the same images
    float_layers: tuple[FloatLayer, ...] = ()
    attempts: tuple[BudgetAttempt, ...] = ()
    kernel: dict[str, Any] | None = None  # ORT INT8: activation type / reduce_range choice
    weights: dict[str, Any] | None = None  # TFLite int8/16x8: sropt.quantize.weights' record
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def psnr_drop(self) -> float | None:
        """float PSNR minus artifact PSNR (dB), when measured."""
        if self.float_psnr is None or self.psnr is None:
            return None
        return self.float_psnr - self.psnr

    def to_json(self) -> dict[str, Any]:
        """The `--json` object of `sropt quantize`."""
        return {
            "artifact": self.artifact.to_json(),
            "size_bytes": self.artifact.size_bytes,
            "mode": self.mode,
            "io": self.io,
            "calibration": self.calibration,
            "weights": self.weights,
            "float_psnr_db": self.float_psnr,
            "psnr_db": self.psnr,
            "psnr_drop_db": self.psnr_drop,
            "float_layers": [f.to_json() for f in self.float_layers],
            "attempts": [a.to_json() for a in self.attempts],
            "kernel": self.kernel,
            "notes": list(self.notes),
        }
