"""Compensation: fold what removed channels used to contribute into the next conv.

Two methods, both measured once on the unpruned model at the input of every
consumer conv of a pruned group:

* ``mean`` (bias compensation): see below;
* ``lstsq`` (the default, ``PruneConfig.compensation``): predict each removed channel from the kept ones by ridge
  regression over calibration pixels (``x_R ~ A x_K + b``) and fold ``A`` into
  the consumer's weights for the kept inputs and ``b`` into its bias. Mean
  compensation is the special case ``A = 0``. The regression is per pixel, so
  for a kxk conv every tap gets the same map and the fold is exact under the
  linear model (away from borders).

A removed input channel ``c`` of a consumer conv used to add, on average,
``mean(x_c) * sum_{kh,kw} W[kh,kw,c,o]`` to output ``o``. Adding exactly that
to the conv's bias keeps each output's mean where it was (away from image
borders, where SAME padding sees zeros). FACTS.md §5 measured this on the
trained EDSR-layout model: 25% inner pruning goes from -2.1 dB to -0.21 dB
with no training. The means are measured once, on the unpruned model, at the
input of every consumer conv of a pruned group.
"""

from __future__ import annotations

import numpy as np

from sropt.convert.graph_index import GraphIndex
from sropt.prune.surgery import GroupPlan, conv_bias


def consumer_inputs(index: GraphIndex, plans: list[GroupPlan]) -> dict[str, str]:
    """Consumer conv -> the tensor it reads, for every pruned group."""
    return {conv: index.nodes[conv].input[0] for p in plans for conv in p.group.consumers}


def compensation_deltas(
    index: GraphIndex, plans: list[GroupPlan], means: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Bias Const -> delta, and conv -> delta for consumers that have no bias (full channel space).

    A consumer without a bias (FSRCNN's last conv, LapSRN's reconstruction
    convs feed DepthToSpace directly) gets one inserted by the surgery:
    without it, FSRCNN loses ~14 dB when its expand group is pruned.
    """
    deltas: dict[str, np.ndarray] = {}
    new_biases: dict[str, np.ndarray] = {}
    for plan in plans:
        removed = plan.removed
        if removed.size == 0:
            continue
        for conv in plan.group.consumers:
            bias = conv_bias(index, conv)
            w = index.const_value(index.inputs(conv)[1]).astype(np.float64)  # [kh, kw, cin, cout]
            m = means[index.nodes[conv].input[0]][removed]
            delta = np.einsum("hwco,c->o", w[:, :, removed, :], m)
            if bias is None:
                new_biases[conv] = new_biases.get(conv, 0.0) + delta
            else:
                deltas[bias] = deltas.get(bias, 0.0) + delta
    return deltas, new_biases


# Ridge strength relative to the mean variance of the kept channels: enough
# to keep near-dead (zero-variance, post-ReLU) channels from blowing up A.
RIDGE = 1e-3


def regression_deltas(
    index: GraphIndex, plans: list[GroupPlan], moments: dict
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Const -> delta (consumer filters and biases, full shape) and conv -> inserted bias, by ridge regression."""
    deltas: dict[str, np.ndarray] = {}
    new_biases: dict[str, np.ndarray] = {}
    for plan in plans:
        removed, keep = plan.removed, plan.keep
        if removed.size == 0:
            continue
        for conv in plan.group.consumers:
            mom = moments[index.nodes[conv].input[0]]
            c_kk = mom.cov[np.ix_(keep, keep)]
            c_rk = mom.cov[np.ix_(removed, keep)]
            ridge = RIDGE * max(np.trace(c_kk) / len(keep), 1e-12)
            a = np.linalg.solve(c_kk + ridge * np.eye(len(keep)), c_rk.T).T  # [R, K]
            b = mom.mean[removed] - a @ mom.mean[keep]
            weight = index.skip_identity(index.inputs(conv)[1])
            w = index.const_value(weight).astype(np.float64)  # [kh, kw, cin, cout]
            dw = np.zeros_like(w)
            dw[:, :, keep, :] = np.einsum("hwro,rk->hwko", w[:, :, removed, :], a)
            deltas[weight] = deltas.get(weight, 0.0) + dw
            db = np.einsum("hwro,r->o", w[:, :, removed, :], b)
            bias = conv_bias(index, conv)
            if bias is None:
                new_biases[conv] = new_biases.get(conv, 0.0) + db
            else:
                deltas[bias] = deltas.get(bias, 0.0) + db
    return deltas, new_biases
