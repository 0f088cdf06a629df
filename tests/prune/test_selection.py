"""Kept counts, channel selection and the greedy budget: hand-computed goldens, no TensorFlow runs."""

from __future__ import annotations

import numpy as np
import pytest

from sropt.core.errors import InputError
from sropt.prune.importance import kept_count, select_kept
from sropt.prune.sensitivity import SensitivityRow, choose_ratios


@pytest.mark.parametrize(("channels", "ratio", "round_to", "kept"), [
    (64, 0.25, 1, 48), (64, 0.5, 1, 32), (256, 0.25, 1, 192), (12, 0.25, 1, 9),
    (56, 0.1, 1, 50),  # 50.4 -> 50
    (12, 0.3, 1, 8),   # 8.4 -> 8
    (64, 0.3, 8, 48),  # 44.8 -> 45 -> 48 (nearest multiple of 8)
    (16, 0.9, 8, 8),   # never below one multiple
    (5, 0.95, 1, 0),   # empties the group: select_kept refuses it
])
def test_kept_count(channels: int, ratio: float, round_to: int, kept: int) -> None:
    assert kept_count(channels, ratio, round_to) == kept


def test_select_kept_takes_the_largest_scores_in_index_order() -> None:
    scores = np.array([0.5, 0.1, 0.9, 0.1, 0.7])
    assert select_kept(scores, 3, "g", 0.4).tolist() == [0, 2, 4]
    # Ties: the lower index stays.
    assert select_kept(scores, 4, "g", 0.2).tolist() == [0, 1, 2, 4]
    with pytest.raises(InputError, match="ratio 0.99 would remove every channel of group 'g' \\(5 channels\\)"):
        select_kept(scores, 0, "g", 0.99)


def _rows(group: str, drops: list[float], macs_per_step: int) -> list[SensitivityRow]:
    return [SensitivityRow(group, r, 10, 10 - i - 1, macs_per_step * (i + 1), 30.0 - d, -d)
            for i, (r, d) in enumerate(zip((0.1, 0.2, 0.3), drops))]


def test_budget_prefers_cheap_macs_and_respects_the_budget() -> None:
    # a: cheap (0.01 dB per step, 100 MACs per step); b: expensive (0.5 dB per step, 100 MACs per step).
    rows = _rows("a", [0.01, 0.02, 0.03], 100) + _rows("b", [0.5, 1.0, 1.5], 100)
    measured = []

    def measure(ratios: dict[str, float]) -> float:
        measured.append(dict(ratios))
        return 0.05 * ratios.get("a", 0) / 0.1 + 0.5 * ratios.get("b", 0) / 0.1 * 1.0

    choice = choose_ratios(rows, 0.6, measure)
    # Greedy: a all the way (0.03 dB estimated), then b one step (0.53 <= 0.6; a second b step needs 1.03).
    # The measurement of that (0.15 + 0.5 = 0.65) exceeds 0.6, so the latest step (b) is undone.
    assert measured == [{"a": 0.3, "b": 0.1}, {"a": 0.3}]
    assert choice.ratios == {"a": 0.3}
    assert choice.undone_steps == 1 and choice.measured_drop == pytest.approx(0.15)
    assert choice.estimated_drop == pytest.approx(0.03)


def test_budget_zero_prunes_only_free_groups() -> None:
    rows = _rows("free", [0.0, -0.01, 0.0], 50) + _rows("costly", [0.2, 0.4, 0.6], 500)
    choice = choose_ratios(rows, 0.0, lambda r: 0.0)
    assert choice.ratios == {"free": 0.3} and choice.measured_drop == 0.0
