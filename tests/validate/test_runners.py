"""Runners: layout handling, the contract vs dnn_superres, and cross-runtime parity."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.errors import InputError, StageError
from sropt.core.families import Family
from sropt.validate.inference import upscale_image
from sropt.validate.resolve import open_artifact
from sropt.validate.runners import get_runner, runtime_names, to_nhwc
from sropt.convert.tflite_tensors import dequantize_tensor as dequantize, quantize_tensor as quantize

pytestmark = pytest.mark.shared


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of uint8 values that differ by at most one level."""
    return float((np.abs(a.astype(np.int16) - b.astype(np.int16)) <= 1).mean())


def test_to_nhwc_tells_layouts_apart_with_h_ne_w() -> None:
    # A [1,2,3,1] input at x2: NHWC output is [1,4,6,1], NCHW is [1,1,4,6].
    nhwc = np.arange(24, dtype=np.float32).reshape(1, 4, 6, 1)
    assert np.array_equal(to_nhwc(nhwc, (1, 2, 3, 1), 2), nhwc)
    nchw3 = np.arange(72, dtype=np.float32).reshape(1, 3, 4, 6)
    got = to_nhwc(nchw3, (1, 2, 3, 3), 2)
    assert got.shape == (1, 4, 6, 3) and got[0, 1, 2, 1] == nchw3[0, 1, 1, 2]
    with pytest.raises(StageError, match=r"does not match input"):
        to_nhwc(np.zeros((1, 6, 4, 1), np.float32), (1, 2, 3, 1), 2)  # H and W swapped


def test_depth_to_space_against_numpy_reference(shared_models: Path) -> None:
    # TF DepthToSpace (inside ESPCN) vs OpenCV's own implementation, on H != W: the two agree only
    # if neither runner swaps dims; a hand-written numpy DepthToSpace checks the block order.
    import tensorflow as tf

    x = np.arange(2 * 3 * 9, dtype=np.float32).reshape(1, 2, 3, 9)
    y = tf.nn.depth_to_space(x, 3).numpy()
    ref = x.reshape(1, 2, 3, 3, 3, 1).transpose(0, 1, 3, 2, 4, 5).reshape(1, 6, 9, 1)
    assert np.array_equal(y, ref)
    assert y[0, 0, :3, 0].tolist() == [0.0, 1.0, 2.0] and y[0, 1, :3, 0].tolist() == [3.0, 4.0, 5.0]


@pytest.mark.parametrize("name,algo", [("ESPCN_x3", "espcn"), ("FSRCNN_x3", "fsrcnn"), ("EDSR-T91-b8f64_x3", "edsr")])
def test_opencv_runner_matches_dnn_superres_upsample(shared_models: Path, lr_image: np.ndarray, name: str, algo: str) -> None:
    """Our contract + cv2.dnn == DnnSuperResImpl.upsample (the processing users get from OpenCV)."""
    pb = shared_models / f"{name}.pb"
    ours = upscale_image(get_runner("opencv")().load(open_artifact(pb).artifact, 2), lr_image)
    sr = cv2.dnn_superres.DnnSuperResImpl_create()
    sr.readModel(str(pb))
    sr.setModel(algo, 3)
    theirs = sr.upsample(lr_image)
    assert ours.shape == theirs.shape == (120, 171, 3)
    assert _agreement(ours, theirs) == 1.0
    assert (ours != theirs).mean() < 1e-3


@pytest.mark.parametrize("name", ["ESPCN_x3", "FSRCNN_x3", "EDSR-T91-b8f64_x3"])
def test_fp32_parity_across_all_runtimes(exported: dict, lr_image: np.ndarray, name: str) -> None:
    """tf (.pb) is the reference; opencv (.pb, .onnx), ort (.onnx), tflite (.tflite) within 1 level on >= 99.9%."""
    files = exported[name]
    ref = upscale_image(get_runner("tf")().load(open_artifact(files["pb"]).artifact, 2), lr_image)
    for runtime, kind in [("opencv", "pb"), ("opencv", "onnx"), ("ort", "onnx"), ("tflite", "tflite")]:
        art = open_artifact(files[kind]).artifact
        out = upscale_image(get_runner(runtime)().load(art, 2), lr_image)
        assert out.shape == ref.shape
        assert _agreement(out, ref) >= 0.999, f"{runtime}/{kind}"


def test_synth_edsr_parity_if_available(tmp_path: Path, lr_image: np.ndarray) -> None:
    """A tiny EDSR in the released layout (B=2, F=16, quint8 weights): tf and opencv agree."""
    synth = pytest.importorskip("sropt.models.synth")
    made = synth.write_synthetic_edsr(tmp_path / "edsr_b2f16_x3.pb", blocks=2, filters=16, scale=3, seed=0)
    art = open_artifact(made.path).artifact
    assert art.family is Family.EDSR and art.scale == 3
    a = upscale_image(get_runner("tf")().load(art, 1), lr_image)
    b = upscale_image(get_runner("opencv")().load(art, 1), lr_image)
    assert a.shape == (120, 171, 3)
    assert _agreement(a, b) >= 0.999


def test_exports_without_sidecar_infer_contract_and_scale(exported: dict, tmp_path: Path, lr_image: np.ndarray) -> None:
    src = exported["FSRCNN_x3"]["onnx"]
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(src.read_bytes())  # no sidecar
    opened = open_artifact(bare)
    assert opened.artifact.scale == 3 and opened.artifact.contract.input_channels == 1
    assert "no bare.onnx.sropt.json sidecar; assumed the 'y-channel' contract" in opened.notes[0]
    bare_t = tmp_path / "bare.tflite"
    bare_t.write_bytes(exported["EDSR-T91-b8f64_x3"]["tflite"].read_bytes())
    opened_t = open_artifact(bare_t)
    assert opened_t.artifact.family is Family.EDSR and opened_t.artifact.scale == 3
    with_side = open_artifact(src)
    assert with_side.notes == [] and with_side.params == 8777  # same count as the .pb analysis


def test_runtime_that_cannot_load_the_kind_says_so(shared_models: Path) -> None:
    art = open_artifact(shared_models / "FSRCNN_x3.pb").artifact
    with pytest.raises(InputError, match=r"runtime 'ort' cannot load \.pb files \(it loads \.onnx\)"):
        get_runner("ort")().load(art, 1)
    with pytest.raises(InputError, match="unknown runtime 'trt'"):
        get_runner("trt")
    assert runtime_names() == ["opencv", "ort", "tf", "tflite"]


def test_corrupt_artifact_fails_to_load_with_the_file_named(tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"garbage" * 10)
    with pytest.raises(InputError, match=r"broken\.onnx: not a readable"):
        open_artifact(bad)
    Artifact(bad, ArtifactKind.ONNX, Family.FSRCNN, 3).write_sidecar()
    with pytest.raises(InputError, match=r"broken\.onnx: not a readable ONNX model"):
        open_artifact(bad)
    # The runtime itself failing is a StageError naming file and runtime.
    for runtime in ("ort", "opencv"):
        with pytest.raises(StageError, match=rf"broken\.onnx: runtime '{runtime}' could not load it"):
            get_runner(runtime)().load(Artifact(bad, ArtifactKind.ONNX, Family.FSRCNN, 3), 1)
    bad_t = tmp_path / "broken.tflite"
    bad_t.write_bytes(b"garbage" * 10)
    with pytest.raises(StageError, match=r"broken\.tflite: runtime 'tflite' could not load it"):
        get_runner("tflite")().load(Artifact(bad_t, ArtifactKind.TFLITE, Family.FSRCNN, 3), 1)


def test_integer_io_uses_each_tensors_quantization() -> None:
    detail = {"dtype": np.int8, "quantization": (0.5, -3)}
    q = quantize(np.array([0.0, 1.0, 100.0, -100.0], np.float32), detail)
    assert q.tolist() == [-3, -1, 127, -128]  # x/0.5 - 3, saturated
    assert dequantize(q, detail).tolist() == [0.0, 1.0, 65.0, -62.5]
    udetail = {"dtype": np.uint8, "quantization": (1 / 255, 0)}
    assert quantize(np.array([0.6], np.float32), udetail).tolist() == [153]
    assert quantize(np.array([0.25], np.float32), {"dtype": np.float32, "quantization": (0.0, 0)}).dtype == np.float32


def test_int8_io_tflite_runs_through_the_same_contract(shared_models: Path, datasets: Path, tmp_path: Path) -> None:
    """A full-INT8 model with int8 input/output tensors: (de)quantized per tensor, scores near float."""
    from ai_edge_litert.interpreter import Interpreter

    from sropt.validate.degradation import matlab_bicubic, mod_crop
    from sropt.validate.metrics import calculate_psnr
    from tests.validate.exports import export_tflite_int8

    calib = sorted((datasets / "T91").glob("*.png"))[:8]
    q = export_tflite_int8(shared_models / "ESPCN_x3.pb", tmp_path / "espcn_int8.tflite", calib)
    assert Interpreter(model_path=str(q)).get_input_details()[0]["dtype"] == np.int8
    hr = mod_crop(cv2.imread(str(datasets / "Set5" / "bird.png")), 3)
    lr = matlab_bicubic(hr, 3)
    art = open_artifact(q).artifact
    assert art.precision == "int8"
    int8 = upscale_image(get_runner("tflite")().load(art, 2), lr)
    fp32 = upscale_image(get_runner("tf")().load(open_artifact(shared_models / "ESPCN_x3.pb").artifact, 2), lr)
    assert int8.shape == fp32.shape == hr.shape
    # Measured: 32.55 dB int8 vs 32.76 dB float on bird; a wrong scale/zero point would cost many dB.
    assert calculate_psnr(int8, hr, 3) > calculate_psnr(fp32, hr, 3) - 0.6
