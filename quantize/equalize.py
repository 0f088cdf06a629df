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
0.85 0.54, 0.9 0.70, 1.0 0.53 dB. The mean over the 91 T91 images ranked the
candidates the same way (0.75 best: 0.308 vs 0.465 plain). So ``auto``
converts "off" and each of ``EQUALIZE_ALPHAS``, measures each on the
calibration folder's whole images (never the evaluation sets) and keeps the
best; it can never do worse there than plain INT8. A fixed alpha is applied
without measuring.

One alpha for every site is a compromise: each site trades its own activation
range against its own readers' weight ranges. When the best global alpha
equalizes (is not "off") and there are several sites, ``auto`` then refines
per site: one sweep in graph order tries each of ``SITE_ALPHAS`` at one site
with the others held, and keeps a change only if it gains at least
``REFINE_MIN_GAIN_DB`` on the same images. On FSRCNN_x3 this picks
conv1..conv7 = 0.9, 0.75, 0.75, 1.0, 0.5, 1.0, 1.0 and takes the Set5 x3 drop
from 0.417 (alpha 1.0 everywhere) to 0.296 dB, for 28 more conversions (about
a minute on 2 cores). Models where equalization does not help (ESPCN_x3,
EDSR-T91: "off" wins) skip the refinement.

Sites are found from channel groups (``sropt.convert.groups``), by ops and
edges only. A group qualifies when one conv produces it, convs consume it,
and every op in between is in ``HOMOGENEOUS_OPS`` with per-channel or scalar
slopes (Mul) and per-channel shifts (Add/Sub). Residual groups (EDSR's trunk),
groups that feed DepthToSpace or an output, and Tanh/clip activations (ESPCN)
are left alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sropt.convert.graph import make_session, replace_consts, run_session
from sropt.convert.graph_index import GraphIndex
from sropt.convert.groups import ChannelGroup, build_channel_groups

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef

    from sropt.convert.tflite_export import PreparedGraph
    from sropt.quantize.calibration import CalibrationSet
    from sropt.quantize.config import QuantizeConfig
    from sropt.validate.evaluate import Progress

EQUALIZE_ALPHAS = (0.5, 0.75, 1.0)  # candidates of "auto", besides "off"
# "auto" converts 1 + len(EQUALIZE_ALPHAS) INT8 models and runs each on the
# calibration images. Above this many MACs per LR pixel that costs minutes
# (B32/F256 EDSR: 38.4 M MACs/px, one INT8 conversion ~160 s), so auto skips
# such models with a note; --equalize ALPHA still applies one directly.
AUTO_MAX_MACS_PER_PIXEL = 4_000_000
# auto's per-site refinement: the alphas tried at each site (None: the site is
# left unscaled) and the least gain (dB, mean over the calibration images) that
# makes it keep a change, so that ties and rounding-level gains do not move it.
SITE_ALPHAS: tuple[float | None, ...] = (None, 0.5, 0.75, 0.9, 1.0)
REFINE_MIN_GAIN_DB = 0.002
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


def channel_scales(ranges: np.ndarray, weight_peaks: np.ndarray, alpha: float) -> np.ndarray:
    """``s_c = r_c**alpha / w_c**(1-alpha)``, geometric mean 1; 1 where a channel is all zeros."""
    live = (ranges > 0) & (weight_peaks > 0)
    s = np.ones_like(ranges, dtype=np.float64)
    s[live] = ranges[live] ** alpha / weight_peaks[live] ** (1.0 - alpha)
    if live.any():
        s[live] /= np.exp(np.mean(np.log(s[live])))
    return s


def equalize_graph(
    graph_def: "GraphDef", sites: list[EqualizeSite], ranges: list[np.ndarray],
    alpha: float | Sequence[float | None],
) -> "GraphDef":
    """A copy of ``graph_def`` with every site rescaled by ``channel_scales(..., alpha)``.

    ``alpha`` is one strength for every site, or one per site (None leaves
    that site unscaled).

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
            continue
        w_peak = np.max([np.abs(value(w)).max(axis=(0, 1, 3)) for w in site.consumer_weights], axis=0)
        s = channel_scales(np.asarray(r, np.float64), w_peak, a)
        values[site.producer_weight] = value(site.producer_weight) / s
        for shift in site.shifts:
            values[shift] = value(shift) / s.reshape(value(shift).shape)
        for w in site.consumer_weights:
            values[w] = value(w) * s[None, None, :, None]
    return replace_consts(graph_def, {k: v.astype(np.float32) for k, v in values.items()})


@dataclass
class EqualizeOutcome:
    """The graph to quantize and the provenance record of how it was chosen."""

    prepared: "PreparedGraph"
    record: dict[str, Any]
    # auto's full INT8 conversion of ``prepared`` (float I/O, dynamic H/W), so
    # the caller need not convert the chosen graph again with those settings.
    int8_float_io: bytes | None = None


def equalize_for_int8(
    prepared: "PreparedGraph", calib: "CalibrationSet", config: "QuantizeConfig",
    progress: Progress | None = None,
) -> EqualizeOutcome:
    """Apply ``config.equalize`` to ``prepared``: off, a fixed alpha, or the measured best of auto.

    ``progress`` gets a short message before each INT8 candidate auto measures.
    """
    record: dict[str, Any] = {"stage": "equalize", "setting": config.equalize}
    if config.equalize == "off":
        return EqualizeOutcome(prepared, dict(record, alpha=None, note="disabled (--equalize off)"))
    sites = find_sites(prepared.graph_def)
    record["sites"] = [s.group for s in sites]
    if not sites:
        return EqualizeOutcome(prepared, dict(record, alpha=None, note="no conv -> homogeneous ops -> conv group"))
    macs = prepared.source.info.macs_per_pixel
    if config.equalize_alpha is None and macs > AUTO_MAX_MACS_PER_PIXEL:
        return EqualizeOutcome(prepared, dict(record, alpha=None, note=(
            f"auto skipped: {macs:,} MACs per LR pixel > {AUTO_MAX_MACS_PER_PIXEL:,} makes measuring "
            f"{1 + len(EQUALIZE_ALPHAS)} INT8 candidates slow; pass --equalize ALPHA to apply one")))
    ranges = channel_ranges(prepared.graph_def, prepared.input_name, sites, calib.inputs)
    if config.equalize_alpha is not None:
        alpha = config.equalize_alpha
        record.update(alpha=alpha, chosen_by="given", site_alphas={s.group: alpha for s in sites})
        graph_def = equalize_graph(prepared.graph_def, sites, ranges, alpha)
        return EqualizeOutcome(dataclasses.replace(prepared, graph_def=graph_def), record)
    return _AutoSearch(prepared, calib, config, sites, ranges, progress).run(record)


class _AutoSearch:
    """``--equalize auto``: measure off and each global alpha, then refine the best per site."""

    def __init__(self, prepared: "PreparedGraph", calib: "CalibrationSet", config: "QuantizeConfig",
                 sites: list[EqualizeSite], ranges: list[np.ndarray], progress: Progress | None) -> None:
        from sropt.quantize.calibration import calibration_images
        from sropt.quantize.quality import BUDGET_HR_CROP, budget_images

        self.prepared, self.calib, self.sites, self.ranges = prepared, calib, sites, ranges
        self.say = progress or (lambda _msg: None)
        source = prepared.source.artifact
        self.pairs = budget_images(calibration_images(calib.folder), source.scale, config.budget_images, BUDGET_HR_CROP)
        self.conversions = 0

    def measure(self, alphas: list[float | None], what: str) -> tuple[float, bytes]:
        """Mean PSNR-Y of the full INT8 conversion with per-site ``alphas``, and its bytes."""
        from sropt.quantize.config import IOType, Mode
        from sropt.quantize.quality import image_psnrs, tflite_predictor
        from sropt.quantize.tflite_quantize import convert_mode

        self.conversions += 1
        self.say(f"equalization: INT8 candidate {self.conversions} ({what})")
        graph_def = equalize_graph(self.prepared.graph_def, self.sites, self.ranges, alphas)
        # Measured with float I/O: the I/O type does not change the inner tensors' quantization.
        candidate = dataclasses.replace(self.prepared, graph_def=graph_def)
        data = convert_mode(candidate, Mode.INT8, self.calib, IOType.FLOAT)
        source = self.prepared.source.artifact
        psnr = float(np.mean(image_psnrs(tflite_predictor(data, source), self.pairs, source.contract, source.scale)))
        return psnr, data

    def run(self, record: dict[str, Any]) -> EqualizeOutcome:
        n = len(self.sites)
        measured = []
        for alpha in (None, *EQUALIZE_ALPHAS):
            psnr, data = self.measure([alpha] * n, f"alpha {'off' if alpha is None else alpha} at every site")
            measured.append((psnr, alpha, data))
        psnr, alpha, data = max(measured, key=lambda m: m[0])  # first of equals: "off" wins a tie
        record.update(
            alpha=alpha, chosen_by="measured",
            candidates=[{"alpha": a, "int8_psnr_db": round(p, 4)} for p, a, _ in measured],
            measured_on=f"{len(self.pairs)} whole image(s) of {self.calib.folder.name} (mean PSNR-Y, full INT8 TFLite)",
        )
        alphas: list[float | None] = [alpha] * n
        if alpha is not None and n > 1:
            global_psnr = psnr
            alphas, psnr, data = self.refine(alphas, psnr, data)
            record["refined"] = {
                "from_int8_psnr_db": round(global_psnr, 4), "int8_psnr_db": round(psnr, 4),
                "tried": self.conversions - len(measured), "grid": list(SITE_ALPHAS),
                "min_gain_db": REFINE_MIN_GAIN_DB,
            }
        record["site_alphas"] = {s.group: a for s, a in zip(self.sites, alphas)}
        graph_def = equalize_graph(self.prepared.graph_def, self.sites, self.ranges, alphas)
        return EqualizeOutcome(dataclasses.replace(self.prepared, graph_def=graph_def), record, int8_float_io=data)

    def refine(self, alphas: list[float | None], psnr: float, data: bytes) -> tuple[list[float | None], float, bytes]:
        """One coordinate sweep over the sites in graph order (see the module docstring)."""
        for i, site in enumerate(self.sites):
            start = alphas[i]
            for a in SITE_ALPHAS:
                if a == start:  # measured already: it is this sweep's running best
                    continue
                trial = [*alphas[:i], a, *alphas[i + 1:]]
                p, d = self.measure(trial, f"{site.group}: alpha {'off' if a is None else a}")
                if p >= psnr + REFINE_MIN_GAIN_DB:
                    alphas, psnr, data = trial, p, d
        return alphas, psnr, data
