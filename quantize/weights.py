"""The weights a calibrated TFLite conversion sees: equalization and rounding, chosen by measuring.

Before the converter quantizes an int8 or int16x8 model, two rewrites of the
float weights can cut its loss:

* cross-layer equalization (``sropt.quantize.equalize``, int8 only): exact in
  float; moves range between a conv's output channels and its readers'
  input channels, trading weight precision for activation precision;
* GPTQ rounding (``sropt.quantize.rounding``, int8 and int16x8): puts every
  conv weight on the converter's own int8 grid, choosing the rounding
  direction so the layer's output error on calibration data is small.

Neither helps every model, and they interact (equalization decides what
GPTQ has to round), so their ``auto`` settings are measured together. Each
candidate is converted with float I/O and dynamic H/W and run in LiteRT on
``SEARCH_IMAGES`` whole images spread over the calibration folder (mean
PSNR-Y, ``sropt.quantize.quality``); the best is kept. The evaluation sets are never used. Candidates, with both
settings on auto:

1. the converter's own model (no equalization, nearest rounding): the
   baseline, so auto is never worse than it on the calibration images;
2. GPTQ with no equalization, and with each of ``EQUALIZE_ALPHAS`` at every
   site (int8 only);
3. if the best of those equalizes and the model has several sites, a sweep
   over the sites in graph order: off and the neighbours in ``SITE_ALPHAS``
   of the chosen strength at one site, the others held, kept only for a gain
   of at least ``MIN_GAIN_DB`` (one strength is a compromise: each site
   trades its own ranges).

Candidates are taken in that order and one is kept only if it gains at
least ``MIN_GAIN_DB`` over every candidate measured before it
(``choose_candidate``), so a tie keeps the earlier, simpler candidate: on
the pruned EDSR-T91 layout GPTQ with alpha 0.75 measured 0.0008 dB above
GPTQ without equalization, and that tie, which beat the plain model by more
than the threshold, started a 32-conversion sweep that gained nothing.

A given setting removes its dimension (``--weight-rounding gptq`` measures
only GPTQ candidates, ``--equalize 0.75`` only that strength). With one
candidate left it is applied without measuring.

Measured on Set5 x3 (validation stage), full INT8 drop against float:
FSRCNN_x3 0.64 dB plain -> 0.296 equalized per site (nearest) -> about 0.15
with GPTQ; ESPCN_x3 0.157 -> about 0.10 (GPTQ, no equalization); EDSR-T91
keeps the plain model (GPTQ measured no better on T91). int16x8 with GPTQ:
FSRCNN_x3 0.30 -> 0.01, ESPCN_x3 0.08 -> 0.005.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sropt.quantize.config import IOType, Mode

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef

    from sropt.convert.tflite_export import PreparedGraph
    from sropt.quantize.calibration import CalibrationSet
    from sropt.quantize.config import QuantizeConfig
    from sropt.quantize.equalize import EqualizeSite
    from sropt.validate.evaluate import Progress

EQUALIZE_ALPHAS = (0.5, 0.75, 1.0)  # auto's global strengths, besides "off"
# auto's per-site sweep: the strengths tried at each site (None: unscaled).
SITE_ALPHAS: tuple[float | None, ...] = (None, 0.5, 0.75, 0.9, 1.0)
# The least gain (dB, mean over the calibration images) for which a candidate
# replaces the best one measured before it or a sweep step keeps a change, so
# that ties and rounding-level gains do not move the choice: on
# EDSR-T91 every candidate measured within 0.001 dB of the plain model, and a
# 0.0008 dB "win" cost a 32-conversion sweep (250 s instead of 40 s).
MIN_GAIN_DB = 0.002
# Above this many MACs per LR pixel each candidate costs minutes (B32/F256
# EDSR: 38.4 M MACs/px, one INT8 conversion ~160 s, GPTQ's input moments
# about as long), so auto settings fall back to the converter's own model
# with a note; given settings still apply.
AUTO_MAX_MACS_PER_PIXEL = 4_000_000

# Whole calibration images each candidate is measured on, spread over the
# folder: inference over all 91 T91 images was 60% of a default FSRCNN_x3
# quantize (33 candidates), and the mean only has to rank candidates.
SEARCH_IMAGES = 30

NEAREST, GPTQ = "nearest", "gptq"
ROUNDINGS = (NEAREST, GPTQ)
Alphas = tuple["float | None", ...]


def spread(items: list, count: int) -> list:
    """At most ``count`` of ``items``, evenly spaced from the first (all of them if there are no more)."""
    if len(items) <= count:
        return list(items)
    return [items[i * len(items) // count] for i in range(count)]


def search_pairs(calib: "CalibrationSet", scale: int, image_count: int) -> list:
    """The ``SEARCH_IMAGES`` whole images, spread over the first ``image_count`` of the calibration folder, as HR/LR pairs."""
    from sropt.quantize.calibration import calibration_images
    from sropt.quantize.quality import BUDGET_HR_CROP, load_budget_pairs

    images = spread(calibration_images(calib.folder)[:image_count], SEARCH_IMAGES)
    return load_budget_pairs(images, scale, len(images), BUDGET_HR_CROP)


def site_trials(start: float | None) -> list[float | None]:
    """The strengths the per-site sweep tries at a site that has ``start``: off, and its neighbours in ``SITE_ALPHAS``.

    Trying only the neighbours (and off) of the uniform strength the first
    sweep chose cut FSRCNN_x3's sweep from 28 to 21 conversions; every
    per-site strength the full grid had chosen there (off, 0.5, 0.75, 0.9
    from 0.75) is among them.
    """
    grid = list(SITE_ALPHAS)
    if start not in grid:  # not reached by auto (it starts from EQUALIZE_ALPHAS); the whole grid then
        return grid
    at = grid.index(start)
    near = [grid[j] for j in (at - 1, at + 1) if 0 <= j < len(grid)]
    return [a for a in dict.fromkeys([None, *near]) if a != start]


def choose_candidate(scores: list[float], min_gain: float = MIN_GAIN_DB) -> int:
    """Index of the kept candidate: in order, one is kept only if it gains ``min_gain`` over every one before it.

    The first candidate (the plain model) is the default. Comparing with the
    best score measured so far, not with the candidate kept so far, means a
    tie never moves the choice: on the pruned EDSR-T91 layout (30 T91
    images) GPTQ without equalization measured 0.0016 dB above the plain
    model and alpha 0.75 0.0004 above that, so 0.75 beat the kept plain model
    by the 0.002 threshold and started a 32-conversion sweep that gained
    nothing.
    """
    best, top = 0, float("-inf")
    for i, score in enumerate(scores):
        if i == 0 or score >= top + min_gain:
            best = i
        top = max(top, score)
    return best


@dataclass(frozen=True)
class Candidate:
    """One way to prepare the weights: a strength per equalization site and a rounding."""

    alphas: Alphas
    rounding: str

    def label(self, sites: list["EqualizeSite"]) -> str:
        """Short text for progress lines."""
        strengths = set(self.alphas)
        if not self.alphas or strengths == {None}:
            eq = "no equalization"
        elif len(strengths) == 1:
            eq = f"alpha {self.alphas[0]} at every site"
        else:
            eq = "per-site alphas"
        return f"{eq}, {self.rounding} rounding"


@dataclass
class WeightsOutcome:
    """The graph to convert, how it was chosen, and its conversion if the search already made it."""

    prepared: "PreparedGraph"
    record: dict[str, Any]
    # The chosen candidate's conversion in the search's settings (float I/O,
    # dynamic H/W, the requested mode), so the caller need not convert again.
    converted: bytes | None = None
    # GPTQ's input moments of the graph before preparation, if the search
    # measured them, so a later GPTQ of that graph need not measure them again.
    moments: list[np.ndarray] | None = None


def prepare_weights(
    prepared: "PreparedGraph", calib: "CalibrationSet", config: "QuantizeConfig",
    progress: Progress | None = None,
) -> WeightsOutcome:
    """Equalize and round ``prepared``'s weights for ``config.mode`` as ``config`` asks (see the module doc)."""
    from sropt.quantize.equalize import channel_ranges, find_sites

    int8 = config.mode is Mode.INT8
    record: dict[str, Any] = {"stage": "weights", "mode": config.mode.value, "notes": []}
    notes: list[str] = record["notes"]
    equalize = config.equalize if int8 else "off"
    record["setting"] = {"weight_rounding": config.weight_rounding, **({"equalize": equalize} if int8 else {})}

    sites = find_sites(prepared.graph_def) if equalize != "off" else []
    if equalize != "off" and not sites:
        notes.append("equalization: no conv -> homogeneous ops -> conv group")
    record["sites"] = [s.group for s in sites]
    macs = prepared.source.info.macs_per_pixel
    too_big = macs > AUTO_MAX_MACS_PER_PIXEL
    if too_big and "auto" in (equalize, config.weight_rounding):
        notes.append(f"auto settings not measured: {macs:,} MACs per LR pixel > {AUTO_MAX_MACS_PER_PIXEL:,} "
                     "makes each candidate slow; pass --equalize ALPHA / --weight-rounding gptq to apply one")

    candidates = _candidates(equalize, config.weight_rounding, len(sites), too_big)
    ranges = channel_ranges(prepared.graph_def, prepared.input_name, sites, calib.inputs) if sites else []
    search = _Search(prepared, calib, config, sites, ranges, progress)
    if len(candidates) == 1:
        chosen = candidates[0]
        # "fallback": some setting was auto but the model is too big to measure, so it took its
        # plain value (no equalization, nearest rounding); "given": every setting was explicit.
        record["chosen_by"] = "fallback" if too_big and "auto" in record["setting"].values() else "given"
        graph, rounding = search.build(chosen)
        converted = None
    else:
        chosen, converted = _choose_by_measurement(search, candidates, sites, refine=equalize == "auto", record=record)
        graph, rounding = search.build(chosen)
    record["chosen"] = _describe(chosen, sites)
    if rounding:
        record["rounding"] = rounding
    return WeightsOutcome(dataclasses.replace(prepared, graph_def=graph), record, converted, search.measured_moments)


def _candidates(equalize: str, weight_rounding: str, n_sites: int, too_big: bool) -> list[Candidate]:
    """The settings to build: one when every setting is explicit (or too big to measure), else the auto grid."""
    if not n_sites:
        strengths: list[float | None] = [None]
    elif equalize == "auto":
        strengths = [None] if too_big else [None, *EQUALIZE_ALPHAS]
    else:
        strengths = [float(equalize)]
    per_site = lambda a: (a,) * n_sites  # noqa: E731
    if weight_rounding != "auto":
        return [Candidate(per_site(a), weight_rounding) for a in strengths]
    if too_big:
        return [Candidate(per_site(a), NEAREST) for a in strengths]
    # nearest only as the baseline (the first strength: none, or the given one); GPTQ with each
    return [Candidate(per_site(strengths[0]), NEAREST), *(Candidate(per_site(a), GPTQ) for a in strengths)]


def _choose_by_measurement(
    search: "_Search", candidates: list[Candidate], sites: list["EqualizeSite"], refine: bool, record: dict[str, Any],
) -> tuple[Candidate, bytes | None]:
    """Convert and score every candidate, keep the best; with ``refine``, search per-site strengths from it."""
    record["chosen_by"] = "measured"
    record["measured_on"] = search.measured_on
    search.plan("candidate", len(candidates))
    scored = [(search.measure(c), c) for c in candidates]
    (psnr, converted), chosen = scored[choose_candidate([p for (p, _), _ in scored])]
    record["candidates"] = [dict(_describe(c, sites, per_site=False), psnr_db=round(p, 4)) for (p, _), c in scored]
    if refine and set(chosen.alphas) != {None} and len(sites) > 1:
        start = psnr
        chosen, psnr, converted = search.refine(chosen, psnr, converted)
        record["refined"] = {
            "from_psnr_db": round(start, 4), "psnr_db": round(psnr, 4),
            "tried": search.conversions - len(candidates), "grid": list(SITE_ALPHAS),
            "min_gain_db": MIN_GAIN_DB,
        }
    return chosen, converted


def _describe(candidate: Candidate, sites: list["EqualizeSite"], per_site: bool = True) -> dict[str, Any]:
    """JSON form of ``candidate``: rounding, the strength (one or "per site"), and each site's if ``per_site``."""
    out: dict[str, Any] = {"weight_rounding": candidate.rounding}
    if sites:
        out["equalize"] = candidate.alphas[0] if len(set(candidate.alphas)) == 1 else "per site"
        if per_site:
            out["site_alphas"] = {s.group: a for s, a in zip(sites, candidate.alphas)}
    return out


class _Search:
    """Builds candidates' graphs and measures their conversions on the calibration images."""

    def __init__(self, prepared: "PreparedGraph", calib: "CalibrationSet", config: "QuantizeConfig",
                 sites: list["EqualizeSite"], ranges: list[np.ndarray], progress: Progress | None) -> None:
        self.prepared, self.calib, self.sites, self.ranges = prepared, calib, sites, ranges
        self.mode, self.image_count = config.mode, config.budget_images
        self.say = progress or (lambda _msg: None)
        self.conversions = 0
        self._phase, self._planned, self._done = "candidate", 0, 0  # for "candidate k of N" progress
        self._pairs: list | None = None
        self._layers: list | None = None  # rounding.find_layers of the unequalized graph
        self.measured_moments: list[np.ndarray] | None = None  # GPTQ's input moments on it, once measured
        self._rounded: dict = {}  # GPTQ-rounded layers by weights and moment: a per-site trial changes two

    @property
    def pairs(self) -> list:
        """The calibration folder's whole images as HR/LR pairs (loaded on first use)."""
        if self._pairs is None:
            self._pairs = search_pairs(self.calib, self.prepared.source.artifact.scale, self.image_count)
        return self._pairs

    @property
    def measured_on(self) -> str:
        """Provenance text: what the candidates were measured on."""
        return f"{len(self.pairs)} whole image(s) of {self.calib.folder.name} (mean PSNR-Y, {self.mode.value} TFLite)"

    def plan(self, phase: str, count: int) -> None:
        """Start a phase of ``count`` measurements (progress says "``phase`` k of ``count``")."""
        self._phase, self._planned, self._done = phase, count, 0

    def build(self, candidate: Candidate) -> tuple["GraphDef", dict[str, Any] | None]:
        """``candidate``'s graph, and GPTQ's record when it rounds."""
        from sropt.quantize.equalize import equalize_graph
        from sropt.quantize.rounding import round_weights

        graph_def, scales = self.prepared.graph_def, []
        if self.sites and set(candidate.alphas) != {None}:
            graph_def = equalize_graph(graph_def, self.sites, self.ranges, list(candidate.alphas), scales=scales)
        if candidate.rounding != GPTQ:
            return graph_def, None
        return round_weights(graph_def, self.prepared.input_name, self.calib.inputs, moments=self.moments(scales),
                             cache=self._rounded)

    def moments(self, scales: list) -> list[np.ndarray]:
        """GPTQ's input moments for the graph equalized by ``scales`` (one entry per site, None: unscaled).

        Equalization is exact in float and divides the input channels of each
        site's readers by the site's ``s``, so their ``H = E[x x^T]`` becomes
        ``D H D`` with ``D = diag(1/s)`` repeated over the kernel taps; every
        other layer's input is unchanged. The moments are thus measured once,
        on the unequalized graph (one pass over the calibration crops).
        """
        from sropt.quantize.rounding import find_layers, input_moments

        if self.measured_moments is None:
            self._layers = find_layers(self.prepared.graph_def)
            self.measured_moments = input_moments(
                self.prepared.graph_def, self.prepared.input_name, self._layers, self.calib.inputs)
        reader_scales = {w: s for site, s in zip(self.sites, scales) if s is not None for w in site.consumer_weights}
        out = []
        for layer, h in zip(self._layers, self.measured_moments):
            s = reader_scales.get(layer.weight)
            if s is not None:
                d = np.tile(1.0 / s, layer.ksize[0] * layer.ksize[1])
                h = h * np.outer(d, d)
            out.append(h)
        return out

    def measure(self, candidate: Candidate, what: str | None = None) -> tuple[float, bytes]:
        """Mean PSNR-Y of ``candidate``'s conversion (float I/O) on the calibration images, and its bytes."""
        from sropt.quantize.quality import image_psnrs, tflite_predictor
        from sropt.quantize.tflite_modes import convert_mode

        self.conversions += 1
        self._done += 1
        self.say(f"{self.mode.value} {self._phase} {self._done} of {self._planned}: {what or candidate.label(self.sites)}")
        graph_def, _ = self.build(candidate)
        data = convert_mode(dataclasses.replace(self.prepared, graph_def=graph_def), self.mode, self.calib, IOType.FLOAT)
        source = self.prepared.source.artifact
        psnr = float(np.mean(image_psnrs(tflite_predictor(data, source), self.pairs, source.contract, source.scale)))
        return psnr, data

    def refine(self, best: Candidate, psnr: float, data: bytes) -> tuple[Candidate, float, bytes]:
        """One coordinate sweep over the sites in graph order, from ``best`` (measured: ``psnr``, ``data``)."""
        alphas = list(best.alphas)
        self.plan("per-site candidate", sum(len(site_trials(a)) for a in alphas))
        for i, site in enumerate(self.sites):
            for a in site_trials(alphas[i]):
                trial = Candidate((*alphas[:i], a, *alphas[i + 1:]), best.rounding)
                p, d = self.measure(trial, f"{site.group}: alpha {'off' if a is None else a}, {best.rounding} rounding")
                if p >= psnr + MIN_GAIN_DB:
                    alphas, psnr, data = list(trial.alphas), p, d
        return Candidate(tuple(alphas), best.rounding), psnr, data
