"""QuantizeConfig: enums validated on construction, every bad combination named."""

from __future__ import annotations

import pytest

from sropt.core.errors import InputError
from sropt.quantize.config import CalibrationConfig, IOType, Mode, QuantizeConfig, Target


def test_strings_become_enums() -> None:
    cfg = QuantizeConfig(target="TFLite", mode="int8", io="uint8", max_psnr_drop=0.1)
    assert cfg.target is Target.TFLITE and cfg.mode is Mode.INT8 and cfg.io is IOType.UINT8
    assert cfg.calibrated and not QuantizeConfig("tflite", "fp16").calibrated


def test_mode_the_target_does_not_support_lists_the_supported_ones() -> None:
    with pytest.raises(InputError, match="--mode int16x8 is not supported for --to onnx; choose one of int8, fp16"):
        QuantizeConfig(target="onnx", mode="int16x8")
    with pytest.raises(InputError, match="--mode dynamic is not supported for --to onnx"):
        QuantizeConfig(target="onnx", mode="dynamic")


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(target="coreml", mode="int8"), "--to 'coreml': unknown; choose one of tflite, onnx"),
        (dict(target="tflite", mode="int4"), "--mode 'int4': unknown; choose one of float32, fp16, dynamic, int8, int16x8"),
        (dict(target="tflite", mode="int8", io="int16"), "--io 'int16': unknown; choose one of float, int8, uint8"),
        (dict(target="tflite", mode="fp16", io="int8"), "--io int8: integer input/output needs --to tflite --mode int8"),
        (dict(target="onnx", mode="int8", max_psnr_drop=0.1), "--max-psnr-drop applies to --to tflite --mode int8 only"),
        (dict(target="tflite", mode="int8", max_psnr_drop=-1), "--max-psnr-drop -1: give a drop in dB >= 0"),
        (dict(target="onnx", mode="int8", fixed_shape=(8, 8)), "--fixed-shape applies to --to tflite only"),
        (dict(target="tflite", mode="int8", fixed_shape=(8, 8), max_psnr_drop=0.1), "--fixed-shape with --max-psnr-drop"),
    ],
)
def test_bad_combinations(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        QuantizeConfig(**kwargs)


def test_calibration_defaults_to_t91(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("SROPT_DATASETS_DIR", str(tmp_path))
    assert CalibrationConfig().resolved_folder() == tmp_path / "T91"
    with pytest.raises(InputError, match="--calib-count 0: give at least 1"):
        CalibrationConfig(calib_count=0)
