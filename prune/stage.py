"""The prune stage: ``prune_model(model, config, out) -> PruneResult``.

Order of work, and why:

1. Load; fold quint8 Dequantize weights to exact float32 (the surgery slices
   float Consts; FACTS.md §3).
2. Build channel groups from the graph structure (``sropt.convert.groups``)
   and pick those in scope. Groups the surgery cannot handle are left
   unpruned with a note, or refused when asked for (``strict`` or an explicit
   per-group ratio).
3. Calibration (T91 crops) only when something needs it: compensation
   (activation means for ``mean``, moments for ``lstsq``, measured once on
   the unpruned model), sensitivity, the budgeted search and fine-tuning.
4. Choose ratios (uniform, explicit per group, or the budgeted search),
   keep the most important channels (L1/fan-in), slice, compensate (unless
   ``compensation`` is ``none``).
5. Optionally distil from the unpruned model, then re-store as quint8.
6. Verify the serialized graph by running it once in TF; only then write it
   atomically, with its sidecar (provenance), and report before/after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sropt.convert import FrozenGraph, analyze_graph, fold_dequantize, load_frozen_graph
from sropt.convert.graph_index import GraphIndex
from sropt.convert.groups import ChannelGroup, build_channel_groups
from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.atomic import check_writable
from sropt.core.errors import InputError, StageError
from sropt.models import resolve_model
from sropt.prune.config import SENSITIVITY_RATIOS, Compensation, PruneConfig, Scope, WeightStore
from sropt.prune.importance import IMPORTANCE, NEEDS_CALIBRATION, kept_count, select_kept
from sropt.prune.sensitivity import BudgetChoice, SensitivityRow, choose_ratios, scan_sensitivity
from sropt.prune.surgery import GroupPlan, prune_graph

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef

    from sropt.validate.evaluate import Progress

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ModelCost:
    """Size and cost of a graph."""

    params: int
    macs_per_pixel: int
    size_bytes: int


@dataclass(frozen=True)
class GroupOutcome:
    """What happened to one channel group."""

    name: str
    channels: int
    kept: int
    ratio: float
    status: str  # "pruned", "kept (out of scope)", "fixed", "unsupported"
    residual: bool
    note: str = ""


@dataclass
class PruneResult:
    """The written artifact and everything measured on the way."""

    artifact: Artifact
    before: ModelCost
    after: ModelCost
    groups: list[GroupOutcome]
    notes: list[str] = field(default_factory=list)
    calibration: dict[str, Any] = field(default_factory=dict)  # source, crops, psnr_original/pruned/finetuned
    evaluation: dict[str, Any] = field(default_factory=dict)  # dataset, protocol, psnr_original/pruned/finetuned
    sensitivity: list[SensitivityRow] = field(default_factory=list)
    budget: BudgetChoice | None = None
    finetune: dict[str, Any] = field(default_factory=dict)
    plot: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """The `sropt prune --json` object (schema_version 1)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "output": str(self.artifact.path),
            "artifact": self.artifact.to_json(),
            "before": vars(self.before),
            "after": vars(self.after),
            "groups": [vars(g) for g in self.groups],
            "notes": self.notes,
            "calibration": self.calibration,
            "evaluation": self.evaluation,
            "sensitivity": [r.to_json() for r in self.sensitivity],
            "budget": self.budget.to_json() if self.budget else None,
            "finetune": self.finetune,
            "plot": str(self.plot) if self.plot else None,
        }


def _in_scope(group: ChannelGroup, scope: Scope) -> bool:
    if scope is Scope.ALL:
        return True
    return group.residual == (scope is Scope.TRUNK)


# A calibration drop above this is reported as a likely broken model (measured:
# L1 at 25% inner costs FSRCNN_x3 14.7 dB, activation importance 0.3 dB).
LARGE_DROP_DB = 3.0


def _select_groups(groups: list[ChannelGroup], config: PruneConfig, source: str) -> tuple[list[ChannelGroup], list[str]]:
    """The groups to prune, plus notes about in-scope groups that cannot be pruned."""
    names = {g.name for g in groups}
    unknown = [n for n in config.group_ratios if n not in names]
    if unknown:
        raise InputError(
            f"{source}: no channel group named {', '.join(map(repr, unknown))}; "
            f"the graph's groups are: {', '.join(g.name for g in groups)} (see `sropt inspect`)."
        )
    selected, notes, refused = [], [], []
    for g in groups:
        asked = g.name in config.group_ratios
        if not (asked or _in_scope(g, config.scope)) or (g.fixed and not asked):
            continue
        if g.unsupported:
            msg = (f"group {g.name}: left unpruned, the surgery does not understand "
                   f"{'; '.join(g.unsupported)}")
            (refused if (config.strict or asked) else notes).append(msg)
        elif g.fixed:
            refused.append(f"group {g.name}: its channels are fixed ({'; '.join(g.fixed)})")
        elif g.prunable:
            selected.append(g)
    if refused:
        raise InputError(f"{source}: cannot prune the requested group(s)", problems=refused)
    if not selected:
        prunable = [g.name for g in groups if g.prunable]
        hint = (f"prunable groups outside scope '{config.scope.value}': {', '.join(prunable)}; try --scope all"
                if prunable else "the model has no prunable channel group (every group is fixed or unsupported)")
        raise InputError(f"{source}: no prunable channel group in scope '{config.scope.value}'; {hint}.",
                         problems=notes)
    return selected, notes


class _Pruner:
    """Turns per-group ratios into a pruned float32 graph for one model."""

    def __init__(self, graph: "GraphDef", groups: list[ChannelGroup], config: PruneConfig) -> None:
        self.graph = graph
        self.index = GraphIndex(graph)
        self.groups = {g.name: g for g in groups}
        self.config = config
        self._importance: dict[str, np.ndarray] = {}
        self.stats: dict | None = None  # calibration moments, for data-aware importance
        self.means: dict[str, np.ndarray] | None = None  # for mean compensation
        self.moments: dict | None = None  # for least-squares compensation
        self.notes: list[str] = []

    def importance(self, name: str) -> np.ndarray:
        """Per-channel importance of group ``name`` by the configured strategy (cached)."""
        if name not in self._importance:
            if self.config.importance in NEEDS_CALIBRATION and self.stats is None:
                # Only reached when every ratio is 0 (else calibration ran): all channels stay.
                return np.zeros(self.groups[name].channels)
            self._importance[name] = IMPORTANCE[self.config.importance](self.index, self.groups[name], self.stats)
        return self._importance[name]

    def plans(self, ratios: dict[str, float]) -> list[GroupPlan]:
        """One plan per group with a ratio (kept channels chosen by importance)."""
        plans = []
        for name, ratio in ratios.items():
            g = self.groups[name]
            kept = kept_count(g.channels, ratio, self.config.round_to)
            plans.append(GroupPlan(g, select_kept(self.importance(name), kept, name, ratio)))
        return plans

    def build(self, ratios: dict[str, float], compensate: bool) -> tuple["GraphDef", list[GroupPlan]]:
        """The pruned float32 graph for ``ratios``."""
        from sropt.prune.compensation import compensation_deltas, regression_deltas

        plans = self.plans(ratios)
        deltas, new_biases = {}, {}
        if compensate and self.moments is not None:
            deltas, new_biases = regression_deltas(self.index, plans, self.moments)
        elif compensate and self.means is not None:
            deltas, new_biases = compensation_deltas(self.index, plans, self.means)
        if new_biases:
            for conv in new_biases:
                note = f"{conv} had no bias: a compensation bias was inserted as {conv}/compensated (Add)"
                if note not in self.notes:
                    self.notes.append(note)
        return prune_graph(self.graph, plans, deltas, new_biases), plans


def _verify_runs(data: bytes, info, source: str) -> None:
    """Parse serialized graph bytes and run them once in TF; StageError otherwise."""
    from tensorflow.core.framework.graph_pb2 import GraphDef

    from sropt.convert.graph import check_graph_integrity, run_graph

    g = GraphDef()
    g.ParseFromString(data)
    problems = check_graph_integrity(g)
    if problems:
        raise StageError(f"{source}: the pruned graph is malformed; nothing was written", problems=problems)
    x = np.random.default_rng(0).uniform(0, 1, (1, 12, 16, info.input_channels)).astype(np.float32)
    try:
        outs = run_graph(g, {info.inputs[0]: x}, info.outputs)
    except StageError as exc:
        raise StageError(f"{source}: the pruned graph does not run in TensorFlow; nothing was written: {exc}") from exc
    for name, y in zip(info.outputs, outs):
        if not np.all(np.isfinite(y)):
            raise StageError(f"{source}: the pruned graph's output {name} is not finite; nothing was written")


class _Calibration:
    """The calibration crops of one run, the unpruned graph's PSNR on them, and the record to report."""

    def __init__(self, calib, info, contract) -> None:
        self.set, self.info, self.contract = calib, info, contract
        self.record: dict[str, Any] = {
            "source": calib.source, "crops": len(calib.lr), "lr_crop": calib.crop,
            "protocol": "Y channel (BT.601), crop_border=scale, LR by MATLAB bicubic"}
        self.base_psnr = 0.0

    def measure_original(self, graph: "GraphDef") -> None:
        """The unpruned graph's calibration PSNR, the reference every drop is measured from."""
        self.base_psnr = self.record["psnr_original"] = self.psnr(graph)

    def psnr(self, graph: "GraphDef") -> float:
        """Mean Y-PSNR of ``graph`` on the calibration crops."""
        from sropt.prune.calibration import graph_mean_psnr

        return graph_mean_psnr(graph, self.info, self.contract, self.set)


def _wants_calibration(config: PruneConfig, uniform: dict[str, float]) -> bool:
    """Whether anything in ``config`` needs calibration crops (an explicit folder also means "report PSNR")."""
    data_aware = config.importance in NEEDS_CALIBRATION
    return (config.sensitivity or config.max_psnr_drop is not None or config.finetune_steps > 0
            or config.calib_dir is not None
            or ((config.compensates or data_aware) and any(r > 0 for r in uniform.values())))


def _load_calibration(loaded: FrozenGraph, config: PruneConfig, say) -> _Calibration:
    from sropt.prune.calibration import load_calibration

    say("loading calibration crops")
    calib = load_calibration(config.calib_dir, loaded.info.scale, config.calib_count, config.calib_size, config.seed)
    return _Calibration(calib, loaded.info, loaded.artifact.contract)


def _measure_statistics(pruner: _Pruner, cal: _Calibration, say) -> None:
    """Statistics of every consumer input, measured once on the unpruned model, for compensation and importance."""
    from sropt.prune.calibration import model_inputs, tensor_means, tensor_moments
    from sropt.prune.compensation import consumer_inputs

    config = pruner.config
    data_aware = config.importance in NEEDS_CALIBRATION
    if not (config.compensates or data_aware):
        return
    all_plans = [GroupPlan(g, np.arange(g.channels)) for g in pruner.groups.values()]
    tensors = sorted(set(consumer_inputs(pruner.index, all_plans).values()))
    x = model_inputs(cal.contract, cal.set.lr)
    lstsq = config.compensation is Compensation.LSTSQ
    if lstsq or data_aware:
        say("measuring activation moments")
        moments = tensor_moments(pruner.graph, cal.info.inputs[0], x, tensors)
        pruner.stats = moments
        if lstsq:
            pruner.moments = moments
        elif config.compensation is Compensation.MEAN:
            pruner.means = {t: m.mean for t, m in moments.items()}
    else:
        say("measuring mean activations for bias compensation")
        pruner.means = tensor_means(pruner.graph, cal.info.inputs[0], x, tensors)


def _scan_sensitivity(pruner: _Pruner, cal: _Calibration, base_macs: int, say) -> list[SensitivityRow]:
    """Calibration PSNR change of pruning each group alone at each of SENSITIVITY_RATIOS."""

    def measure_one(name: str, ratio: float) -> tuple[float, int, int, int]:
        g, plans = pruner.build({name: ratio}, pruner.config.compensates)
        return cal.psnr(g), len(plans[0].keep), plans[0].group.channels, base_macs - analyze_graph(g).macs_per_pixel

    return scan_sensitivity(list(pruner.groups), SENSITIVITY_RATIOS, cal.base_psnr, measure_one,
                            on_row=lambda r: say(f"sensitivity {r.group} @ {r.ratio:.1f}: {r.delta:+.3f} dB"))


def _fit_budget(pruner: _Pruner, cal: _Calibration, rows: list[SensitivityRow], notes: list[str],
                say) -> BudgetChoice:
    """Per-group ratios within ``config.max_psnr_drop`` of the calibration PSNR."""
    config = pruner.config
    say("choosing per-group ratios within the PSNR budget")
    budget = choose_ratios(rows, config.max_psnr_drop,
                           lambda rs: cal.base_psnr - cal.psnr(pruner.build(rs, config.compensates)[0]))
    if not budget.ratios:
        notes.append(f"no group can be pruned within a {config.max_psnr_drop} dB calibration drop; "
                     "the output equals the input")
    return budget


def _check_pruned_drop(cal: _Calibration, pruned: "GraphDef", config: PruneConfig, notes: list[str]) -> None:
    """Record the pruned calibration PSNR; a drop over LARGE_DROP_DB is said where the user looks."""
    cal.record["psnr_pruned"] = cal.psnr(pruned)
    drop = cal.base_psnr - cal.record["psnr_pruned"]
    if drop > LARGE_DROP_DB:
        # A silently broken model is worse than an error.
        notes.append(
            f"calibration PSNR fell {drop:.1f} dB: the {config.importance} importance removed channels this "
            "model relies on. Try --importance activation, a lower --ratio, --max-psnr-drop, or --finetune-steps."
        )


def _load_eval_set(config: PruneConfig, scale: int, say):
    """The held-out evaluation set, when the run searches or fine-tunes and names one."""
    if not ((config.max_psnr_drop is not None or config.finetune_steps > 0) and config.eval_dataset):
        return None
    from sropt.prune.evaluation import load_eval_set

    say(f"reading the evaluation set {config.eval_dataset}")
    return load_eval_set(config.eval_dataset, scale)


def _evaluate(eval_set, graphs: dict[str, "GraphDef"], loaded: FrozenGraph) -> dict[str, Any]:
    """``psnr_<key>`` of each graph on the held-out set."""
    from sropt.prune.evaluation import PROTOCOL, evaluate_psnr

    record: dict[str, Any] = {"dataset": eval_set.name, "images": len(eval_set.lr), "protocol": PROTOCOL}
    for key, g in graphs.items():
        record[f"psnr_{key}"] = evaluate_psnr(g, loaded.info, loaded.artifact.contract, eval_set)
    return record


def _finetune(pruned: "GraphDef", graph: "GraphDef", loaded: FrozenGraph, config: PruneConfig,
              say) -> tuple["GraphDef", dict[str, Any]]:
    """Distil ``pruned`` from the unpruned ``graph`` on unlabeled LR crops; the graph and its record."""
    from sropt.prune.calibration import default_calib_dir, load_lr_images
    from sropt.prune.distill import distill

    info = loaded.info
    lr_images = load_lr_images(config.calib_dir or default_calib_dir(), info.scale)
    say(f"fine-tuning {config.finetune_steps} steps")
    pruned, stats = distill(
        pruned, graph, info.inputs[0], info.main_output, loaded.artifact.contract, lr_images,
        steps=config.finetune_steps, batch=config.finetune_batch, crop=config.finetune_crop,
        learning_rate=config.finetune_lr, seed=config.seed,
        on_step=lambda s, loss: say(f"step {s}/{config.finetune_steps} L1 {loss:.4f}") if s % 50 == 0 else None,
    )
    return pruned, {"steps": stats.steps, "batch": config.finetune_batch, "crop": config.finetune_crop,
                    "learning_rate": config.finetune_lr, "schedule": "cosine decay to 0",
                    "loss": "L1 vs unpruned model output", "first_loss": stats.first_loss,
                    "last_loss": stats.last_loss, "seconds": round(stats.seconds, 1)}


def _write_verified(pruned: "GraphDef", config: PruneConfig, out: Path, src: Path, say):
    """Store the weights as configured, verify the bytes run in TF, then write them atomically; the stored info."""
    from sropt.core.atomic import write_bytes_atomic

    stored = pruned
    if config.store is WeightStore.QUINT8:
        from sropt.prune.storage import store_quint8

        stored = store_quint8(pruned)
    data = stored.SerializeToString(deterministic=True)  # protobuf maps (NodeDef.attr) otherwise serialize in varying order
    after_info = analyze_graph(stored, str(out))
    say("verifying the pruned graph in TensorFlow")
    _verify_runs(data, after_info, str(out))
    write_bytes_atomic(out, data, inputs=(src,))
    return after_info


def _write_artifact(loaded: FrozenGraph, out: Path, config: PruneConfig, ratios: dict[str, float],
                    kept: dict[str, int]) -> Artifact:
    """The output's Artifact with its provenance step, sidecar written."""
    step = {"stage": "prune", "from": str(loaded.artifact.path), **config.to_json(),
            "ratios": {k: float(v) for k, v in ratios.items()}, "kept_channels": kept}
    artifact = loaded.artifact.derive(out, ArtifactKind.FROZEN_GRAPH, step,
                                      precision="quint8-weights" if config.store is WeightStore.QUINT8 else "float32")
    artifact.write_sidecar()
    return artifact


def _group_outcomes(groups: list[ChannelGroup], pruner: _Pruner, ratios: dict[str, float],
                    kept: dict[str, int]) -> list[GroupOutcome]:
    """What happened to every group of the graph, in graph order (``kept``: channels kept per pruned group)."""
    outcomes = []
    for g in groups:
        if g.name in kept:
            outcomes.append(GroupOutcome(g.name, g.channels, kept[g.name], float(ratios[g.name]), "pruned", g.residual))
        elif g.name in pruner.groups:
            outcomes.append(GroupOutcome(g.name, g.channels, g.channels, 0.0, "kept (budget)", g.residual))
        else:
            status = ("fixed" if g.fixed else "unsupported" if g.unsupported else
                      "no producer" if not g.producers else "kept (out of scope)")
            outcomes.append(GroupOutcome(g.name, g.channels, g.channels, 0.0, status, g.residual,
                                         "; ".join(g.fixed or g.unsupported)))
    return outcomes


def _source_cost(loaded: FrozenGraph) -> ModelCost:
    """Size and cost of the source (an in-memory FrozenGraph may have no file yet: its serialized size)."""
    src, info = loaded.artifact.path, loaded.info
    return ModelCost(info.params, info.macs_per_pixel,
                     src.stat().st_size if src.is_file() else loaded.graph_def.ByteSize())


def _check_output(out: Path, src: Path) -> Path:
    """``out`` if it names a .pb that is not the source; InputError otherwise (before any work)."""
    if out.suffix.lower() != ".pb":
        raise InputError(f"{out}: the pruned model is a frozen graph; name the output *.pb.")
    check_writable(out, inputs=(src,), what="pruned model")  # before the work: a 48 s prune used to fail at the write
    return out


def prune_model(model: FrozenGraph | str | Path, config: PruneConfig, out: Path | str,
                progress: Progress | None = None) -> PruneResult:
    """Prune ``model`` as ``config`` says, write ``out`` (+ sidecar) and return what happened."""
    say = progress or (lambda _msg: None)
    loaded = model if isinstance(model, FrozenGraph) else load_frozen_graph(resolve_model(model))
    src = loaded.artifact.path
    out = _check_output(Path(out), src)
    # Before the calibration and the search: a bad --eval set used to be found only after them.
    eval_set = _load_eval_set(config, loaded.info.scale, say)

    graph = fold_dequantize(loaded.graph_def)
    groups = build_channel_groups(graph)
    selected, notes = _select_groups(groups, config, str(src))
    pruner = _Pruner(graph, selected, config)
    ratios = {g.name: config.group_ratios.get(g.name, config.ratio) for g in selected}

    cal = None
    if _wants_calibration(config, ratios):
        cal = _load_calibration(loaded, config, say)
        _measure_statistics(pruner, cal, say)
        cal.measure_original(graph)
    search = config.max_psnr_drop is not None
    rows = _scan_sensitivity(pruner, cal, loaded.info.macs_per_pixel, say) if config.sensitivity or search else []
    budget = _fit_budget(pruner, cal, rows, notes, say) if search else None
    if budget is not None:
        ratios = budget.ratios

    say("pruning")
    pruned, plans = pruner.build(ratios, config.compensates)
    if cal is not None:
        _check_pruned_drop(cal, pruned, config, notes)
    evaluation = _evaluate(eval_set, {"original": graph, "pruned": pruned}, loaded) if eval_set else {}
    finetune: dict[str, Any] = {}
    if config.finetune_steps > 0:
        pruned, finetune = _finetune(pruned, graph, loaded, config, say)
        cal.record["psnr_finetuned"] = cal.psnr(pruned)
        if eval_set is not None:
            evaluation["psnr_finetuned"] = _evaluate(eval_set, {"finetuned": pruned}, loaded)["psnr_finetuned"]

    after_info = _write_verified(pruned, config, out, src, say)
    kept = {p.group.name: int(len(p.keep)) for p in plans}
    artifact = _write_artifact(loaded, out, config, ratios, kept)
    plot = _write_plot(rows, out, src, cal) if rows else None
    return PruneResult(
        artifact=artifact, before=_source_cost(loaded),
        after=ModelCost(after_info.params, after_info.macs_per_pixel, out.stat().st_size),
        groups=_group_outcomes(groups, pruner, ratios, kept), notes=notes + pruner.notes,
        calibration=cal.record if cal else {}, evaluation=evaluation, sensitivity=rows, budget=budget,
        finetune=finetune, plot=plot,
    )


def _write_plot(rows: list[SensitivityRow], out: Path, src: Path, cal: _Calibration) -> Path:
    from sropt.prune.plot import write_sensitivity_plot

    return write_sensitivity_plot(rows, out.with_name(out.stem + ".sensitivity.png"),
                                  f"{src.name}: calibration sensitivity ({cal.set.source.split('/')[-1]})",
                                  inputs=(src,))
