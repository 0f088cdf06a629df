"""The compensation option says what it switches; the old bias_compensation spelling still works."""

from __future__ import annotations

from pathlib import Path

import pytest

from sropt.cli import main
from sropt.prune import Compensation, PruneConfig


def test_compensation_none_is_what_bias_compensation_false_meant() -> None:
    old = PruneConfig(ratio=0.25, bias_compensation=False)
    assert old == PruneConfig(ratio=0.25, compensation="none")
    assert old.compensation is Compensation.NONE and not old.compensates
    # False always switched off every kind, least squares included (the default lstsq is overridden).
    assert PruneConfig(compensation="lstsq", bias_compensation=False).compensation is Compensation.NONE
    assert PruneConfig(bias_compensation=True) == PruneConfig()
    assert PruneConfig().compensation is Compensation.LSTSQ and PruneConfig().compensates
    record = old.to_json()
    assert record["compensation"] == "none" and "bias_compensation" not in record


@pytest.fixture
def captured_config(monkeypatch: pytest.MonkeyPatch) -> list[PruneConfig]:
    """``sropt prune`` with prune_model replaced: the configs it was called with (nothing is run)."""
    import sropt.prune

    class _Result:
        def to_json(self) -> dict:
            return {}

    seen: list[PruneConfig] = []
    monkeypatch.setattr(sropt.prune, "prune_model", lambda model, config, out, **kw: seen.append(config) or _Result())
    return seen


@pytest.mark.parametrize(("flags", "expected"), [
    ([], Compensation.LSTSQ),
    (["--compensation", "mean"], Compensation.MEAN),
    (["--compensation", "none"], Compensation.NONE),
    (["--no-bias-compensation"], Compensation.NONE),  # deprecated spelling
    (["--no-bias-compensation", "--compensation", "none"], Compensation.NONE),
])
def test_cli_compensation_flags(flags: list[str], expected: Compensation, captured_config, tmp_path: Path) -> None:
    assert main(["prune", "m.pb", "--ratio", "0.5", *flags, "--json", "-o", str(tmp_path / "o.pb")]) == 0
    assert captured_config[-1].compensation is expected


def test_cli_refuses_the_old_flag_beside_another_compensation(captured_config, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    args = ["prune", "m.pb", "--ratio", "0.5", "--no-bias-compensation", "--compensation", "mean", "-o", str(tmp_path / "o.pb")]
    assert main(args) == 2
    assert "--no-bias-compensation contradicts --compensation mean" in capsys.readouterr().err
    assert captured_config == []
