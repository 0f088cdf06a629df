"""Evaluation-set PSNR of a graph, by the protocol of FACTS.md §4.

Used to confirm a choice made on calibration data (budgeted search,
fine-tuning) on images it never saw. Dataset resolution, the MATLAB-bicubic
degradation and PSNR (Y channel, crop_border = scale) are sropt.validate's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sropt.core.contracts import Contract
from sropt.core.errors import InputError

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef

    from sropt.convert.analysis import GraphInfo

PROTOCOL = "Y channel (BT.601), crop_border=scale, LR by MATLAB bicubic (matlab-bicubic), uint8-rounded output"


@dataclass(frozen=True)
class EvalSet:
    """LR/HR uint8 BGR pairs of one dataset at one scale."""

    name: str
    lr: list[np.ndarray]
    hr: list[np.ndarray]


def load_eval_set(ref: str, scale: int) -> EvalSet:
    """Read ``ref`` (Set5, Set14 or a folder) and degrade it with sropt.validate; InputError if unusable."""
    from sropt.validate.dataset import load_dataset
    from sropt.validate.degradation import DEFAULT_DEGRADATION
    from sropt.validate.prepare import prepare_set

    try:
        dataset = load_dataset(ref, scale=scale)
    except InputError as exc:  # load_dataset speaks of validate's --dataset; here the option is --eval
        raise InputError(str(exc).replace(f"--dataset {ref}", f"--eval {ref}", 1)) from None
    prepared = prepare_set(dataset, DEFAULT_DEGRADATION, scale)
    if not prepared.images:
        raise InputError(f"--eval {ref}: no usable images at x{scale}", problems=prepared.problems)
    return EvalSet(prepared.dataset, [im.lr for im in prepared.images], [im.hr for im in prepared.images])


def evaluate_psnr(graph_def: "GraphDef", info: "GraphInfo", contract: Contract, data: EvalSet) -> float:
    """Mean PSNR of the graph over ``data`` (images of any size, one at a time)."""
    from sropt.convert.graph import make_session, run_session
    from sropt.validate.pairs import score_pairs

    with make_session(graph_def) as sess:
        def predict(x: np.ndarray) -> np.ndarray:
            return run_session(sess, {info.inputs[0]: x}, [info.main_output])[0]

        return score_pairs(predict, data.lr, data.hr, contract, info.scale).mean_psnr
