"""Cross-layer equalization: rebalance channel ranges between convs before TFLite INT8.

TFLite INT8 gives every activation tensor one scale and zero point (per
tensor) and weights one scale per output channel. When a few channels of a
tensor span a far wider range than the rest (FSRCNN_x3: the pre-PReLU output
of conv7 spans -12.2..2.9 over T91 crops), the narrow channels get only a
handful of levels. Between a conv and the convs that read its output through
positively homogeneous per-channel ops (bias add, ReLU, PReLU, Neg:
``f(x / s) = f(x) / s`` for ``s > 0``), output channel ``c`` can be divided by
``s_c`` and every reader's input channel ``c`` multiplied by ``s_c`` without
changing the float function. With

    s_c = r_c ** alpha / w_c ** (1 - alpha)     (normalised to geometric mean 1)

where ``r_c`` is the channel's max |activation| on the calibration crops and
``w_c`` the readers' max |weight| on that input channel, ``alpha`` moves range
from the activations into the weights (0.5 balances them as in Nagel et al.'s
data-free quantization; SmoothQuant calls alpha the migration strength).

The effect on PSNR is not monotonic in alpha. Measured on FSRCNN_x3, Set5 x3,
full INT8 TFLite drop (plain: 0.644 dB): alpha 0.5 0.70, 0.6 0.64, 0.75 0.43,
0.85 0.54, 0.9 0.70, 1.0 0.53 dB. So ``--equalize auto`` measures strengths
on the calibration images, together with the weight rounding, and can set one
per site (``sropt.quantize.weights``); a fixed alpha is applied as given.

Sites are found from channel groups (``sropt.convert.groups``), by ops and
edges only. A group qualifies when one conv produces it, convs consume it,
and every op in between is in ``HOMOGENEOUS_OPS`` with per-channel or scalar
slopes (Mul) and per-channel shifts (Add/Sub). Residual groups (EDSR's trunk),
groups that feed DepthToSpace or an output, and Tanh/clip activations (ESPCN)
are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sropt.convert.graph import make_session, replace_consts, run_session
from sropt.convert.graph_index import GraphIndex
from sropt.convert.groups import ChannelGroup, build_channel_groups

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef

ADDITIVE_OPS = frozenset({"Add", "AddV2", "BiasAdd", "Sub"})
HOMOGENEOUS_OPS = ADDITIVE_OPS | {"Relu", "Neg", "Mul", "Identity", "Abs"}


@dataclass(frozen=True)
class EqualizeSite:
    """One producer conv, its readers, and the shifts that scale with the channels."""

    group: str
    producer_weight: str  # Const of the producing Conv2D (HWIO, output axis 3)
    consumer_weights: tuple[str, ...]  # Consts of the reading Conv2Ds (input axis 2)
    shifts: tuple[str, ...]  # per-channel Consts added/subtracted: scaled with the channel
    tensors: tuple[str, ...]  # computed tensors carrying the channels, for their ranges


def _site(index: GraphIndex, group: ChannelGroup) -> EqualizeSite | None:
    """The site of ``group``, or None if some op in it is not positively homogeneous."""
    if not group.prunable or group.residual or len(group.producers) != 1 or not group.consumers:
        return None
    shifts, slopes = set(), set()
    for name in group.tensors:
        if name in group.producers:
            continue
        op = index.op(name)
        if op not in HOMOGENEOUS_OPS:
            return None
        consts = [index.skip_identity(i) for i in index.inputs(name) if index.is_constant(i)]
        computed = [i for i in index.inputs(name) if not index.is_constant(i)]
        if op == "Mul":
            if len(computed) != 1:  # x * x is not homogeneous
                return None
            slopes.update(consts)
        elif op in ADDITIVE_OPS:
            if any(int(np.prod(index.const_shape(c))) == 1 for c in consts):
                return None  # one shift for every channel cannot follow per-channel scales
            shifts.update(consts)
    if shifts & slopes:
        return None
    weight = lambda conv: index.skip_identity(index.inputs(conv)[1])  # noqa: E731
    return EqualizeSite(
        group.name, weight(group.producers[0]), tuple(weight(c) for c in group.consumers),
        tuple(sorted(shifts)), tuple(group.tensors),
    )


def find_sites(graph_def: "GraphDef") -> list[EqualizeSite]:
    """Every conv -> homogeneous ops -> conv(s) group of ``graph_def``, in topological order."""
    index = GraphIndex(graph_def)
    sites = [_site(index, g) for g in build_channel_groups(graph_def)]
    return [s for s in sites if s is not None]


def channel_ranges(
    graph_def: "GraphDef", input_name: str, sites: list[EqualizeSite], inputs: list[np.ndarray]
) -> list[np.ndarray]:
    """Per site: max |activation| of each channel over its tensors and ``inputs`` (float32 NHWC crops)."""
    fetches = [t for s in sites for t in s.tensors]
    peaks = {t: None for t in fetches}
    with make_session(graph_def) as sess:
        for x in inputs:
            for name, value in zip(fetches, run_session(sess, {input_name: x}, fetches)):
                peak = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
                peaks[name] = peak if peaks[name] is None else np.maximum(peaks[name], peak)
    return [np.max([peaks[t] for t in s.tensors], axis=0) for s in sites]


def equalization_factors(ranges: np.ndarray, weight_peaks: np.ndarray, alpha: float) -> np.ndarray:
    """``s_c = r_c**alpha / w_c**(1-alpha)``, geometric mean 1; 1 where a channel is all zeros."""
    live = (ranges > 0) & (weight_peaks > 0)
    s = np.ones_like(ranges, dtype=np.float64)
    s[live] = ranges[live] ** alpha / weight_peaks[live] ** (1.0 - alpha)
    if live.any():
        s[live] /= np.exp(np.mean(np.log(s[live])))
    return s


def equalize_graph(
    graph_def: "GraphDef", sites: list[EqualizeSite], ranges: list[np.ndarray],
    alpha: float | Sequence[float | None], scales: list | None = None,
) -> "GraphDef":
    """A copy of ``graph_def`` with every site rescaled by ``equalization_factors(..., alpha)``.

    ``alpha`` is one strength for every site, or one per site (None leaves
    that site unscaled). If ``scales`` is a list, each site's channel scales
    ``s`` (None when unscaled) are appended to it: the readers of a site see
    their input channels divided by ``s``.

    Sites are applied in order on the running weight values, so a conv that
    reads one site and produces the next gets both axes scaled. Ranges stay
    valid across sites: scaling one site leaves every other site's tensors
    unchanged (the function is preserved at each reader's output).
    """
    index = GraphIndex(graph_def)
    values: dict[str, np.ndarray] = {}

    def value(name: str) -> np.ndarray:
        if name not in values:
            values[name] = index.const_value(name).astype(np.float64)
        return values[name]

    alphas = list(alpha) if isinstance(alpha, Sequence) else [alpha] * len(sites)
    if len(alphas) != len(sites):
        raise ValueError(f"{len(alphas)} alpha(s) for {len(sites)} site(s)")
    for site, r, a in zip(sites, ranges, alphas):
        if a is None:
            if scales is not None:
                scales.append(None)
            continue
        w_peak = np.max([np.abs(value(w)).max(axis=(0, 1, 3)) for w in site.consumer_weights], axis=0)
        s = equalization_factors(np.asarray(r, np.float64), w_peak, a)
        if scales is not None:
            scales.append(s)
        values[site.producer_weight] = value(site.producer_weight) / s
        for shift in site.shifts:
            values[shift] = value(shift) / s.reshape(value(shift).shape)
        for w in site.consumer_weights:
            values[w] = value(w) * s[None, None, :, None]
    return replace_consts(graph_def, {k: v.astype(np.float32) for k, v in values.items()})
