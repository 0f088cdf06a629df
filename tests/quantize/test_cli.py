"""`sropt export` and `sropt quantize` through the real CLI: exit codes, messages, --json, registry names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sropt.cli import main

pytestmark = pytest.mark.shared


def test_export_onnx_by_registry_name(shared_models: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SROPT_MODEL_MIRROR", str(shared_models))
    out = tmp_path / "f.onnx"
    assert main(["export", "FSRCNN-small_x3", "--to", "onnx", "-o", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "onnx" and info["family"] == "fsrcnn" and info["output_layout"] == "NCHW"
    assert info["size_bytes"] == out.stat().st_size and (tmp_path / "f.onnx.sropt.json").is_file()


def test_export_tflite_text_output(shared_models: Path, tmp_path: Path, capsys) -> None:
    assert main(["export", str(shared_models / "ESPCN_x3.pb"), "--to", "tflite", "-o", str(tmp_path / "e.tflite")]) == 0
    assert "loaded and ran in LiteRT" in capsys.readouterr().out


def test_quantize_tflite_int8_json(shared_models: Path, datasets: Path, tmp_path: Path, capsys) -> None:
    argv = ["quantize", str(shared_models / "ESPCN_x3.pb"), "--to", "tflite", "--mode", "int8",
            "--calib", str(datasets / "T91"), "--calib-count", "8", "--io", "uint8", "-o", str(tmp_path / "q.tflite"), "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mode"] == "int8" and result["io"] == "uint8" and result["calibration"]["crops"] == 8
    # --equalize and --weight-rounding default to auto: ESPCN's two conv -> ReLU -> conv sites and
    # both roundings were measured; the kept candidate is the best one.
    weights = result["weights"]
    assert weights["chosen_by"] == "measured" and weights["sites"] == ["conv1.out", "conv2.out"]
    candidates = weights["candidates"]
    assert [(c["weight_rounding"], c["equalize"]) for c in candidates][:2] == [("nearest", None), ("gptq", None)]
    best = max(candidates, key=lambda c: c["psnr_db"])
    chosen = weights["chosen"]
    assert (chosen["weight_rounding"], chosen["equalize"]) == (best["weight_rounding"], best["equalize"])


def test_quantize_given_weights_settings_are_applied_unmeasured(shared_models: Path, datasets: Path, tmp_path: Path, capsys) -> None:
    argv = ["quantize", str(shared_models / "FSRCNN-small_x3.pb"), "--to", "tflite", "--mode", "int8",
            "--calib", str(datasets / "T91"), "--calib-count", "8", "--equalize", "0.75", "--weight-rounding", "gptq",
            "--calib-seed", "5", "-o", str(tmp_path / "q.tflite"), "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["calibration"]["seed"] == 5  # --calib-seed reaches the draw and its record
    weights = result["weights"]
    # FSRCNN-small: 5 convs with 4 PReLUs between them -> 4 sites; both settings given, nothing measured.
    assert weights["chosen_by"] == "given" and "candidates" not in weights
    assert weights["chosen"]["site_alphas"] == {f"conv{i}.out": 0.75 for i in range(1, 5)}
    assert weights["rounding"]["method"] == "gptq" and len(weights["rounding"]["layers"]) == 5
    from sropt.commands.quantize import describe_weights

    assert describe_weights(weights)[0] == "weights: gptq rounding, equalization alpha 0.75 at every layer pair (given)"


def test_quantize_onnx_int8_text(shared_models: Path, datasets: Path, tmp_path: Path, capsys) -> None:
    src = tmp_path / "e.onnx"
    assert main(["export", str(shared_models / "ESPCN_x3.pb"), "--to", "onnx", "-o", str(src)]) == 0
    capsys.readouterr()
    argv = ["quantize", str(src), "--to", "onnx", "--mode", "int8", "--calib", str(datasets / "T91"),
            "--calib-count", "8", "--target", "x86-avx2", "-o", str(tmp_path / "q.onnx")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "int8 kernel for target x86-avx2: activations QUInt8, reduce_range=True (x86 AVX2 without VNNI: " in out
    assert "drop" in out
    assert "loaded and ran in onnxruntime and OpenCV" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--to", "onnx", "--mode", "int16x8"], "--mode int16x8 is not supported for --to onnx; choose one of int8, fp16"),
        (["--to", "tflite", "--mode", "int4"], "'int4' is not one of 'float32', 'fp16', 'dynamic', 'int8', 'int16x8'"),
        (["--to", "tflite", "--mode", "int8", "--calib-count", "500"], "but --calib-count asks for 500 crops"),
        (["--to", "tflite", "--mode", "int8", "--fixed-shape", "96"], "--fixed-shape '96': give the input height and width as two positive integers HxW"),
        (["--to", "tflite", "--mode", "int8", "--weight-rounding", "floor"], "'floor' is not one of 'auto', 'nearest', 'gptq'"),
        (["--to", "tflite", "--mode", "fp16", "--weight-rounding", "gptq"], "--weight-rounding gptq applies to --to tflite --mode int8 or int16x8 only"),
    ],
)
def test_quantize_bad_input_exit_2(argv: list[str], message: str, shared_models: Path, datasets: Path,
                                   tmp_path: Path, capsys) -> None:
    out = tmp_path / "q.out"
    full = ["quantize", str(shared_models / "ESPCN_x3.pb"), *argv, "-o", str(out)]
    if "--calib-count" in argv:
        full += ["--calib", str(datasets / "T91")]
    assert main(full) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "Traceback" not in err
    assert not out.exists()


def test_export_bad_opset_and_target(shared_models: Path, tmp_path: Path, capsys) -> None:
    src = str(shared_models / "ESPCN_x3.pb")
    assert main(["export", src, "--to", "onnx", "--opset", "10", "-o", str(tmp_path / "a.onnx")]) == 2
    assert "--opset 10: too old for these models" in capsys.readouterr().err
    assert main(["export", src, "--to", "coreml", "-o", str(tmp_path / "a.ml")]) == 2
    assert "'coreml' is not one of 'onnx', 'tflite'" in capsys.readouterr().err


def test_empty_calibration_folder_exit_2(shared_models: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "calib").mkdir()
    argv = ["quantize", str(shared_models / "ESPCN_x3.pb"), "--to", "tflite", "--mode", "int8",
            "--calib", str(tmp_path / "calib"), "-o", str(tmp_path / "q.tflite")]
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"--calib {tmp_path / 'calib'}: the folder holds no images" in err


def test_describe_ranges_says_which_ranges_and_why() -> None:
    from sropt.commands.quantize import describe_ranges

    measured = {"method": "trimmed min/max", "ignored_crops_per_end": 4, "crops": 64, "measured_on": "30 whole image(s) of T91",
                "psnr_db": {"min/max": 27.9604, "trimmed": 27.9786}}
    assert describe_ranges(measured) == ("activation ranges: trimmed min/max, 4 of 64 crops ignored at each end "
                                         "(min/max 27.960 dB, trimmed 27.979 dB on 30 whole image(s) of T91)")
    assert describe_ranges({"method": "min/max", "why": "fewer than 16 calibration crops"}) == \
        "activation ranges: min/max (fewer than 16 calibration crops)"
