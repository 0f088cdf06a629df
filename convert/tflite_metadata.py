"""I/O names, a signature and TFLite metadata for every .tflite sropt writes (issue 18, items 1-2).

``finish_tflite`` runs on the converter's bytes in ``write_tflite``, the one
place every exported and quantized .tflite goes through. It

* names the input and output tensors ``lr_image`` / ``sr_image`` and adds a
  ``serving_default`` signature with those names (the TF1 frozen-graph
  converter writes none, and its tensor names are TF internals such as
  ``IteratorGetNext``);
* adds a ``TFLITE_METADATA`` buffer in the standard metadata schema (the one
  Android Studio's ML Model Binding and the Task Library read): model name,
  description, version, license, per-tensor description, image properties,
  normalization and value range, and the full sropt contract (scale, chroma
  recombination, I/O dtype with scale/zero point) as custom metadata.

The schema's flatc-generated code is vendored (``tflite_metadata_schema``)
because tflite-support cannot be installed beside tensorflow 2.21 (it pins
protobuf<4). Only names and metadata change: operators, buffers and
quantization parameters are copied as they are, so outputs are unchanged.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sropt.core.artifacts import Artifact

INPUT_NAME = "lr_image"
OUTPUT_NAME = "sr_image"
SIGNATURE_KEY = "serving_default"
METADATA_NAME = "TFLITE_METADATA"  # the name tflite-support's populator and parsers look for
METADATA_IDENTIFIER = b"M001"
CONTRACT_KEY = "sropt_contract"  # the custom metadata entry holding the contract as JSON
# custom_metadata in SubGraphMetadata arrived in schema 1.5.0; every other
# field used here is 1.0.0. A parser older than this ignores the contract entry.
MIN_PARSER_VERSION = "1.5.0"
LICENSE = "Apache-2.0 (OpenCV dnn_superres model zoo weights; see the source model's repository)"

_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 9: "int8", 7: "int16"}


def finish_tflite(data: bytes, artifact: "Artifact", model_name: str) -> tuple[bytes, dict[str, Any]]:
    """``data`` with I/O names, a signature and metadata; also the I/O tensors as recorded in the sidecar."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    io = name_io(model)
    meta = build_metadata(artifact, model_name, io)
    set_metadata(model, meta)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), io


def name_io(model) -> dict[str, Any]:
    """Rename subgraph 0's single input/output, add the signature; return their dtype/shape/quantization."""
    from ai_edge_litert import schema_py_generated as fb

    graph = model.subgraphs[0]
    (inp,), (out,) = list(graph.inputs), list(graph.outputs)  # SR graphs: one image in, one out
    io: dict[str, Any] = {}
    for role, index, name in (("input", inp, INPUT_NAME), ("output", out, OUTPUT_NAME)):
        tensor = graph.tensors[index]
        tensor.name = name.encode()
        io[role] = _tensor_facts(tensor, name)
    graph.name = b"main"

    def tensor_map(name: str, index: int):
        entry = fb.TensorMapT()
        entry.name, entry.tensorIndex = name.encode(), int(index)
        return entry

    signature = fb.SignatureDefT()
    signature.signatureKey = SIGNATURE_KEY.encode()
    signature.subgraphIndex = 0
    signature.inputs = [tensor_map(INPUT_NAME, inp)]
    signature.outputs = [tensor_map(OUTPUT_NAME, out)]
    model.signatureDefs = [signature]
    return io


def _tensor_facts(tensor, name: str) -> dict[str, Any]:
    q = tensor.quantization
    scale = list(q.scale) if q is not None and q.scale is not None else []
    zero = list(q.zeroPoint) if q is not None and q.zeroPoint is not None else []
    shape = [int(v) for v in (tensor.shapeSignature if tensor.shapeSignature is not None else tensor.shape)]
    facts: dict[str, Any] = {"name": name, "dtype": _DTYPES.get(int(tensor.type), str(tensor.type)), "shape": shape}
    if scale:
        # One (scale, zero_point) per tensor for activations: q = round(value / scale) + zero_point.
        facts["scale"], facts["zero_point"] = float(scale[0]), int(zero[0]) if zero else 0
    return facts


def build_metadata(artifact: "Artifact", model_name: str, io: dict[str, Any]) -> bytes:
    """The ``M001`` metadata flatbuffer for ``artifact`` (family contract, scale, precision, I/O)."""
    import flatbuffers

    from sropt.convert import tflite_metadata_schema as md
    from sropt.core.version import sropt_version

    contract = {**artifact.contract.describe(artifact.scale), "io": io}
    meta = md.ModelMetadataT()
    meta.name = model_name
    meta.description = (f"{artifact.family.value.upper()} x{artifact.scale} super-resolution, {artifact.precision}. "
                        f"In: {contract['input']}. Out: {contract['output']}; {contract['postprocess']}.")
    meta.version = f"sropt {sropt_version()}"
    meta.author = "sropt"
    meta.license = LICENSE
    meta.minParserVersion = MIN_PARSER_VERSION
    graph = md.SubGraphMetadataT()
    graph.name = "super_resolution"
    graph.inputTensorMetadata = [_image_tensor(md, artifact, contract, io["input"], "low-resolution image")]
    graph.outputTensorMetadata = [_image_tensor(md, artifact, contract, io["output"], f"x{artifact.scale} image")]
    custom = md.CustomMetadataT()
    custom.name = CONTRACT_KEY
    custom.data = list(json.dumps(contract, sort_keys=True).encode())
    graph.customMetadata = [custom]
    meta.subgraphMetadata = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(meta.Pack(builder), file_identifier=METADATA_IDENTIFIER)
    return bytes(builder.Output())


def _image_tensor(md, artifact: "Artifact", contract: dict, facts: dict, what: str):
    """Tensor metadata: image properties, normalization (value = (pixel - mean) / std) and value range."""
    tensor = md.TensorMetadataT()
    tensor.name = facts["name"]
    quant = (f"; stored as {facts['dtype']} with scale {facts['scale']:.9g}, zero point {facts['zero_point']} "
             "(q = round(value / scale) + zero_point)") if "scale" in facts else f"; {facts['dtype']}"
    side = contract["input"] if facts["name"] == "lr_image" else contract["output"]
    tensor.description = f"{what}: {side}{quant}"
    props = md.ImagePropertiesT()
    # The schema knows RGB and GRAYSCALE only. Y of YCrCb is the BT.601 luma
    # that GRAYSCALE means; EDSR's BGR order is not RGB, so it stays UNKNOWN
    # rather than invite an RGB conversion (the description says BGR).
    props.colorSpace = md.ColorSpaceType.GRAYSCALE if artifact.contract.input_channels == 1 else md.ColorSpaceType.UNKNOWN
    h, w = facts["shape"][1:3]
    if h > 0 and w > 0:
        props.defaultSize = md.ImageSizeT()
        props.defaultSize.height, props.defaultSize.width = int(h), int(w)
    tensor.content = md.ContentT()
    tensor.content.contentPropertiesType = md.ContentProperties.ImageProperties
    tensor.content.contentProperties = props
    norm = md.NormalizationOptionsT()
    norm.mean, norm.std = list(contract["mean"]), list(contract["std"])
    unit = md.ProcessUnitT()
    unit.optionsType = md.ProcessUnitOptions.NormalizationOptions
    unit.options = norm
    tensor.processUnits = [unit]
    tensor.stats = md.StatsT()
    tensor.stats.min, tensor.stats.max = list(contract["input_range"][0]), list(contract["input_range"][1])
    return tensor


def set_metadata(model, meta: bytes) -> None:
    """Store ``meta`` as the model's ``TFLITE_METADATA`` buffer, replacing an older one."""
    from ai_edge_litert import schema_py_generated as fb

    buffer = fb.BufferT()
    buffer.data = np.frombuffer(meta, dtype=np.uint8)
    entries = [m for m in (model.metadata or []) if m.name != METADATA_NAME.encode()]
    model.buffers.append(buffer)
    entry = fb.MetadataT()
    entry.name, entry.buffer = METADATA_NAME.encode(), len(model.buffers) - 1
    model.metadata = [*entries, entry]


def read_metadata(data: bytes) -> dict[str, Any] | None:
    """The metadata of a .tflite's bytes as a dict (name, description, ..., contract), or None if it has none."""
    from ai_edge_litert import schema_py_generated as fb

    from sropt.convert import tflite_metadata_schema as md

    model = fb.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() != METADATA_NAME.encode():
            continue
        raw = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
        if not md.ModelMetadata.ModelMetadataBufferHasIdentifier(raw, 0):
            return None
        return _metadata_json(md.ModelMetadataT.InitFromPackedBuf(raw, 0))
    return None


def _metadata_json(meta) -> dict[str, Any]:
    def text(v):
        return v.decode() if isinstance(v, bytes) else v

    from sropt.convert import tflite_metadata_schema as md

    # Other writers fill other fields (classifier labels, audio properties): read what is there.
    graph = meta.subgraphMetadata[0] if meta.subgraphMetadata else md.SubGraphMetadataT()
    tensors = {}
    for t in [*(graph.inputTensorMetadata or []), *(graph.outputTensorMetadata or [])]:
        norm = next((u.options for u in (t.processUnits or [])
                     if u.optionsType == md.ProcessUnitOptions.NormalizationOptions), None)
        props = t.content.contentProperties if t.content is not None else None
        tensors[text(t.name)] = {
            "description": text(t.description),
            "color_space": ({0: "UNKNOWN", 1: "RGB", 2: "GRAYSCALE"}.get(props.colorSpace)
                            if isinstance(props, md.ImagePropertiesT) else None),
            "mean": [float(v) for v in norm.mean] if norm is not None and norm.mean is not None else None,
            "std": [float(v) for v in norm.std] if norm is not None and norm.std is not None else None,
        }
    custom = {text(c.name): bytes(bytearray(c.data)).decode() for c in (graph.customMetadata or [])}
    return {
        "name": text(meta.name), "description": text(meta.description), "version": text(meta.version),
        "author": text(meta.author), "license": text(meta.license),
        "min_parser_version": text(meta.minParserVersion), "tensors": tensors,
        "contract": json.loads(custom[CONTRACT_KEY]) if CONTRACT_KEY in custom else None,
    }
