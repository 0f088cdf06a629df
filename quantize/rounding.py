"""Error-compensating weight rounding (GPTQ) onto TFLite's per-channel int8 grid.

The TFLite converter rounds every conv weight to the nearest point of its
per-channel grid: symmetric int8 in [-127, 127], one scale per output channel,
``scale = max |w| / 127``. Nearest rounding is optimal per weight but not per
output: the rounding errors of one filter add up, and on smooth image regions
they show as a shift in brightness. On FSRCNN_x3 (after equalization) rounding
alone cost 0.20 dB of the 0.29 dB Set5 x3 INT8 drop, although T91 saw 0.08.

GPTQ (Frantar et al., 2023, "GPTQ: Accurate Post-Training Quantization for
Generative Pre-trained Transformers"; the Optimal Brain Quantizer of Frantar
& Alistarh, 2022) rounds the weights of a layer one input position at a time
and moves the rounding error of each onto the weights not yet rounded, along
the inverse of ``H = E[x x^T]``, the second moment of the layer's input
patches on calibration data. It minimises ``E ||(W - Q) x||^2``, the layer's
output error, rather than ``||W - Q||``.

Here the grid is fixed before rounding and is exactly the converter's: every
weight lands on ``k * scale`` with ``|k| <= 127``, and the weight that sets a
channel's scale is held at ``+-127 * scale``, so the converter recomputes the
same scale and keeps the chosen integers unchanged (``tests/quantize/
test_rounding.py`` reads them back from the .tflite). The float graph with
these weights is what the converter sees; biases and activations are left to
it.

Calibration is the INT8 calibration set (the family's preprocessing of T91
crops), so the evaluation sets are never seen.

No library fitted: AIMET's AdaRound needs its own TF build, GPTQ packages
(auto-gptq, gptqmodel) are PyTorch transformer code, and
tensorflow-model-optimization has neither. The algorithm is a short loop over
one Cholesky factor per layer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sropt.convert.graph import make_session, node_name, replace_consts, run_session
from sropt.convert.graph_index import GraphIndex

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef

INT8_MAX = 127  # TFLite's per-channel weights are symmetric narrow-range int8: [-127, 127]
# Damping added to H's diagonal, as a fraction of its mean: keeps the Cholesky
# factor well conditioned when inputs are correlated. GPTQ's default is 0.01;
# on FSRCNN_x3 (T91 whole images, full INT8 TFLite) 0.001 measured better.
DAMPING = 0.001
GPTQ_BLOCK = 64  # columns per lazy batch update (GPTQ paper: 128; the layers here are 27-576 wide)


@dataclass(frozen=True)
class RoundingLayer:
    """One Conv2D whose filter is a Const: what GPTQ needs to rebuild its input patches."""

    conv: str  # the Conv2D node
    input: str  # the tensor it convolves (NHWC)
    weight: str  # its filter Const (HWIO; output channel axis 3)
    ksize: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]
    padding: str  # SAME or VALID


def find_layers(graph_def: "GraphDef") -> list[RoundingLayer]:
    """Every NHWC Conv2D with a Const filter read by nothing else, in graph order."""
    index = GraphIndex(graph_def)
    readers: dict[str, int] = {}
    for node in graph_def.node:
        for ref in node.input:
            name = index.skip_identity(node_name(ref))
            readers[name] = readers.get(name, 0) + 1
    layers = []
    for node in graph_def.node:
        if node.op != "Conv2D":
            continue
        fmt = node.attr["data_format"].s.decode() or "NHWC"
        padding = node.attr["padding"].s.decode()
        weight = index.skip_identity(node.input[1])
        if fmt != "NHWC" or padding not in ("SAME", "VALID") or not index.is_float_const(weight):
            continue
        if readers.get(weight, 0) != 1:
            continue  # a shared filter would have to serve two input distributions
        shape = index.const_shape(weight)
        strides = list(node.attr["strides"].list.i) or [1, 1, 1, 1]
        dilations = list(node.attr["dilations"].list.i) or [1, 1, 1, 1]
        layers.append(RoundingLayer(
            node.name, node.input[0], weight, (shape[0], shape[1]),
            (strides[1], strides[2]), (dilations[1], dilations[2]), padding,
        ))
    return layers


def patches(x: np.ndarray, layer: RoundingLayer) -> np.ndarray:
    """``layer``'s input patches of NHWC ``x``: one row per output pixel, ordered like HWIO reshaped to (-1, O).

    Padding follows TensorFlow's SAME/VALID rule, so ``patches(x) @ w.reshape(-1, O)``
    equals the conv's output (before bias) pixel for pixel.
    """
    n, h, w, c = x.shape
    (kh, kw), (sh, sw), (dh, dw) = layer.ksize, layer.strides, layer.dilations
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if layer.padding == "SAME":
        out_h, out_w = -(-h // sh), -(-w // sw)
        pad_h = max((out_h - 1) * sh + span_h - h, 0)
        pad_w = max((out_w - 1) * sw + span_w - w, 0)
    else:
        out_h, out_w = (h - span_h) // sh + 1, (w - span_w) // sw + 1
        pad_h = pad_w = 0
    x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    taps = [
        x[:, i * dh : i * dh + (out_h - 1) * sh + 1 : sh, j * dw : j * dw + (out_w - 1) * sw + 1 : sw, :]
        for i in range(kh) for j in range(kw)
    ]
    return np.stack(taps, axis=3).reshape(n * out_h * out_w, kh * kw * c)


def input_moments(
    graph_def: "GraphDef", input_name: str, layers: list[RoundingLayer], inputs: list[np.ndarray],
) -> list[np.ndarray]:
    """Per layer: ``H = E[x x^T]`` over its input patches on ``inputs`` (float32 NHWC), float64.

    Every patch is used: estimating H from a random quarter of FSRCNN_x3's
    patches instead cost 0.09 dB on Set5 x3 (0.150 -> 0.239 dB INT8 drop).
    The cost is patches x d^2 per layer (d = kh*kw*C_in): about 0.4 s for
    FSRCNN_x3, 10 s for EDSR-T91 (B8/F64) on 2 cores.
    """
    dims = [int(np.prod(GraphIndex(graph_def).const_shape(layer.weight)[:3])) for layer in layers]
    total = [0] * len(layers)
    sums = [np.zeros((d, d)) for d in dims]
    with make_session(graph_def) as sess:
        for x in inputs:
            values = run_session(sess, {input_name: x}, [layer.input for layer in layers])
            for i, (layer, value) in enumerate(zip(layers, values)):
                rows = patches(value, layer).astype(np.float64)
                sums[i] += rows.T @ rows
                total[i] += len(rows)
    return [s / max(n, 1) for s, n in zip(sums, total)]


def int8_weight_scales(w: np.ndarray) -> np.ndarray:
    """TFLite's per-output-channel int8 scale of HWIO ``w``: ``max |w| / 127`` (1 for an all-zero channel)."""
    peak = np.abs(w.reshape(-1, w.shape[-1])).max(axis=0).astype(np.float64)
    return np.where(peak > 0, peak / INT8_MAX, 1.0)


def gptq_round(w: np.ndarray, h: np.ndarray, damping: float = DAMPING) -> np.ndarray:
    """HWIO ``w`` rounded onto its own int8 grid by GPTQ with input moment ``h``; float32, same shape.

    Every output channel keeps its scale: its largest-magnitude weight is
    fixed at ``+-127 * scale`` (its rounding error, zero before any update,
    is compensated like any other) and no weight leaves [-127, 127].
    """
    shape = w.shape
    rows = w.reshape(-1, shape[-1]).T.astype(np.float64)  # (O, d): one output channel per row
    scale = int8_weight_scales(w)[:, None]
    peak_at = np.argmax(np.abs(rows), axis=1)
    peak_sign = np.sign(rows[np.arange(len(rows)), peak_at])
    d = rows.shape[1]
    h = np.array(h, np.float64)
    dead = np.diag(h) <= 0  # inputs that are always zero: their weights do not matter
    h[dead, dead] = 1.0
    h += damping * np.mean(np.diag(h)) * np.eye(d)
    u = np.linalg.cholesky(np.linalg.inv(h)).T  # upper factor of H^-1, as in GPTQ
    q = np.zeros_like(rows)
    # GPTQ's lazy batch update: within a block of columns the error moves at
    # once; onto later columns in one product per block. The same arithmetic
    # as updating every later column after each one, with O x BLOCK instead
    # of O x d writes per column (EDSR-T91's 576-wide layers: 5x faster).
    for start in range(0, d, GPTQ_BLOCK):
        end = min(start + GPTQ_BLOCK, d)
        errs = np.zeros((rows.shape[0], end - start))
        for j in range(start, end):
            k = np.clip(np.rint(rows[:, j] / scale[:, 0]), -INT8_MAX, INT8_MAX)
            pinned = peak_at == j
            k[pinned] = peak_sign[pinned] * INT8_MAX
            q[:, j] = k
            err = (rows[:, j] - k * scale[:, 0]) / u[j, j]
            errs[:, j - start] = err
            rows[:, j + 1:end] -= np.outer(err, u[j, j + 1:end])
        rows[:, end:] -= errs @ u[start:end, end:]
    return (q * scale).T.reshape(shape).astype(np.float32)


def round_weights(
    graph_def: "GraphDef", input_name: str, inputs: list[np.ndarray], damping: float = DAMPING,
    moments: list[np.ndarray] | None = None, cache: dict[tuple, np.ndarray] | None = None,
) -> tuple["GraphDef", dict[str, Any]]:
    """A copy of ``graph_def`` with every ``find_layers`` conv GPTQ-rounded on ``inputs``, and a provenance record.

    ``moments``, if given, are ``input_moments`` of the layers already (the
    caller may derive them from another graph's: ``sropt.quantize.weights``).
    ``cache`` keeps rounded layers across calls, keyed by their weights and
    moment: the weights search rounds many graphs that differ in one or two
    layers (one equalization site), and GPTQ was 75% of its time.
    """
    layers = find_layers(graph_def)
    if moments is None:
        moments = input_moments(graph_def, input_name, layers, inputs) if layers else []
    index = GraphIndex(graph_def)
    values = {
        layer.weight: _round_layer(index.const_value(layer.weight).astype(np.float32), h, damping, cache)
        for layer, h in zip(layers, moments)
    }
    record = {"method": "gptq", "layers": [layer.conv for layer in layers], "damping": damping,
              "calibration_crops": len(inputs)}
    return replace_consts(graph_def, values), record


def _round_layer(w: np.ndarray, h: np.ndarray, damping: float, cache: dict[tuple, np.ndarray] | None) -> np.ndarray:
    """``gptq_round(w, h, damping)``, looked up in ``cache`` first (exact: the key is every input's bytes)."""
    if cache is None:
        return gptq_round(w, h, damping)
    key = (w.shape, hashlib.sha1(w.tobytes()).digest(), hashlib.sha1(np.ascontiguousarray(h).tobytes()).digest(), damping)
    if key not in cache:
        cache[key] = gptq_round(w, h, damping)
    return cache[key]
