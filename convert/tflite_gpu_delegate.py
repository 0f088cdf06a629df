"""Which ops of a .tflite LiteRT's GPU delegate takes, decided from the flatbuffer (issue 18 item 4).

The per-op rule is TFLite's ``CheckGpuDelegateCompatibility`` (``sropt.convert.tflite_gpu_rules``).
The GPU delegate does more before it takes a node, in ``GetOpsToReplace`` and the operation
parsers of ``tflite/delegates/gpu/common/model_builder.cc`` (google-ai-edge/LiteRT at
34ec5badbbbfd4d2147d1362f299f58843f84dfc), and this module ports that too:

- each parser's ``CheckMaxSupportedOpVersion`` (CONV_2D up to 6, ADD 2, MUL 3, PRELU 1, ...);
- QUANTIZE and DEQUANTIZE get a parser only when quantized models are allowed
  (``TFLITE_GPU_EXPERIMENTAL_FLAGS_ENABLE_QUANT``, on in ``TfLiteGpuDelegateOptionsV2Default``
  and in Android's ``GpuDelegate.Options``); the delegate then runs an INT8 model on dequantized
  float values and keeps each QUANTIZE/DEQUANTIZE as a quantize-and-dequantize node;
- ``IsAllAllowedTensors``: every runtime tensor (not constant, not a variable) of the node is
  float32 or float16, plus int8 and uint8 when quantized models are allowed, and no tensor has 5
  or more dimensions ("OP is supported, but tensor type/shape isn't compatible.");
- ``FP16GraphPartitionHelper`` (``tflite/delegates/utils.cc``, LiteRT 38ee59721b37): a DEQUANTIZE
  of a float16 constant is not checked as a node; its consumers are checked as if they read the
  float16 constant directly, and the DEQUANTIZE nodes are delegated only when every other node is.

The delegate calls the per-op rule with the header's default flags (kStandard broadcast), so that
is what ``check_op`` uses; the analyzer's offline check sets kEnhancedBroadcast.

Not modelled (needs a device): what the parsers' ``Parse`` refuses while building the GPU graph
(that fails the delegate's whole Init), partitioning (with any refused op, only the largest
partition of supported nodes goes to the GPU by default), the GPU's memory and texture limits,
and LiteRT's newer ML Drift GPU accelerator (``CompiledModel`` GPU), which has its own builder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sropt.convert.tflite_gpu_rules import NO_TYPE, OpSignature, TensorSpec, check_signature

CHECKER = "ported gpu_compatibility.cc rules"
RULES_VERSION = "google-ai-edge/LiteRT 007226f498a6"  # the gpu_compatibility.cc ported (SOURCES has all four)
SOURCES = {
    "gpu_compatibility.cc": "google-ai-edge/LiteRT@007226f498a6 tflite/tools/versioning/gpu_compatibility.cc",
    "model_builder.cc": "google-ai-edge/LiteRT@34ec5badbbbf tflite/delegates/gpu/common/model_builder.cc",
    "utils.cc": "google-ai-edge/LiteRT@38ee59721b37 tflite/delegates/utils.cc",
    "op_signature.cc": "tensorflow/tensorflow@05abf38d0a85 tensorflow/lite/tools/versioning/op_signature.cc",
}
TYPE_SHAPE_REFUSED = "OP is supported, but tensor type/shape isn't compatible."
NO_PARSER = "Operation is not supported."
QUANT_ONLY = frozenset({"QUANTIZE", "DEQUANTIZE"})

#: op -> (model_builder.cc parser NewOperationParser picks, its CheckMaxSupportedOpVersion or None)
PARSERS: dict[str, tuple[str, int | None]] = {
    **{op: ("ElementwiseOperationParser", 2) for op in ("ABS", "ADD", "SUB", "MAXIMUM", "MINIMUM", "TANH", "LOGISTIC")},
    "MUL": ("ElementwiseOperationParser", 3),
    "CONCATENATION": ("ConcatenationOperationParser", 2),
    "CONV_2D": ("Conv2DOperationParser", 6),
    "DEPTHWISE_CONV_2D": ("DepthwiseConvolutionOperationParser", 6),
    "DEPTH_TO_SPACE": ("DepthToSpaceOperationParser", None),
    "DEQUANTIZE": ("DequantizeOperationParser", 3),
    "QUANTIZE": ("QuantizeOperationParser", 2),
    "PRELU": ("PReLUOperationParser", 1),
    **{op: ("PadOperationParser", 2) for op in ("PAD", "PADV2", "MIRROR_PAD")},
    **{op: ("ReLUOperationParser", 2) for op in ("RELU", "RELU6", "LEAKY_RELU", "RELU_N1_TO_1")},
    "RESHAPE": ("ReshapeOperationParser", 1),
    "RESIZE_BILINEAR": ("Resize2DOperationParser", 3),
    "RESIZE_NEAREST_NEIGHBOR": ("Resize2DOperationParser", 3),
    "SOFTMAX": ("SoftmaxOperationParser", 2),
    "SPLIT": ("SplitOperationParser", None),
    "SPLIT_V": ("SplitVOperationParser", None),
    "STRIDED_SLICE": ("StridedSliceOperationParser", 4),
    "TRANSPOSE": ("TransposeOperationParser", 4),
    "TRANSPOSE_CONV": ("TransposeConvBuiltinOperationParser", 3),
    "MEAN": ("MeanOperationParser", None),
}


@dataclass(frozen=True)
class NodeVerdict:
    """One op: whether the GPU delegate takes it, why not, and which C++ decided."""

    subgraph: int
    index: int
    op: str  # builtin name, or the custom op's name (as LiteRT's analyzer prints it)
    reason: str  # "" when supported
    rule: str

    @property
    def supported(self) -> bool:
        return not self.reason


def check_op(sig: OpSignature, quantized_models_allowed: bool = True) -> tuple[str | None, str]:
    """(None or why the GPU delegate refuses ``sig``, the C++ that decided), in GetOpsToReplace's order.

    Refused: the rule names the one check that refused. Taken: it names every check passed.
    """
    parser, max_version = PARSERS.get(sig.op, ("", None))
    if sig.op in QUANT_ONLY and not quantized_models_allowed:
        return NO_PARSER, "model_builder.cc NewOperationParser: no parser unless quantized models are allowed"
    if parser and max_version is not None and sig.version > max_version:
        return (f"Max version supported: {max_version}. Requested version {sig.version}",
                f"model_builder.cc {parser} CheckMaxSupportedOpVersion({max_version})")
    reason, rule = check_signature(sig)
    if reason is not None:
        return reason, rule
    if (reason := tensors_refused(sig, quantized_models_allowed)) is not None:
        return reason, "model_builder.cc GetOpsToReplace IsAllAllowedTensors"
    limit = f"CheckMaxSupportedOpVersion({max_version}), " if max_version is not None else ""
    return None, f"model_builder.cc {parser} {limit}{rule}, IsAllAllowedTensors"


def tensors_refused(sig: OpSignature, quantized_models_allowed: bool) -> str | None:
    """``IsAllAllowedTensors`` on the node's inputs and outputs; names the first tensor it refuses."""
    allowed = {"FLOAT32", "FLOAT16"} | ({"INT8", "UINT8"} if quantized_models_allowed else set())
    for side, specs in (("input", sig.inputs), ("output", sig.outputs)):
        for i, t in enumerate(specs):
            if t.type == NO_TYPE:
                continue  # kTfLiteOptionalTensor is skipped
            runtime = not t.is_const and not t.is_variable  # kTfLiteArenaRw
            if len(t.dims) >= 5 or (runtime and t.type not in allowed):
                return f"{TYPE_SHAPE_REFUSED} ({side} {i}: {t.type} {list(t.dims)})"
    return None


def model_verdicts(data: bytes, quantized_models_allowed: bool = True) -> list[NodeVerdict]:
    """Every op of the .tflite ``data``, subgraph by subgraph, as the GPU delegate would judge it."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    verdicts: list[NodeVerdict] = []
    for s, subgraph in enumerate(model.subgraphs):
        verdicts += _subgraph_verdicts(model, s, subgraph, quantized_models_allowed)
    return verdicts


FP16_KEPT = ("kept on the CPU: a float16-weight DEQUANTIZE is delegated only when every other node is "
             "(FP16GraphPartitionHelper)")


def _subgraph_verdicts(model: Any, s: int, subgraph: Any, quant: bool) -> list[NodeVerdict]:
    names = _Names.get()
    remap: dict[int, int] = {}  # DEQUANTIZE output -> its float16 constant (FP16GraphPartitionHelper)
    fp16_dequantize: list[tuple[int, str]] = []
    verdicts: list[NodeVerdict] = []
    for i, op in enumerate(subgraph.operators):
        sig = signature(model, subgraph, op, remap, names)
        label = sig.custom_name if sig.op == "CUSTOM" else sig.op
        first = sig.inputs[0] if sig.inputs else TensorSpec(NO_TYPE)
        if sig.op == "DEQUANTIZE" and first.type == "FLOAT16" and first.is_const:
            remap[int(op.outputs[0])] = int(op.inputs[0])
            fp16_dequantize.append((i, label))
            continue
        reason, rule = check_op(sig, quant)
        verdicts.append(NodeVerdict(s, i, label, reason or "", rule))
    full = all(v.supported for v in verdicts)
    rule = "utils.cc FP16GraphPartitionHelper"
    verdicts += [NodeVerdict(s, i, label, "" if full else FP16_KEPT, rule) for i, label in fp16_dequantize]
    return sorted(verdicts, key=lambda v: v.index)


class _Names:
    """Schema enum value -> name maps, built once."""

    _cache: "_Names | None" = None

    def __init__(self) -> None:
        from ai_edge_litert import schema_py_generated as schema

        self.types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
        self.ops = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}

    @classmethod
    def get(cls) -> "_Names":
        if cls._cache is None:
            cls._cache = cls()
        return cls._cache


def signature(model: Any, subgraph: Any, op: Any, remap: dict[int, int], names: _Names) -> OpSignature:
    """``GetOpSignature`` for ``op`` (a schema OperatorT), with inputs remapped as FP16GraphPartitionHelper does."""
    from ai_edge_litert.tools import flatbuffer_utils

    code = model.operatorCodes[op.opcodeIndex]
    builtin = flatbuffer_utils.get_builtin_code_from_operator_code(code)
    custom = code.customCode.decode() if isinstance(code.customCode, bytes) else (code.customCode or "")
    inputs = [remap.get(int(t), int(t)) for t in (op.inputs if op.inputs is not None else [])]
    outputs = [int(t) for t in (op.outputs if op.outputs is not None else [])]
    return OpSignature(
        op=names.ops.get(builtin, str(builtin)), version=int(code.version),
        inputs=tuple(_tensor_spec(model, subgraph, t, names) for t in inputs),
        outputs=tuple(_tensor_spec(model, subgraph, t, names) for t in outputs),
        options=op.builtinOptions, custom_name=custom)


def _tensor_spec(model: Any, subgraph: Any, index: int, names: _Names) -> TensorSpec:
    """``GetOpSignatureTensorSpecs`` for one tensor index (-1: an omitted optional input)."""
    if index < 0 or index >= len(subgraph.tensors):
        return TensorSpec(NO_TYPE)
    t = subgraph.tensors[index]
    buffer = model.buffers[t.buffer] if 0 < t.buffer < len(model.buffers) else None
    # op_signature.cc: constant when the buffer holds data (a >2 GB model's offset buffers do not count)
    const = buffer is not None and buffer.data is not None and len(buffer.data) > 0
    dims = tuple(int(d) for d in t.shape) if t.shape is not None else ()
    return TensorSpec(names.types.get(t.type, str(t.type)), dims, const, bool(t.isVariable))
