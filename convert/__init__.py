"""Frozen-graph loading, analysis, folding (and, later, export).

Public entry points::

    from sropt.convert import load_frozen_graph, fold_dequantize, analyze_graph
"""

from sropt.convert.analysis import ConvLayer, GraphInfo, analyze_graph
from sropt.convert.fold import fold_dequantize
from sropt.convert.frozen import FrozenGraph, frozen_graph_from_def, load_frozen_graph
from sropt.convert.graph import read_graph_def, run_graph, write_graph_def

__all__ = [
    "ConvLayer",
    "FrozenGraph",
    "GraphInfo",
    "analyze_graph",
    "fold_dequantize",
    "frozen_graph_from_def",
    "load_frozen_graph",
    "read_graph_def",
    "run_graph",
    "write_graph_def",
]
