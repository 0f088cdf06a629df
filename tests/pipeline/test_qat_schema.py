"""pipelines.yaml `qat:` on a TFLite quantize target."""

from __future__ import annotations

import pytest
from pydantic import ValidationError


def test_qat_target_is_its_own_step() -> None:
    from sropt.pipeline.schema import TFLiteTarget

    assert TFLiteTarget(mode="int8").step_name == "quantize.tflite.int8"
    assert TFLiteTarget(mode="int8", qat=300).step_name == "quantize.tflite.int8-qat300"


@pytest.mark.parametrize("fields,fragment", [
    ({"mode": "fp16", "qat": 10}, "qat needs mode int8 with io float and no mode fp16"),
    ({"mode": "int8", "io": "uint8", "qat": 10}, "no io uint8"),
    ({"mode": "int8", "equalize": "off", "qat": 10}, "no equalize"),
    ({"mode": "int8", "qat": -1}, "greater than or equal to 0"),
])
def test_qat_refuses_settings_it_replaces(fields: dict, fragment: str) -> None:
    from sropt.pipeline.schema import TFLiteTarget

    with pytest.raises(ValidationError, match=fragment):
        TFLiteTarget(**fields)


def test_qat_reaches_the_stage_config() -> None:
    """The runner's QuantizeConfig carries qat as qat_steps (and a post-training target none)."""
    from sropt.pipeline.schema import TFLiteTarget
    from sropt.pipeline.stage_calls import _quantize_config

    assert _quantize_config(TFLiteTarget(mode="int8", qat=7), "tflite").qat_steps == 7
    assert _quantize_config(TFLiteTarget(mode="int8"), "tflite").qat_steps == 0
