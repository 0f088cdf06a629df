"""Calibration crops and the measurements pruning makes on them.

Calibration data is T91 by default (``datasets_dir()/T91``), never the
evaluation sets (Set5/Set14), so that choices made here are confirmed on data
they never saw. LR images are made with the protocol's degradation (MATLAB
bicubic, FACTS.md §4) from whole HR images, then cropped: LR crop
``[y:y+c, x:x+c]`` pairs with HR ``[s*y:s*(y+c), s*x:s*(x+c)]``. Crop positions
come from a seeded generator, so two runs measure the same pixels.

The crops and their class are ``sropt.validate.calibration`` (shared with
quantize); image I/O and the degradation come from ``sropt.validate``, and
PSNR from its pair evaluator (``sropt.validate.pairs``), as everywhere else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sropt.core.contracts import Contract
from sropt.core.layout import to_nhwc
from sropt.core.locations import datasets_dir
from sropt.validate.calibration import CalibrationSet, load_pairs
from sropt.validate.calibration import load_calibration as load_shared_calibration

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef

    from sropt.convert.analysis import GraphInfo


def default_calib_dir() -> Path:
    """T91 under the configured datasets folder."""
    return datasets_dir() / "T91"


def load_lr_images(folder: Path, scale: int) -> list[np.ndarray]:
    """Whole LR images (MATLAB bicubic) of every image in ``folder``; InputError if none."""
    return [lr for _, lr, _ in load_pairs(folder, scale)]


def load_calibration(folder: Path | None, scale: int, count: int, crop: int, seed: int = 0) -> CalibrationSet:
    """``count`` seeded LR/HR crop pairs (LR side ``crop``, smaller if the images are)."""
    return load_shared_calibration(Path(folder) if folder else default_calib_dir(), scale, count, crop, seed)


def model_inputs(contract: Contract, images: list[np.ndarray]) -> np.ndarray:
    """A float32 NHWC batch of preprocessed images (all the same size)."""
    return np.concatenate([contract.preprocess(img) for img in images], axis=0)


def batchable(graph_def: "GraphDef") -> "GraphDef":
    """A copy whose Placeholders accept any batch size (zoo graphs often pin it to 1).

    Only for sropt's own measurement sessions; written graphs keep their input as it was.
    """
    import tensorflow as tf

    out = tf.compat.v1.GraphDef()
    out.CopyFrom(graph_def)
    for node in out.node:
        if node.op == "Placeholder" and "shape" in node.attr and node.attr["shape"].shape.dim:
            node.attr["shape"].shape.dim[0].size = -1
    return out


def predict_batches(graph_def: "GraphDef", info: "GraphInfo", x: np.ndarray, batch: int = 8) -> Iterator[np.ndarray]:
    """The main output of each image in ``x``, NHWC ``[1,sH,sW,C]``, in order; run ``batch`` at a time to bound memory."""
    from sropt.convert.graph import make_session, run_session

    with make_session(batchable(graph_def)) as sess:
        for i in range(0, len(x), batch):
            chunk = x[i:i + batch]
            (y,) = run_session(sess, {info.inputs[0]: chunk}, [info.main_output])
            y = to_nhwc(y, chunk.shape, info.scale, source=info.main_output)
            yield from (y[j:j + 1] for j in range(len(y)))


def graph_mean_psnr(graph_def: "GraphDef", info: "GraphInfo", contract: Contract, calib: CalibrationSet) -> float:
    """Mean Y-channel PSNR (crop_border = scale) of the model over the calibration crops (sropt.validate.pairs)."""
    from sropt.validate.pairs import score_outputs

    outputs = predict_batches(graph_def, info, model_inputs(contract, calib.lr))
    return score_outputs(outputs, calib.lr, calib.hr, contract, info.scale).mean_psnr


def tensor_means(graph_def: "GraphDef", input_name: str, x: np.ndarray, tensors: list[str], batch: int = 8) -> dict[str, np.ndarray]:
    """Per-channel mean of each named tensor (last axis) over batch, height and width."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(batchable(graph_def), name="")
        # Reduce inside TF so only C floats per tensor leave the session, not
        # full activations (EDSR B=32/F=256 has 65 such tensors).
        means = [tf.reduce_mean(graph.get_tensor_by_name(_tensor(t)), axis=[0, 1, 2]) for t in tensors]
    totals = [None] * len(tensors)
    count = 0
    config = tf.compat.v1.ConfigProto(device_count={"GPU": 0})
    with tf.compat.v1.Session(graph=graph, config=config) as sess:
        for i in range(0, len(x), batch):
            chunk = x[i:i + batch]
            # Chunks hold equal-size crops, so weighting by batch size is exact.
            values = [np.asarray(v, np.float64) * len(chunk) for v in sess.run(means, {_tensor(input_name): chunk})]
            totals = [v if t is None else t + v for t, v in zip(totals, values)]
            count += len(chunk)
    return {t: v / count for t, v in zip(tensors, totals)}


def _tensor(ref: str) -> str:
    return ref if ":" in ref else f"{ref}:0"


@dataclass(frozen=True)
class Moments:
    """First and second moments of one tensor's channels over calibration pixels."""

    mean: np.ndarray  # [C]
    cov: np.ndarray  # [C, C], population covariance


def tensor_moments(graph_def: "GraphDef", input_name: str, x: np.ndarray, tensors: list[str], batch: int = 8) -> dict[str, Moments]:
    """Per-channel mean and channel covariance of each named tensor over batch, height and width."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(batchable(graph_def), name="")
        ops = []
        for t in tensors:
            v = graph.get_tensor_by_name(_tensor(t))
            flat = tf.cast(tf.reshape(v, [-1, v.shape[-1]]), tf.float64)  # float64: sums over ~1e5 pixels
            ops.append((tf.reduce_sum(flat, 0), tf.matmul(flat, flat, transpose_a=True), tf.shape(flat)[0]))
    acc = {t: [0.0, 0.0, 0] for t in tensors}
    config = tf.compat.v1.ConfigProto(device_count={"GPU": 0})
    with tf.compat.v1.Session(graph=graph, config=config) as sess:
        for i in range(0, len(x), batch):
            for t, (s1, s2, n) in zip(tensors, sess.run(ops, {_tensor(input_name): x[i:i + batch]})):
                acc[t][0] += s1
                acc[t][1] += s2
                acc[t][2] += int(n)
    out = {}
    for t, (s1, s2, n) in acc.items():
        mean = s1 / n
        out[t] = Moments(mean, s2 / n - np.outer(mean, mean))
    return out
