"""Quality-budgeted INT8: the written model meets the budget, float layers are reported everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sropt.core.errors import GateFailure

pytestmark = pytest.mark.shared


def _config(datasets: Path, drop: float):
    from sropt.quantize.config import CalibrationConfig, QuantizeConfig

    return QuantizeConfig(
        "tflite", "int8", calibration=CalibrationConfig(datasets / "T91", count=8), max_psnr_drop=drop, budget_images=3
    )


@pytest.mark.slow
def test_budget_keeps_layers_float_until_it_fits(shared_models: Path, datasets: Path, tmp_path: Path) -> None:
    """FSRCNN_x3: full INT8 loses > 0.1 dB, so layers stay float until the drop is <= 0.1 dB."""
    from sropt.core.artifacts import Artifact
    from sropt.quantize.tflite_quantize import quantize_tflite

    result = quantize_tflite(shared_models / "FSRCNN_x3.pb", tmp_path / "q.tflite", _config(datasets, 0.1))
    assert result.attempts[0].description == "full int8" and result.attempts[0].psnr_drop > 0.1
    assert not result.attempts[0].fits and result.attempts[-1].fits
    assert result.psnr_drop is not None and result.psnr_drop <= 0.1
    assert abs(result.attempts[-1].psnr_drop - result.psnr_drop) < 1e-9
    assert 1 <= len(result.float_layers) and all("QuantizationDebugger" in f.reason for f in result.float_layers)
    assert 20.0 < result.float_psnr < 30.0  # first 3 T91 images, 120px centre crops (24.6 dB measured)
    side = Artifact.from_sidecar(tmp_path / "q.tflite")
    assert side is not None
    budget = side.provenance[-1]["budget"]
    assert budget["max_psnr_drop_db"] == 0.1 and budget["psnr_drop_db"] <= 0.1
    assert [f["tensor"] for f in budget["float_layers"]] == [f.tensor for f in result.float_layers]
    assert budget["protocol"]["degradation"] == "matlab-bicubic"
    json.dumps(result.to_json())  # --json output is serializable


def test_budget_met_by_full_int8_keeps_everything_integer(shared_models: Path, datasets: Path, tmp_path: Path) -> None:
    from sropt.quantize.tflite_quantize import quantize_tflite

    result = quantize_tflite(shared_models / "ESPCN_x3.pb", tmp_path / "q.tflite", _config(datasets, 5.0))
    assert len(result.attempts) == 1 and result.attempts[0].fits and result.float_layers == ()
    assert 0.0 < result.psnr_drop < 1.0


def test_unreachable_budget_is_a_gate_failure_and_writes_nothing(
    shared_models: Path, datasets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A negative drop can't be reached by quantizing; stub the ranking to one layer to keep it fast."""
    from sropt.quantize import budget
    from sropt.quantize.tflite_quantize import quantize_tflite

    real_rank = budget.rank_layers
    monkeypatch.setattr(budget, "rank_layers", lambda p, c: real_rank(p, c)[:1])
    cfg = _config(datasets, 0.0)
    object.__setattr__(cfg, "max_psnr_drop", -1.0)  # bypass validation: the search itself must give up
    with pytest.raises(GateFailure) as info:
        quantize_tflite(shared_models / "FSRCNN-small_x3.pb", tmp_path / "q.tflite", cfg)
    text = str(info.value)
    assert "no INT8 variant keeps the PSNR drop within -1.0 dB" in text
    assert "full int8:" in text and "1 of 1 layer(s) in float" in text and "int16x8" in text
    assert not list(tmp_path.glob("*q.tflite*"))


def test_denylist_sizes() -> None:
    from sropt.quantize.budget import denylist_sizes

    assert denylist_sizes(37) == [1, 2, 3, 4, 6, 9, 14, 21, 32, 37]
    assert denylist_sizes(4) == [1, 2, 3, 4] and denylist_sizes(1) == [1] and denylist_sizes(0) == []
