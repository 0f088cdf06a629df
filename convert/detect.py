"""Detect a graph's model family from its structure (ops and edges, not names).

Each family has one detector; they are tried in the order of ``DETECTORS``.
The order matters only where families could overlap, and the comments say
why it is safe. Adding a family means adding one detector function.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sropt.convert.graph_index import GraphIndex
from sropt.core.families import Family


@dataclass(frozen=True)
class StructureSummary:
    """The structural facts detectors look at."""

    ops: Counter
    input_channels: int
    depth_to_space: int
    scaled_residual_adds: int  # Add(x, Mul(y, scalar const)) with x, y computed: EDSR blocks
    prelu_patterns: int  # Sub(x, Abs(x)): FSRCNN's PReLU


def summarize_structure(index: GraphIndex, input_channels: int) -> StructureSummary:
    """Count the structural features the detectors need."""
    ops = Counter(n.op for n in index.graph_def.node)
    scaled_residual = 0
    prelu = 0
    for name, node in index.nodes.items():
        ins = index.inputs(name)
        if node.op in ("Add", "AddV2") and len(ins) == 2 and not any(index.is_constant(i) for i in ins):
            for i in ins:
                if index.op(i) == "Mul":
                    mul_ins = index.inputs(i)
                    if any(index.is_constant(m) and index.const_shape(m) in ((), (1,)) for m in mul_ins):
                        scaled_residual += 1
                        break
        if node.op == "Sub" and len(ins) == 2 and index.op(ins[1]) == "Abs" and index.inputs(ins[1])[0] == ins[0]:
            prelu += 1
    return StructureSummary(ops, input_channels, ops["DepthToSpace"], scaled_residual, prelu)


def _is_edsr(s: StructureSummary) -> bool:
    # The only 3-channel family; residual blocks scaled by a constant (0.1).
    return s.input_channels == 3 and s.scaled_residual_adds > 0


def _is_lapsrn(s: StructureSummary) -> bool:
    # Progressive upsampling: one DepthToSpace per pyramid level and branch,
    # so at least two. No other single-channel family has more than one.
    return s.input_channels == 1 and s.depth_to_space >= 2


def _is_fsrcnn(s: StructureSummary) -> bool:
    # PReLU written as relu(x) + alpha*(x-|x|)*0.5 (FACTS.md §2).
    return s.input_channels == 1 and s.depth_to_space == 1 and s.prelu_patterns > 0


def _is_espcn(s: StructureSummary) -> bool:
    # Tanh after DepthToSpace; no PReLU.
    return s.input_channels == 1 and s.depth_to_space == 1 and s.ops["Tanh"] > 0 and s.prelu_patterns == 0


DETECTORS: list[tuple[Family, Callable[[StructureSummary], bool]]] = [
    (Family.EDSR, _is_edsr),
    (Family.LAPSRN, _is_lapsrn),
    (Family.FSRCNN, _is_fsrcnn),
    (Family.ESPCN, _is_espcn),
]


def detect_family(summary: StructureSummary) -> Family | None:
    """The first family whose detector accepts ``summary``, or None."""
    for family, accepts in DETECTORS:
        if accepts(summary):
            return family
    return None
