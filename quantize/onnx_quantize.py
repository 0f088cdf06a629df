"""ONNX (float) -> ONNX Runtime static INT8 (QDQ) or fp16.

INT8: ``onnxruntime.quantization.quantize_static`` in QDQ format with
per-channel QInt8 weights, calibrated (MinMax) on the same crops as the
TFLite path, fed by a CalibrationDataReader in the model's input layout.
The activation type and ``reduce_range`` come from the deployment target
(``QuantizeConfig.cpu_target``, ``sropt.quantize.cpu_features``), never from
the CPU running sropt. The PSNR drop is then measured on the calibration
folder's images. A drop over ``SATURATION_DROP_DB`` with full-range weights
(the symptom of int16 saturation in non-VNNI kernels, FACTS.md §5) is
re-quantized with ``reduce_range=True`` only when this CPU is of the target's
class (so the drop is the target's), and the deviation is recorded; on a CPU
of another class it is a note, and the target's settings stay.

fp16: ONNX Runtime's own ``onnxruntime.transformers.float16`` converter (the
onnxconverter-common code, shipped inside onnxruntime, so no extra
dependency) with ``keep_io_types=True``: the model still takes and returns
float32.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from sropt.convert.onnx_export import onnx_file_io_tensors, onnx_input_is_nchw, run_onnx_once
from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.atomic import atomic_path, check_writable
from sropt.core.errors import InputError, StageError
from sropt.quantize.config import Mode, QuantizeConfig, Target
from sropt.quantize.result import QuantizeResult

# A drop this large means saturation, not quantization noise (5.6 dB in FACTS.md §5).
SATURATION_DROP_DB = 1.0


def load_onnx_artifact(ref: Artifact | str | Path) -> Artifact:
    """The float ONNX artifact to quantize: its sidecar (written by `sropt export`) is required."""
    if isinstance(ref, Artifact):
        artifact = ref
    else:
        path = Path(ref)
        if not path.is_file():
            raise InputError(f"{path}: no such ONNX file. Export one first: sropt export MODEL.pb --to onnx -o {path.name}")
        artifact = Artifact.from_sidecar(path)
        if artifact is None:
            raise InputError(
                f"{path}: has no sidecar {path.name}.sropt.json, so its family and scale are unknown. "
                "Export it with `sropt export MODEL.pb --to onnx` (which writes the sidecar)."
            )
    if artifact.kind is not ArtifactKind.ONNX:
        raise InputError(f"{artifact.path}: --to onnx quantizes an .onnx model; export the .pb first with `sropt export`.")
    if artifact.precision != "float32":
        raise InputError(
            f"{artifact.path}: is already {artifact.precision}; quantize the float32 ONNX export instead."
        )
    return artifact


class _CropReader:
    """onnxruntime CalibrationDataReader over preprocessed crops, in the model's input layout."""

    def __init__(self, inputs: list[np.ndarray], input_name: str, nchw: bool) -> None:
        self._items = iter(
            {input_name: np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if nchw else x} for x in inputs
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def _quantize_static(src: Path, dest: Path, calib_inputs: list[np.ndarray], channels: int,
                     activation_type: str, reduce_range: bool) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(src))
    dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    reader = _CropReader(calib_inputs, model.graph.input[0].name, onnx_input_is_nchw(dims, channels))
    with tempfile.TemporaryDirectory(prefix="sropt-ortq-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        # ORT's recommended pre-processing: shape inference + graph optimization
        # (folds the tf2onnx Reshape/Squeeze pairs so QDQ lands on Conv inputs).
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre), str(dest), reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType[activation_type],
            reduce_range=reduce_range,
            calibrate_method=CalibrationMethod.MinMax,
        )


def _ort_predictor(path: Path, artifact: Artifact):
    from sropt.validate.runners import get_runner

    probe = Artifact(path, ArtifactKind.ONNX, artifact.family, artifact.scale, output_layout=artifact.output_layout)
    return get_runner("ort")().load(probe, None).predict


def quantize_onnx(onnx_artifact: Artifact | str | Path, out: Path | str, config: QuantizeConfig) -> QuantizeResult:
    """Quantize a float ONNX export to ORT INT8 (QDQ) or fp16; proved in ORT and OpenCV before naming ``out``."""
    if config.target is not Target.ONNX:
        raise InputError(f"quantize_onnx needs a config with target onnx, got {config.target.value}.")
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise InputError(f"{out}: name the ONNX output *.onnx.")
    source_path = onnx_artifact.path if isinstance(onnx_artifact, Artifact) else Path(str(onnx_artifact))
    check_writable(out, inputs=(source_path,), what="quantized model")  # before the export and INT8 conversion
    if not isinstance(onnx_artifact, Artifact) and Path(onnx_artifact).suffix.lower() != ".onnx":
        # A .pb or registry name: export the float ONNX first (default opset and
        # layout), into a temporary folder; the export step stays in provenance.
        from sropt.convert.onnx_export import export_onnx

        with tempfile.TemporaryDirectory(prefix="sropt-export-") as tmp:
            exported = export_onnx(onnx_artifact, Path(tmp) / f"{Path(str(onnx_artifact)).stem}.onnx")
            return _quantize(exported, out, config)
    return _quantize(load_onnx_artifact(onnx_artifact), out, config)


def _quantize(source: Artifact, out: Path, config: QuantizeConfig) -> QuantizeResult:
    channels = source.contract.input_channels
    if config.mode is Mode.FP16:
        return _quantize_fp16(source, out, channels)
    return _quantize_int8(source, out, config, channels)


def _quantize_fp16(source: Artifact, out: Path, channels: int) -> QuantizeResult:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = onnx.load(str(source.path))
    try:
        half = convert_float_to_float16(model, keep_io_types=True)
        # The converter appends the input Cast nodes at the end of the node
        # list; ONNX requires topological order.
        OnnxModel(half).topological_sort()
        onnx.checker.check_model(half)
    except Exception as exc:
        raise StageError(f"{source.path}: fp16 conversion failed: {exc}") from exc
    with atomic_path(out, inputs=(source.path,)) as tmp:
        tmp.write_bytes(half.SerializeToString(deterministic=True))
        run_onnx_once(tmp, channels, source.scale)
    step = {"stage": "quantize", "format": "onnx", "mode": "fp16", "tool": "onnxruntime.transformers.float16",
            "io": "float", "keep_io_types": True}
    artifact = source.derive(out, ArtifactKind.ONNX, step, precision="fp16", io_tensors=onnx_file_io_tensors(out))
    artifact.write_sidecar()
    return QuantizeResult(artifact=artifact, mode="fp16", io="float")


def _quantize_int8(source: Artifact, out: Path, config: QuantizeConfig, channels: int) -> QuantizeResult:
    from sropt.core.cpu_targets import host_cpu, measures_other_class
    from sropt.quantize.calibration import calibration_images, load_calibration_inputs
    from sropt.quantize.cpu_features import choose_integer_kernel
    from sropt.quantize.quality import load_budget_pairs, predictor_mean_psnr, protocol

    calib = load_calibration_inputs(config.calibration, source.contract, source.scale)
    # The deployment target decides; this machine only measures (issue 14, item 6).
    choice = choose_integer_kernel(config.cpu_target)
    host_model, host_class = host_cpu()
    other_class = measures_other_class(choice.target, host_class)
    # A sanity check of the settings, not a budget: 16 crops are enough and keep it cheap.
    pairs = load_budget_pairs(calibration_images(calib.folder), source.scale, min(config.budget_images, 16))

    def measure(path: Path) -> float:
        return predictor_mean_psnr(_ort_predictor(path, source), pairs, source.contract, source.scale)

    def quantize(dest: Path, reduce_range: bool) -> None:
        try:
            _quantize_static(source.path, dest, calib.inputs, channels, choice.activation_type, reduce_range)
        except Exception as exc:
            raise StageError(f"{source.path}: onnxruntime static quantization failed: {exc}") from exc

    float_psnr = measure(source.path)
    kernel: dict[str, Any] = choice.to_json()
    notes: list[str] = []
    with atomic_path(out, inputs=(source.path,)) as tmp:
        quantize(tmp, choice.reduce_range)
        psnr = measure(tmp)
        saturated = float_psnr - psnr > SATURATION_DROP_DB and not choice.reduce_range
        if saturated and other_class:
            notes.append(_foreign_drop_note(choice.target, host_model, host_class, float_psnr - psnr))
        elif saturated:
            psnr, deviation = _retry_reduce_range(tmp, quantize, measure, float_psnr, psnr)
            kernel["deviation"] = deviation
            notes.append(deviation["note"])
        run_onnx_once(tmp, channels, source.scale)
    if other_class and not notes:
        notes.append(_other_class_note(choice.target, host_model, host_class))
    kernel["reduce_range"] = kernel.get("deviation", {}).get("reduce_range", choice.reduce_range)
    check = {"float_psnr_db": round(float_psnr, 4), "psnr_db": round(psnr, 4),
             "psnr_drop_db": round(float_psnr - psnr, 4), "images": len(pairs), "protocol": protocol()}
    build_cpu = {"cpu": host_model, "class": host_class.value if host_class else None}
    step = _int8_step(kernel, calib.describe(), build_cpu, check, notes)
    artifact = source.derive(out, ArtifactKind.ONNX, step, precision="int8", io_tensors=onnx_file_io_tensors(out))
    artifact.write_sidecar()
    return QuantizeResult(
        artifact=artifact, mode="int8", io="float", calibration=calib.describe(),
        float_psnr=float_psnr, psnr=psnr, kernel=kernel, notes=tuple(notes),
    )


def _int8_step(kernel: dict[str, Any], calibration: dict[str, Any], build_cpu: dict[str, Any],
               check: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """The provenance record of an ORT INT8 quantization: the target's settings, where it was built and checked."""
    step = {
        "stage": "quantize", "format": "onnx", "mode": "int8", "tool": "onnxruntime.quantization",
        "quant_format": "QDQ", "per_channel": True, "weight_type": "QInt8", "cpu_target": kernel["target"],
        "activation_type": kernel["activation_type"], "reduce_range": kernel["reduce_range"],
        "calibrate_method": "MinMax", "kernel_choice": kernel, "calibration": calibration,
        "build_cpu": build_cpu, "check": check, "io": "float",
    }
    if notes:
        step["notes"] = notes
    return step


def _class_name(host_class: Any) -> str:
    return host_class.value if host_class is not None else "no named target"


def _other_class_note(target: str, host_model: str, host_class: Any) -> str:
    return (f"built for {target} on {host_model} ({_class_name(host_class)}): the PSNR check ran in this "
            f"CPU's kernels, not the target's; validate on an {target} CPU for its numbers")


def _foreign_drop_note(target: str, host_model: str, host_class: Any, drop: float) -> str:
    """Why a large drop on a CPU of another class does not re-quantize a full-range target."""
    return (f"full-range weights dropped {drop:.2f} dB on this {host_model} ({_class_name(host_class)}), the "
            f"int16 saturation of a non-VNNI kernel the {target} target does not have; kept the {target} "
            "settings (no reduce_range fallback: it would change what the target promised). "
            f"Validate on an {target} CPU, or use --target portable to run here")


def _retry_reduce_range(tmp: Path, quantize, measure, float_psnr: float, psnr: float) -> tuple[float, dict[str, Any]]:
    """Re-quantize a saturating full-range model with reduce_range; keep whichever measured better.

    Only reached when this CPU is of the target's class, so its drop is the
    target's. The change from the target's settings is recorded, never silent.
    """
    full = tmp.read_bytes()
    quantize(tmp, True)
    reduced = measure(tmp)
    keep = reduced > psnr
    if not keep:
        tmp.write_bytes(full)
    kept = "reduce_range=True" if keep else "the full-range model"
    note = (f"full-range weights dropped {float_psnr - psnr:.2f} dB (> {SATURATION_DROP_DB} dB, the int16 "
            f"saturation symptom) on this CPU of the target's class; re-quantized with reduce_range=True: "
            f"drop {float_psnr - reduced:.2f} dB; kept {kept}")
    deviation = {"reduce_range": keep, "full_range_psnr_db": round(psnr, 4), "reduce_range_psnr_db": round(reduced, 4),
                 "note": note}
    return (reduced if keep else psnr), deviation
