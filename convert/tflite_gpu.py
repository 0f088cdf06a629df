"""Per-op GPU-delegate compatibility of a .tflite (issue 18 item 4): LiteRT's analyzer, or sropt's port of its rules.

The analyzer is TFLite's C++ ``model_analyzer``: ``tf.lite.experimental.Analyzer.analyze(
model_content=..., gpu_compatibility=True)`` prints its text to stdout. ai-edge-litert
ships the same code as ``ai_edge_litert._pywrap_analyzer_wrapper.ModelAnalyzer(model,
is_path, gpu_compatibility)``, which returns the text and needs no TensorFlow import, so it
is used first; TensorFlow's public API, with stdout captured, is the fallback. The text has
this shape (model_analyzer.cc)::

    Subgraph#0 main(T#0) -> [T#11]
      Op#0 CONV_2D(T#0, T#5, T#6) -> [T#7]
    GPU COMPATIBILITY WARNING: <why>        (right after an op the GPU delegate cannot run)
    GPU COMPATIBILITY WARNING: Subgraph#0 has GPU delegate compatibility issues at nodes 3, 4 ...
    Your model looks compatible with GPU delegate on TFLite runtime version 2.21.0.

Measured here (TF 2.21, ai-edge-litert 2.3): both builds print the "looks compatible"
verdict for every model, even for one with a made-up custom op, and neither binary
contains the "GPU COMPATIBILITY WARNING" string: the per-op check is compiled out. So the
analyzer is first run on a probe model that must fail (one unknown custom op). When it
flags the probe, its verdicts are used. When it does not, the verdicts come from
``sropt.convert.tflite_gpu_delegate``, a port of the rules the analyzer would have applied
(``gpu_compatibility.cc``) and of the checks the GPU delegate adds (``model_builder.cc``);
the result records which one decided (``checker``).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sropt.convert.tflite_gpu_delegate import CHECKER as PORTED_CHECKER
from sropt.convert.tflite_gpu_delegate import RULES_VERSION
from sropt.convert.tflite_gpu_delegate import SOURCES as PORTED_SOURCES
from sropt.core.errors import StageError

PROBE_OP = "SroptProbeNotAGpuOp"
LITERT_ANALYZER = "LiteRT's model analyzer (ai_edge_litert)"
TF_ANALYZER = "tf.lite.experimental.Analyzer"
SUMMARY_OPS = 3  # flagged ops named in the one-line summary; the JSON and `inspect` list all of them
_SUBGRAPH = re.compile(r"^Subgraph#(\d+)\b")
_OP = re.compile(r"^\s+Op#(\d+) ([^\s(]+)\(")
_WARNING = "GPU COMPATIBILITY WARNING: "
_SUMMARY = re.compile(r"^GPU COMPATIBILITY WARNING: Subgraph#(\d+) has GPU delegate compatibility issues at nodes ([\d, ]+)")
_VERDICT = re.compile(r"Your model looks compatible with GPU delegate (?:on|with) TFLite runtime version ([^\s.]+(?:\.[^\s.]+)*)")


@dataclass(frozen=True)
class OpVerdict:
    """One operator and whether the checker lets the GPU delegate run it."""

    subgraph: int
    index: int
    op: str
    supported: bool = True
    reason: str = ""
    rule: str = ""  # ported rules: the C++ check that decided (the analyzer names none)

    @property
    def label(self) -> str:
        """``Op#3 TANH`` (with the subgraph when it is not the main one)."""
        where = f"Subgraph#{self.subgraph} " if self.subgraph else ""
        return f"{where}Op#{self.index} {self.op}"


@dataclass(frozen=True)
class GpuCompatibility:
    """Per-op verdicts for one model, which checker made them, and whether it can tell at all."""

    ops: tuple[OpVerdict, ...]
    says_compatible: bool  # the checker's own model-level verdict (the analyzer's "looks compatible")
    runtime_version: str  # the analyzer: the TFLite runtime its verdict names; the port: its LiteRT source
    analyzer: str  # the analyzer that ran (for the port: the one whose per-op check is compiled out)
    verified: bool = True  # the verdict can flag an op (the analyzer flagged the probe's unknown op, or the port)
    notes: tuple[str, ...] = field(default_factory=tuple)
    checker: str = ""  # who decided: the analyzer (empty: ``analyzer``) or PORTED_CHECKER
    delegate_options: tuple[tuple[str, bool], ...] = ()  # the port: the GPU delegate options it assumes

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
        n, bad = len(self.ops), self.unsupported
        if bad:
            flagged = ", ".join(f"{op.label} ({op.reason})" if op.reason else op.label for op in bad[:SUMMARY_OPS])
            more = f" and {len(bad) - SUMMARY_OPS} more" if len(bad) > SUMMARY_OPS else ""
            text = f"{len(bad)} of {n} ops not GPU-compatible: {flagged}{more}"
        else:
            text = f"all {n} ops GPU-compatible"
        if self.ported:
            text += f" per {PORTED_CHECKER} ({self.runtime_version}, GPU delegate defaults)"
        else:
            text += f" per {self.analyzer} (TFLite runtime {self.runtime_version})"
        if not self.verified:
            text += "; UNVERIFIED: this analyzer build also passes a model with an unknown custom op, so it flags nothing"
        return text

    @property
    def ported(self) -> bool:
        return self.checker == PORTED_CHECKER

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form for report.json, ``inspect --json`` and a package's metadata.json."""
        data = {
            "compatible": self.compatible, "verified": self.verified, "checker": self.checker or self.analyzer,
            "analyzer": self.analyzer, "runtime_version": self.runtime_version, "ops_total": len(self.ops),
            "ops_supported": len(self.ops) - len(self.unsupported),
            "op_counts": dict(sorted(Counter(op.op for op in self.ops).items())),
            "unsupported": [{"op": op.label, "reason": op.reason, "rule": op.rule} for op in self.unsupported],
            "summary": self.summary(), "notes": list(self.notes),
        }
        if self.ported:
            data["delegate_options"] = dict(self.delegate_options)
            data["rules"] = {op.op: op.rule for op in self.ops if op.supported}  # which C++ took each op type
            data["sources"] = dict(PORTED_SOURCES)
        return data


def analyzer_text(model: bytes | Path | str) -> tuple[str, str]:
    """(the analyzer's GPU-compatibility text for ``model``, which analyzer produced it)."""
    data = model if isinstance(model, bytes) else Path(model).read_bytes()
    litert = _litert_analyzer()
    if litert is None:  # a LiteRT without the wrapper: TensorFlow's public API prints the same text
        return _tensorflow_analyzer_text(data), TF_ANALYZER
    return litert(data, False, True), LITERT_ANALYZER


def _litert_analyzer() -> Any:
    try:
        from ai_edge_litert._pywrap_analyzer_wrapper import ModelAnalyzer
    except ImportError:
        return None
    return ModelAnalyzer


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


def analyze_gpu_compatibility(model: bytes | Path | str, quantized_models_allowed: bool = True) -> GpuCompatibility:
    """Per-op GPU-delegate verdicts for ``model`` (bytes or a .tflite path).

    LiteRT's analyzer decides when it flags the probe model's unknown op; otherwise (this
    stack) sropt's port of its rules does. ``quantized_models_allowed`` is the GPU delegate
    option the port assumes (on by default in the delegate); the analyzer has no such option.
    """
    source = "model" if isinstance(model, bytes) else str(model)
    data = model if isinstance(model, bytes) else Path(model).read_bytes()
    if analyzer_flags_unknown_ops():
        text, analyzer = analyzer_text(data)
        return parse_analyzer_text(text, analyzer, source)
    return ported_gpu_compatibility(data, source, quantized_models_allowed)


def ported_gpu_compatibility(data: bytes, source: str = "model", quantized_models_allowed: bool = True) -> GpuCompatibility:
    """The verdicts of sropt's port of gpu_compatibility.cc and the GPU delegate's checks; StageError if unreadable."""
    from sropt.convert.tflite_gpu_delegate import model_verdicts

    try:
        verdicts = model_verdicts(data, quantized_models_allowed)
    except Exception as exc:  # the flatbuffer reader raises whatever a truncated buffer trips (struct, index, ...)
        raise StageError(f"{source}: not a readable .tflite flatbuffer ({type(exc).__name__}: {exc}); "
                         "re-export it with sropt export/quantize") from None
    ops = tuple(OpVerdict(v.subgraph, v.index, v.op, v.supported, v.reason, v.rule) for v in verdicts)
    analyzer = LITERT_ANALYZER if _litert_analyzer() is not None else TF_ANALYZER
    notes = (f"{analyzer} has its per-op GPU check compiled out in this stack (it calls a model with an unknown "
             f"custom op GPU-compatible), so these verdicts are sropt's port of LiteRT's gpu_compatibility.cc and of "
             "the GPU delegate's own checks (op versions, quantized ops, tensor types); docs/mobile.md says what "
             "still needs a device (benchmark_model --use_gpu=true).",)
    return GpuCompatibility(ops, all(op.supported for op in ops), RULES_VERSION, analyzer, True, notes,
                            PORTED_CHECKER, (("quantized_models_allowed", quantized_models_allowed),))


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
