"""What calibration data buys: bias compensation, the lifted graph, distillation, sensitivity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sropt.convert import fold_dequantize, load_frozen_graph
from sropt.convert.graph import run_graph
from sropt.prune import PruneConfig, prune_model
from sropt.prune.distill import LiftedGraph

pytestmark = pytest.mark.shared
EDSR = "EDSR-T91-b8f64_x3.pb"


def _quick(datasets: Path, **kw) -> PruneConfig:
    # 8 crops of 32x32 keep these tests fast; the CLI default is 32 of 48x48.
    return PruneConfig(calib_dir=datasets / "T91", calib_count=8, calib_size=32, **kw)


def test_bias_compensation_beats_plain_pruning(shared_models: Path, datasets: Path, tmp_path: Path) -> None:
    plain = prune_model(shared_models / EDSR, _quick(datasets, ratio=0.5, compensation="none"), tmp_path / "a.pb")
    comp = prune_model(shared_models / EDSR, _quick(datasets, ratio=0.5), tmp_path / "b.pb")
    # Same channels removed, same cost; only the consumers' biases differ.
    assert (plain.after.params, plain.after.macs_per_pixel) == (comp.after.params, comp.after.macs_per_pixel)
    base = comp.calibration["psnr_original"]
    assert plain.calibration["psnr_original"] == pytest.approx(base)
    # Measured on these 8 crops: 30.62 unpruned, 27.41 plain, 27.96 compensated.
    assert comp.calibration["psnr_pruned"] > plain.calibration["psnr_pruned"] + 0.3
    assert comp.calibration["psnr_pruned"] < base


def test_missing_bias_is_inserted_and_exports_accept_it(shared_models: Path, datasets: Path, tmp_path: Path) -> None:
    """FSRCNN's last conv has no bias; compensation inserts one (conv8/compensated) that runs everywhere."""
    import cv2

    cfg = dict(ratio=0.0, group_ratios={"conv7.out": 0.25})
    plain = prune_model(shared_models / "FSRCNN_x3.pb", _quick(datasets, compensation="none", **cfg), tmp_path / "a.pb")
    out = tmp_path / "b.pb"
    comp = prune_model(shared_models / "FSRCNN_x3.pb", _quick(datasets, **cfg), out)
    assert any("conv8/compensated" in n for n in comp.notes)
    assert comp.calibration["psnr_pruned"] > plain.calibration["psnr_pruned"]
    loaded = load_frozen_graph(out)
    x = np.random.default_rng(0).uniform(0, 1, (1, 11, 14, 1)).astype(np.float32)
    ref = loaded.predict(x)
    cv2.dnn_superres.DnnSuperResImpl_create()
    net = cv2.dnn.readNetFromTensorflow(str(out))
    net.setInput(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    assert np.abs(net.forward().transpose(0, 2, 3, 1) - ref).max() < 1e-4


@pytest.mark.parametrize("name", ["FSRCNN_x3", "ESPCN_x3", EDSR.removesuffix(".pb")])
def test_lifted_graph_matches_tensorflow(shared_models: Path, name: str) -> None:
    loaded = load_frozen_graph(shared_models / f"{name}.pb")
    graph = fold_dequantize(loaded.graph_def)
    c = loaded.info.input_channels
    x = np.random.default_rng(2).uniform(0, 1 if c == 1 else 100, (1, 9, 13, c)).astype(np.float32)
    (ref,) = run_graph(graph, {loaded.info.inputs[0]: x}, [loaded.info.main_output])
    lifted = LiftedGraph(graph, loaded.info.inputs[0], loaded.info.main_output)
    assert np.abs(np.asarray(lifted(x)) - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())


@pytest.mark.slow
def test_distillation_recovers_psnr(shared_models: Path, datasets: Path, tmp_path: Path) -> None:
    out = tmp_path / "ft.pb"
    # mean compensation: it leaves a large drop for distillation to recover
    # (the lstsq default leaves only ~0.5 dB at this ratio, too little to test on).
    result = prune_model(shared_models / EDSR, _quick(datasets, ratio=0.5, finetune_steps=40, compensation="mean"), out)
    cal, ev = result.calibration, result.evaluation
    # Measured: Set5 28.81 -> 32.66 dB after 40 steps (33.07 unpruned); calibration 27.96 -> 30.27.
    assert cal["psnr_finetuned"] > cal["psnr_pruned"] + 1.0
    assert ev["dataset"] == "Set5" and ev["psnr_finetuned"] > ev["psnr_pruned"] + 1.0
    assert ev["psnr_original"] == pytest.approx(33.07, abs=0.01)
    assert result.finetune["steps"] == 40 and result.finetune["last_loss"] < result.finetune["first_loss"]
    # Frozen back into the same layout: same nodes, same cost.
    after = load_frozen_graph(out)
    assert after.info.macs_per_pixel == result.after.macs_per_pixel
    assert after.info.weight_storage == "float32" and after.info.outputs == ["NCHW_output"]


def test_sensitivity_table_plot_and_budget(shared_models: Path, datasets: Path, tmp_path: Path) -> None:
    out = tmp_path / "espcn.pb"
    result = prune_model(shared_models / "ESPCN_x3.pb", _quick(datasets, ratio=0.0, max_psnr_drop=0.2), out)
    assert [(r.group, r.ratio) for r in result.sensitivity] == [
        (g, r) for g in ("conv1.out", "conv2.out") for r in (0.1, 0.2, 0.3, 0.4, 0.5)]
    # MACs removed by one group alone, from its kept count: conv2.out at 0.5 keeps 16 of 32:
    # conv2 loses 3*3*64*16 and conv3 loses 3*3*16*9.
    row = next(r for r in result.sensitivity if (r.group, r.ratio) == ("conv2.out", 0.5))
    assert (row.kept, row.macs_removed) == (16, 9 * 64 * 16 + 9 * 16 * 9)
    assert result.plot == tmp_path / "espcn.sensitivity.png"
    assert result.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.budget is not None and result.budget.measured_drop <= 0.2
    drop = result.calibration["psnr_original"] - result.calibration["psnr_pruned"]
    assert drop == pytest.approx(result.budget.measured_drop, abs=1e-9)
    assert result.after.macs_per_pixel < result.before.macs_per_pixel
    assert result.evaluation["dataset"] == "Set5" and "psnr_pruned" in result.evaluation


def test_least_squares_compensation_beats_mean(shared_models: Path, datasets: Path, tmp_path: Path) -> None:
    mean = prune_model(shared_models / EDSR, _quick(datasets, ratio=0.5, compensation="mean"), tmp_path / "m.pb")
    lstsq = prune_model(shared_models / EDSR, _quick(datasets, ratio=0.5), tmp_path / "l.pb")  # the default
    assert lstsq.after == mean.after  # same channels kept, same layout
    # Measured on these 8 crops: 27.96 (mean) vs 30.21 (lstsq); 30.62 unpruned.
    assert lstsq.calibration["psnr_pruned"] > mean.calibration["psnr_pruned"] + 1.0
    assert json_step(lstsq)["compensation"] == "lstsq"


def json_step(result) -> dict:
    """The prune step of the result's provenance."""
    return result.artifact.provenance[-1]


def test_activation_importance_keeps_fsrcnns_signal_channels(shared_models: Path, datasets: Path, tmp_path: Path) -> None:
    """L1 removes FSRCNN's low-weight, high-variance mapping channels; the data-aware score keeps them."""
    l1 = prune_model(shared_models / "FSRCNN_x3.pb", _quick(datasets, ratio=0.25), tmp_path / "l1.pb")
    act = prune_model(shared_models / "FSRCNN_x3.pb", _quick(datasets, ratio=0.25, importance="activation"), tmp_path / "a.pb")
    assert l1.after.macs_per_pixel == act.after.macs_per_pixel == 5100
    base = act.calibration["psnr_original"]
    # Measured on these 8 crops: 28.81 unpruned, 15.89 with L1, 28.48 with activation importance.
    assert base - l1.calibration["psnr_pruned"] > 10.0
    assert base - act.calibration["psnr_pruned"] < 1.0
