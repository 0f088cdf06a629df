"""Per-group sensitivity and the budgeted choice of per-group ratios.

``scan_sensitivity`` prunes one group at a time at each ratio (0.1 ... 0.5)
and records the calibration PSNR change and the MACs it removes.

``choose_ratios`` is a greedy knapsack over those measurements: starting
from nothing pruned, it repeatedly takes the single step (one group, to its
next ratio) that removes the most MACs per dB of *estimated* drop, where the
estimate adds the groups' individual drops; it stops when no step fits the
budget. Additivity is only an estimate (groups interact), so the chosen
combination is then measured on the calibration crops, and while the
measured drop exceeds the budget the most recent step is undone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SensitivityRow:
    """One measurement: a group pruned alone at a ratio."""

    group: str
    ratio: float
    channels: int
    kept: int
    macs_removed: int  # per LR pixel
    psnr: float  # calibration PSNR of the model with only this group pruned
    delta: float  # psnr - unpruned calibration PSNR

    def to_json(self) -> dict:
        """JSON-safe dict."""
        return asdict(self)


# measure(group, ratio) -> (psnr, kept, channels, macs_removed)
MeasureOne = Callable[[str, float], tuple[float, int, int, int]]


def scan_sensitivity(groups: list[str], ratios: tuple[float, ...], base_psnr: float, measure: MeasureOne,
                     on_row: Callable[[SensitivityRow], None] | None = None) -> list[SensitivityRow]:
    """Measure every group alone at every ratio."""
    rows = []
    for g in groups:
        for r in ratios:
            psnr, kept, channels, macs = measure(g, r)
            row = SensitivityRow(g, r, channels, kept, macs, psnr, psnr - base_psnr)
            rows.append(row)
            if on_row:
                on_row(row)
    return rows


@dataclass(frozen=True)
class BudgetChoice:
    """The ratios chosen under a PSNR-drop budget and how they were checked."""

    ratios: dict[str, float]
    estimated_drop: float  # sum of individual drops (dB, positive = worse)
    measured_drop: float  # calibration drop of the combination
    undone_steps: int  # steps reverted because the measured drop exceeded the budget

    def to_json(self) -> dict:
        """JSON-safe dict."""
        return asdict(self)


def choose_ratios(rows: list[SensitivityRow], budget_db: float, measure_combo: Callable[[dict[str, float]], float]) -> BudgetChoice:
    """Greedy per-group ratios maximising MACs removed with calibration drop <= ``budget_db``."""
    levels: dict[str, list[SensitivityRow]] = {}
    for row in rows:
        levels.setdefault(row.group, []).append(row)
    for g in levels:
        levels[g].sort(key=lambda r: r.ratio)
    current = {g: -1 for g in levels}  # index into levels[g]; -1 = unpruned

    def drop(g: str, i: int) -> float:
        return 0.0 if i < 0 else max(-levels[g][i].delta, 0.0)

    def macs(g: str, i: int) -> int:
        return 0 if i < 0 else levels[g][i].macs_removed

    trace: list[str] = []
    while True:
        total = sum(drop(g, i) for g, i in current.items())
        best, best_score = None, 0.0
        for g, i in current.items():
            if i + 1 >= len(levels[g]):
                continue
            new_total = total - drop(g, i) + drop(g, i + 1)
            if new_total > budget_db:
                continue
            gain = macs(g, i + 1) - macs(g, i)
            score = gain / (max(drop(g, i + 1) - drop(g, i), 0.0) + 1e-3)
            if gain > 0 and score > best_score:
                best, best_score = g, score
        if best is None:
            break
        current[best] += 1
        trace.append(best)

    def ratios() -> dict[str, float]:
        return {g: levels[g][i].ratio for g, i in current.items() if i >= 0}

    estimated = sum(drop(g, i) for g, i in current.items())
    measured = measure_combo(ratios()) if trace else 0.0
    undone = 0
    while trace and measured > budget_db:
        current[trace.pop()] -= 1
        undone += 1
        measured = measure_combo(ratios()) if trace else 0.0
    estimated = sum(drop(g, i) for g, i in current.items())
    return BudgetChoice(ratios(), estimated, measured, undone)
