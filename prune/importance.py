"""Channel importance and which channels a group keeps.

Strategies are registered in ``IMPORTANCE`` (``l1`` is the default):

* ``l1`` (data-free): the L1 norm of each channel's filters, normalised as below.
* ``activation`` (needs calibration moments): the standard deviation of the
  channel's activation at each consumer's input times the L2 norm of the
  consumer's weights reading it, summed over consumers. That is the size of
  the output perturbation left after mean compensation removes the channel's
  mean, so it sees what weights alone cannot: in FSRCNN each 12-channel
  mapping group has one low-L1 channel that carries most of the signal
  (removing it costs ~14 dB; L1 removes it first).

L1 normalisation:
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
from collections.abc import Callable

import numpy as np

from sropt.convert.graph_index import GraphIndex
from sropt.convert.groups import ChannelGroup
from sropt.core.errors import InputError


ImportanceFn = Callable[[GraphIndex, ChannelGroup, "dict | None"], np.ndarray]
IMPORTANCE: dict[str, ImportanceFn] = {}
NEEDS_CALIBRATION = {"activation"}


def register_importance(name: str) -> Callable[[ImportanceFn], ImportanceFn]:
    """Decorator: register ``fn(index, group, moments) -> per-channel scores`` under ``name``."""

    def wrap(fn: ImportanceFn) -> ImportanceFn:
        IMPORTANCE[name] = fn
        return fn

    return wrap


@register_importance("l1")
def l1_importance(index: GraphIndex, group: ChannelGroup, moments: dict | None = None) -> np.ndarray:
    """Per-channel score of ``group``: mean over producers of L1(filter) / fan-in."""
    score = np.zeros(group.channels, np.float64)
    for conv in group.producers:
        w = index.const_value(index.inputs(conv)[1]).astype(np.float64)  # [kh, kw, cin, cout]
        fan_in = w.shape[0] * w.shape[1] * w.shape[2]
        score += np.abs(w).sum(axis=(0, 1, 2)) / fan_in
    return score / max(len(group.producers), 1)


@register_importance("activation")
def activation_importance(index: GraphIndex, group: ChannelGroup, moments: dict | None = None) -> np.ndarray:
    """Per-channel score: sum over consumers of std(activation) * L2(consumer weights of that input)."""
    if moments is None:
        raise ValueError("activation importance needs calibration moments")
    score = np.zeros(group.channels, np.float64)
    for conv in group.consumers:
        w = index.const_value(index.inputs(conv)[1]).astype(np.float64)
        var = np.clip(np.diag(moments[index.nodes[conv].input[0]].cov), 0.0, None)
        score += np.sqrt(var) * np.sqrt((w ** 2).sum(axis=(0, 1, 3)))
    return score


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
