"""Recover a pruned graph's quality by distillation from the unpruned model.

The frozen graph is *lifted*: every op is re-implemented in TF2 eager code
from its NodeDef (one small function per op type, registered in ``LIFT_OPS``)
and every multi-element float Const (filters, biases, PReLU alphas) becomes a
``tf.Variable``. Scalars (EDSR's 0.1, FSRCNN's 0.5) stay constant, so the
layout is unchanged. The student is trained to match the teacher (the
original model) on unlabeled LR crops, as FACTS.md §5 measured: L1 loss, Adam
2e-4 with cosine decay, batch 16 of 32x32 LR crops. The trained values are
written back into the same Consts ("frozen again").

tensorflow-model-optimization's pruning wrappers need a Keras model and
produce sparsity masks that do not shrink a frozen graph, so they are not
used here; its optimizer and schedule counterparts are tf-keras' (tfmot's own
dependency).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sropt.convert.graph_index import GraphIndex
from sropt.core.contracts import Contract
from sropt.core.errors import StageError
from sropt.convert.graph import replace_consts

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef, NodeDef

LiftFn = Callable[["NodeDef", list[Any]], Any]
LIFT_OPS: dict[str, LiftFn] = {}


def lift_op(*ops: str) -> Callable[[LiftFn], LiftFn]:
    """Decorator: register ``fn(node, inputs) -> tensor`` for the given op types."""

    def wrap(fn: LiftFn) -> LiftFn:
        for op in ops:
            LIFT_OPS[op] = fn
        return fn

    return wrap


@lift_op("Conv2D")
def _conv2d(node, args):
    import tensorflow as tf

    dil = list(node.attr["dilations"].list.i) or [1, 1, 1, 1]
    return tf.nn.conv2d(args[0], args[1], strides=list(node.attr["strides"].list.i),
                        padding=node.attr["padding"].s.decode(), dilations=dil)


@lift_op("Add", "AddV2", "BiasAdd")
def _add(node, args):
    return args[0] + args[1]


@lift_op("Sub")
def _sub(node, args):
    return args[0] - args[1]


@lift_op("Mul")
def _mul(node, args):
    return args[0] * args[1]


@lift_op("Maximum", "Minimum")
def _minmax(node, args):
    import tensorflow as tf

    return (tf.maximum if node.op == "Maximum" else tf.minimum)(args[0], args[1])


@lift_op("Relu", "Abs", "Neg", "Tanh", "Identity")
def _unary(node, args):
    import tensorflow as tf

    return {"Relu": tf.nn.relu, "Abs": tf.abs, "Neg": tf.negative, "Tanh": tf.tanh, "Identity": tf.identity}[node.op](args[0])


@lift_op("DepthToSpace")
def _depth_to_space(node, args):
    import tensorflow as tf

    return tf.nn.depth_to_space(args[0], node.attr["block_size"].i)


@lift_op("Transpose")
def _transpose(node, args):
    import tensorflow as tf

    return tf.transpose(args[0], args[1])


class LiftedGraph:
    """A float32 frozen graph as TF2 code with its weights as variables."""

    def __init__(self, graph_def: "GraphDef", input_name: str, output_name: str) -> None:
        import tensorflow as tf

        index = GraphIndex(graph_def)
        self.input_name = input_name
        self.output_name = output_name
        self.variables: dict[str, tf.Variable] = {}
        self.constants: dict[str, Any] = {}
        self.program: list[tuple[NodeDef, list[str]]] = []
        needed = _ancestors(index, output_name)
        unknown = []
        for name in index.topological_order:
            if name not in needed:
                continue
            node = index.nodes[name]
            if node.op == "Const":
                value = tf.make_ndarray(node.attr["value"].tensor)
                if value.dtype == np.float32 and value.size > 1:
                    self.variables[name] = tf.Variable(value, name=name.replace("/", "_"))
                else:
                    self.constants[name] = tf.constant(value)
            elif node.op == "Placeholder":
                continue
            elif node.op in LIFT_OPS:
                self.program.append((node, index.inputs(name)))
            else:
                unknown.append(f"{name} ({node.op})")
        if unknown:
            raise StageError("fine-tuning cannot lift ops it does not implement (fold_dequantize first?)",
                             problems=unknown)

    def __call__(self, x):
        """The graph's output for input ``x``."""
        values: dict[str, Any] = {self.input_name: x, **self.constants, **self.variables}
        for node, inputs in self.program:
            values[node.name] = LIFT_OPS[node.op](node, [values[i] for i in inputs])
        return values[self.output_name]

    def values(self) -> dict[str, np.ndarray]:
        """Current variable values, by Const name."""
        return {name: v.numpy() for name, v in self.variables.items()}


def _ancestors(index: GraphIndex, output: str) -> set[str]:
    seen, stack = set(), [output]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(index.inputs(n))
    return seen


@dataclass(frozen=True)
class DistillStats:
    """What fine-tuning did."""

    steps: int
    first_loss: float
    last_loss: float  # mean L1 over the last 10% of steps
    seconds: float


def distill(
    student: "GraphDef", teacher: "GraphDef", input_name: str, output_name: str, contract: Contract,
    lr_images: list[np.ndarray], *, steps: int, batch: int = 16, crop: int = 32, learning_rate: float = 2e-4,
    seed: int = 0, on_step: Callable[[int, float], None] | None = None,
) -> tuple["GraphDef", DistillStats]:
    """Train ``student``'s Consts to match ``teacher``'s outputs on random LR crops; return the new graph."""
    import time

    import tensorflow as tf
    import tf_keras

    from sropt.convert.graph import make_session, run_session

    start = time.perf_counter()
    lifted = LiftedGraph(student, input_name, output_name)
    variables = list(lifted.variables.values())
    schedule = tf_keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(steps, 1))
    optimizer = tf_keras.optimizers.Adam(schedule)
    optimizer.build(variables)  # slots must exist before tf.function traces the step

    @tf.function(reduce_retracing=True)
    def train_step(x, target):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(lifted(x) - target))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    usable = [img for img in lr_images if min(img.shape[:2]) >= crop]
    if not usable:
        raise StageError(f"no calibration image is at least {crop}x{crop} LR pixels; use a smaller crop")
    rng = np.random.default_rng(seed)
    losses = []
    from sropt.prune.calibration import batchable
    from sropt.validate.calibration import sample_training_batch

    # Not `with session:` - entering a Session makes its TF1 graph the default,
    # and tf.function would then trace the student into that graph.
    teacher_sess = make_session(batchable(teacher))
    try:
        for step in range(steps):
            xb = sample_training_batch(usable, contract, rng, batch, crop)
            (target,) = run_session(teacher_sess, {input_name: xb}, [output_name])
            loss = float(train_step(tf.constant(xb), tf.constant(target)))
            losses.append(loss)
            if on_step:
                on_step(step + 1, loss)
    finally:
        teacher_sess.close()
    tail = losses[-max(1, steps // 10):] if losses else [float("nan")]
    stats = DistillStats(steps, losses[0] if losses else float("nan"), float(np.mean(tail)), time.perf_counter() - start)
    return replace_consts(student, lifted.values()), stats
