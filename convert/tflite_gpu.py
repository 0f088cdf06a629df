"""Per-op GPU-delegate compatibility of a .tflite, from LiteRT's model analyzer (issue 18 item 4).

The analyzer is TFLite's C++ ``model_analyzer``: ``tf.lite.experimental.Analyzer.analyze(
model_content=..., gpu_compatibility=True)`` prints its text to stdout. ai-edge-litert
ships the same code as ``ai_edge_litert._pywrap_analyzer_wrapper.ModelAnalyzer(model,
is_path, gpu_compatibility)``, which returns the text and needs no TensorFlow import, so it
is used first; TensorFlow's public API, with stdout captured, is the fallback, and the
report names which one ran. The text has this shape (model_analyzer.cc)::

    Subgraph#0 main(T#0) -> [T#11]
      Op#0 CONV_2D(T#0, T#5, T#6) -> [T#7]
    GPU COMPATIBILITY WARNING: <why>        (right after an op the GPU delegate cannot run)
    GPU COMPATIBILITY WARNING: Subgraph#0 has GPU delegate compatibility issues at nodes 3, 4 ...
    Your model looks compatible with GPU delegate on TFLite runtime version 2.21.0.

Measured here (TF 2.21, ai-edge-litert 2.3): both builds print the "looks compatible"
verdict for every model, even for one with a made-up custom op, and neither binary
contains the "GPU COMPATIBILITY WARNING" string: the per-op check is compiled out. So
every analysis also runs the analyzer on a probe model that must fail (one unknown custom
op); when the probe passes, the verdict is marked unverified, and a ``gpu_compatible``
gate reports an error instead of a pass.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sropt.core.errors import StageError

PROBE_OP = "SroptProbeNotAGpuOp"
_SUBGRAPH = re.compile(r"^Subgraph#(\d+)\b")
_OP = re.compile(r"^\s+Op#(\d+) ([^\s(]+)\(")
_WARNING = "GPU COMPATIBILITY WARNING: "
_SUMMARY = re.compile(r"^GPU COMPATIBILITY WARNING: Subgraph#(\d+) has GPU delegate compatibility issues at nodes ([\d, ]+)")
_VERDICT = re.compile(r"Your model looks compatible with GPU delegate (?:on|with) TFLite runtime version ([^\s.]+(?:\.[^\s.]+)*)")


@dataclass(frozen=True)
class OpVerdict:
    """One operator and whether the analyzer lets the GPU delegate run it."""

    subgraph: int
    index: int
    op: str
    supported: bool = True
    reason: str = ""

    @property
    def label(self) -> str:
        """``Op#3 TANH`` (with the subgraph when it is not the main one)."""
        where = f"Subgraph#{self.subgraph} " if self.subgraph else ""
        return f"{where}Op#{self.index} {self.op}"


@dataclass(frozen=True)
class GpuCompatibility:
    """The analyzer's per-op verdicts for one model, and whether the analyzer can tell at all."""

    ops: tuple[OpVerdict, ...]
    says_compatible: bool  # the analyzer printed its "looks compatible" verdict
    runtime_version: str
    analyzer: str
    verified: bool = True  # the analyzer flagged the probe model's unknown op
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def unsupported(self) -> list[OpVerdict]:
        """The ops the analyzer flagged."""
        return [op for op in self.ops if not op.supported]

    @property
    def compatible(self) -> bool:
        """Every op supported and the analyzer's own verdict says so."""
        return self.says_compatible and not self.unsupported

    def summary(self) -> str:
        """One line for tables, report notes and gate messages."""
        n = len(self.ops)
        if self.unsupported:
            flagged = ", ".join(f"{op.label} ({op.reason})" if op.reason else op.label for op in self.unsupported)
            text = f"{len(self.unsupported)} of {n} ops not GPU-compatible: {flagged}"
        else:
            text = f"all {n} ops GPU-compatible"
        text += f" per {self.analyzer} (TFLite runtime {self.runtime_version})"
        if not self.verified:
            text += "; UNVERIFIED: this analyzer build also passes a model with an unknown custom op, so it flags nothing"
        return text

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form for report.json, ``inspect --json`` and a package's metadata.json."""
        return {
            "compatible": self.compatible, "verified": self.verified, "analyzer": self.analyzer,
            "runtime_version": self.runtime_version, "ops_total": len(self.ops),
            "ops_supported": len(self.ops) - len(self.unsupported),
            "op_counts": dict(sorted(Counter(op.op for op in self.ops).items())),
            "unsupported": [{"op": op.label, "reason": op.reason} for op in self.unsupported],
            "summary": self.summary(), "notes": list(self.notes),
        }


def analyzer_text(model: bytes | Path | str) -> tuple[str, str]:
    """(the analyzer's GPU-compatibility text for ``model``, which analyzer produced it)."""
    data = model if isinstance(model, bytes) else Path(model).read_bytes()
    try:
        from ai_edge_litert._pywrap_analyzer_wrapper import ModelAnalyzer
    except ImportError:  # a LiteRT without the wrapper: TensorFlow's public API prints the same text
        return _tensorflow_analyzer_text(data), "tf.lite.experimental.Analyzer"
    return ModelAnalyzer(data, False, True), "LiteRT's model analyzer (ai_edge_litert)"


def _tensorflow_analyzer_text(data: bytes) -> str:
    import contextlib
    import io

    import tensorflow as tf

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):  # analyze() prints and returns None
        tf.lite.experimental.Analyzer.analyze(model_content=data, gpu_compatibility=True)
    return buffer.getvalue()


def parse_analyzer_text(text: str, analyzer: str, source: str = "model") -> GpuCompatibility:
    """The per-op verdicts in ``text``; StageError when it has no op lines or no verdict at all."""
    ops: list[OpVerdict] = []
    flagged: dict[tuple[int, int], str] = {}
    subgraph, last = 0, None
    for line in text.splitlines():
        if m := _SUBGRAPH.match(line):
            subgraph, last = int(m.group(1)), None
        elif m := _OP.match(line):
            last = (subgraph, int(m.group(1)))
            ops.append(OpVerdict(subgraph, last[1], m.group(2)))
        elif m := _SUMMARY.match(line):
            for node in m.group(2).replace(" ", "").split(","):
                flagged.setdefault((int(m.group(1)), int(node)), "")
        elif line.startswith(_WARNING) and last is not None:
            flagged[last] = line[len(_WARNING):].strip()
    verdict = _VERDICT.search(text)
    if not ops or (verdict is None and not flagged):
        raise StageError(f"{source}: the TFLite analyzer's output was not understood (no op list or no GPU verdict); "
                         f"its format may have changed. First line: {text.strip().splitlines()[0] if text.strip() else '(empty)'}")
    ops = [OpVerdict(o.subgraph, o.index, o.op, (o.subgraph, o.index) not in flagged, flagged.get((o.subgraph, o.index), ""))
           for o in ops]
    version = verdict.group(1) if verdict else _runtime_version(text)
    return GpuCompatibility(tuple(ops), verdict is not None, version, analyzer)


def _runtime_version(text: str) -> str:
    m = re.search(r"with TFLite runtime version (\S+)", text)
    return m.group(1).rstrip(".") if m else "unknown"


def analyze_gpu_compatibility(model: bytes | Path | str) -> GpuCompatibility:
    """Per-op GPU-delegate verdicts for ``model`` (bytes or a .tflite path), checked against the probe."""
    source = "model" if isinstance(model, bytes) else str(model)
    text, analyzer = analyzer_text(model)
    result = parse_analyzer_text(text, analyzer, source)
    if analyzer_flags_unknown_ops():
        return result
    note = (f"the analyzer's verdict is not evidence here: it also calls a model with an unknown custom op "
            f"({PROBE_OP}) GPU-compatible. Check on a device (docs/mobile.md: benchmark_model --use_gpu=true).")
    return GpuCompatibility(result.ops, result.says_compatible, result.runtime_version, analyzer, False, (note,))


@functools.lru_cache(maxsize=1)
def analyzer_flags_unknown_ops() -> bool:
    """True when the analyzer flags the probe model's unknown custom op (its per-op check is compiled in)."""
    text, analyzer = analyzer_text(probe_model())
    return not parse_analyzer_text(text, analyzer, "probe model").compatible


def probe_model() -> bytes:
    """A one-op .tflite whose only op is an unknown custom op: no GPU delegate can run it."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode, code.version = PROBE_OP, 1
    tensors = []
    for index, name in enumerate(("x", "y")):
        t = schema.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, 4, 4, 1], schema.TensorType.FLOAT32, index + 1, name
        tensors.append(t)
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.inputs, subgraph.outputs, subgraph.operators = tensors, [0], [1], [op]
    subgraph.name = "main"
    model = schema.ModelT()
    model.version, model.description = 3, "sropt GPU-analyzer probe"
    model.operatorCodes, model.subgraphs = [code], [subgraph]
    model.buffers = [schema.BufferT() for _ in range(3)]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
