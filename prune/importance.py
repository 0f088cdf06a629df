"""Channel importance (L1 norm of filters) and which channels a group keeps.

A group's channels are produced by one or more convs (EDSR's trunk: the head
conv, every block's second conv and ``resFilter_two``). Their filters have
very different fan-ins (the head reads 3 channels, the others F), so raw L1
norms would let wide-fan-in members drown the rest. Each member's per-channel
L1 norm is divided by its fan-in (kh*kw*cin), i.e. it is the mean absolute
weight, and the group's score is the mean over members. That keeps every
member's vote on the same scale without data (max-normalising per member
would also work, but one outlier channel would then rescale a whole member).
"""

from __future__ import annotations

import math

import numpy as np

from sropt.convert.graph_index import GraphIndex
from sropt.convert.groups import ChannelGroup
from sropt.core.errors import InputError


def channel_importance(index: GraphIndex, group: ChannelGroup) -> np.ndarray:
    """Per-channel score of ``group``: mean over producers of L1(filter) / fan-in."""
    score = np.zeros(group.channels, np.float64)
    for conv in group.producers:
        w = index.const_value(index.inputs(conv)[1]).astype(np.float64)  # [kh, kw, cin, cout]
        fan_in = w.shape[0] * w.shape[1] * w.shape[2]
        score += np.abs(w).sum(axis=(0, 1, 2)) / fan_in
    return score / max(len(group.producers), 1)


def kept_count(channels: int, ratio: float, round_to: int = 1) -> int:
    """Channels left after removing ``ratio`` of ``channels`` (round half up, then to a multiple)."""
    kept = int(math.floor(channels * (1.0 - ratio) + 0.5))
    if round_to > 1 and kept > 0:
        kept = min(channels, max(round_to, int(math.floor(kept / round_to + 0.5)) * round_to))
    return kept


def select_kept(importance: np.ndarray, kept: int, group_name: str, ratio: float) -> np.ndarray:
    """Indices (ascending) of the ``kept`` most important channels; InputError if none are left."""
    if kept < 1:
        raise InputError(
            f"ratio {ratio} would remove every channel of group '{group_name}' ({len(importance)} channels); "
            "use a smaller --ratio (at least one channel must stay)."
        )
    # Stable sort: among equal scores the lower index stays, so results are reproducible.
    order = np.argsort(-importance, kind="stable")
    return np.sort(order[:kept])
